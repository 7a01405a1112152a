// Console sessions: the server-side half of the session cookie. A session is created by a successful
// sign-in (admin API token or one-time link) and names a user id; the user's role is read from the Store
// on every request, so demoting or deleting a user takes effect at once. Each session has its own CSRF
// token, which every write must echo in the X-CSRF-Token header (or the `csrf` form field); the cookie
// alone never authorizes a write.
//
// Kept in memory only: a restart of control signs everyone out, and nothing session-shaped lands in the
// state file. The map is keyed by SHA-256 of the cookie value, so a lookup never compares secrets in
// variable time. Bounded (MAX_SESSIONS, oldest dropped first). Not concurrency-safe; one per server.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_IDLE_MS = 12 * 3600_000;
export const SESSION_MAX_MS = 7 * 24 * 3600_000;
const MAX_SESSIONS = 10_000;

export interface ConsoleSession {
  userId: number;
  csrf: string;
  created: number;
  lastUsed: number;
}

function digest(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Constant-time string comparison (by digest, so lengths leak nothing either). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

export class ConsoleSessions {
  private readonly byHash = new Map<string, ConsoleSession>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A new session for the user: the cookie value (the only copy) and its CSRF token. */
  create(userId: number): { cookie: string; session: ConsoleSession } {
    const cookie = randomBytes(32).toString('base64url');
    const t = this.now();
    const session: ConsoleSession = { userId, csrf: randomBytes(24).toString('base64url'), created: t, lastUsed: t };
    if (this.byHash.size >= MAX_SESSIONS) this.byHash.delete(this.byHash.keys().next().value as string);
    this.byHash.set(digest(cookie), session);
    return { cookie, session };
  }

  /** The live session for a cookie value, or null (unknown, idle too long, or older than SESSION_MAX_MS). */
  get(cookie: string | undefined): ConsoleSession | null {
    if (cookie === undefined || cookie.length === 0 || cookie.length > 128) return null;
    const key = digest(cookie);
    const s = this.byHash.get(key);
    if (!s) return null;
    const t = this.now();
    if (t - s.lastUsed > SESSION_IDLE_MS || t - s.created > SESSION_MAX_MS) {
      this.byHash.delete(key);
      return null;
    }
    s.lastUsed = t;
    return s;
  }

  destroy(cookie: string | undefined): void {
    if (cookie !== undefined) this.byHash.delete(digest(cookie));
  }

  /** Ends every session of a user (e.g. when the user is deleted). */
  destroyUser(userId: number): void {
    for (const [k, s] of this.byHash) if (s.userId === userId) this.byHash.delete(k);
  }

  get size(): number {
    return this.byHash.size;
  }
}

/** True when `presented` is this session's CSRF token. */
export function csrfMatches(session: ConsoleSession, presented: unknown): boolean {
  return typeof presented === 'string' && presented.length > 0 && presented.length <= 128 && sameSecret(presented, session.csrf);
}
