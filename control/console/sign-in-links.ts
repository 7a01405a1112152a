// One-time sign-in links for the admin console (`control console link [--as LOGIN]`). A link carries a
// `gwlnk-<id>-<secret>` secret in the URL fragment (`/admin/#link=…`), so it never reaches a server log or
// a Referer header; the console page posts it to /admin/login. Only SHA-256 of the secret is stored, a
// link expires after a short time (DEFAULT_LINK_TTL_MS) and works once: consuming it marks it used in the
// same statement that checks it, so two racing sign-ins cannot both win.
//
// Links live in the state file (table console_links) because the CLI that prints them is another process
// than the server that consumes them. Deleting a user deletes their links (ON DELETE CASCADE).
import { GrantwireError } from '../../types/errors.js';
import { recordAudit } from '../audit-log.js';
import { newSecret, parseSecret, secretMatches } from '../secrets.js';
import type { Store, UserRow } from '../store.js';

export const DEFAULT_LINK_TTL_MS = 10 * 60_000;
/** Longer links would be long-lived bearer secrets in a terminal's scrollback: use an API token instead. */
export const MAX_LINK_TTL_MS = 24 * 3600_000;

export interface CreatedLink {
  id: string;
  /** The secret text (`gwlnk-…`), shown once. */
  secret: string;
  user: string;
  expires: number;
}

interface LinkRaw {
  id: string;
  hash: string;
  user_id: number;
  expires: number;
  used: number | null;
}

/** The user a link is for: `--as LOGIN`, or the only admin when there is exactly one. */
export function linkUser(store: Store, login: string | undefined): UserRow {
  if (login !== undefined) {
    const u = store.userByLogin(login);
    if (!u) throw new GrantwireError('ERR_CONTROL_NO_USER', `no such user: ${login} (add it with 'control users add')`);
    return u;
  }
  const admins = store.listUsers().filter((u) => u.role === 'admin');
  if (admins.length === 1) return admins[0];
  if (admins.length === 0) throw new GrantwireError('ERR_CONTROL_NO_ADMIN', "no admin user yet: add one with 'control users add LOGIN --role admin', or name a user with --as");
  throw new GrantwireError('ERR_CONTROL_AMBIGUOUS_USER', `${admins.length} admin users: name one with --as (${admins.map((a) => a.login).join(', ')})`);
}

export function createSignInLink(store: Store, user: UserRow, ttlMs = DEFAULT_LINK_TTL_MS, now = Date.now()): CreatedLink {
  if (!(ttlMs > 0 && ttlMs <= MAX_LINK_TTL_MS)) throw new GrantwireError('ERR_CONTROL_BAD_EXPIRY', `a sign-in link lives between 1 ms and 24h, got ${ttlMs} ms`);
  const s = newSecret('gwlnk');
  const expires = now + ttlMs;
  store.tx(() => {
    store.db.prepare('INSERT INTO console_links (id, hash, user_id, created, expires) VALUES (?, ?, ?, ?, ?)').run(s.id, s.hash, user.id, now, expires);
    // Old links are useless once expired or used: keep the table small.
    store.db.prepare('DELETE FROM console_links WHERE expires < ? OR used IS NOT NULL AND used < ?').run(now - 24 * 3600_000, now - 24 * 3600_000);
    recordAudit(store.db, { action: 'console.link', target: s.id, summary: `one-time console sign-in link ${s.id} for ${user.login} (${user.role}), valid until ${new Date(expires).toISOString()}`, after: { user: user.login, expires }, time: now });
  });
  return { id: s.id, secret: s.text, user: user.login, expires };
}

/** Why a presented link did not sign anyone in (for the log; the caller sees one generic answer). */
export type LinkRefusal = 'malformed' | 'unknown' | 'expired' | 'used';

/** Uses up a link: the user id it signs in, or why not. Never throws on presented text. */
export function consumeSignInLink(store: Store, text: unknown, now = Date.now()): { userId: number } | { refused: LinkRefusal } {
  const parsed = parseSecret(text, 'gwlnk');
  if (!parsed) return { refused: 'malformed' };
  const row = store.db.prepare('SELECT id, hash, user_id, expires, used FROM console_links WHERE id = ?').get(parsed.id) as LinkRaw | undefined;
  if (!row || !secretMatches(parsed.secret, row.hash)) return { refused: 'unknown' };
  if (row.used !== null) return { refused: 'used' };
  if (row.expires <= now) return { refused: 'expired' };
  const info = store.db.prepare('UPDATE console_links SET used = ? WHERE id = ? AND used IS NULL').run(now, row.id);
  if (info.changes !== 1) return { refused: 'used' };
  return { userId: row.user_id };
}
