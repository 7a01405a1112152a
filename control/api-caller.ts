// Who is calling the admin API (`/api/v1/…`). Two ways in, mapped to the same user and role checks
// (admin-api.ts and access-api.ts decide what each role may call):
//   - `Authorization: Bearer gwapi-…`: an API token (admin-ops.ts createApiToken);
//   - the console's session cookie plus its CSRF token in `X-CSRF-Token` on every request (the cookie alone
//     is refused with 403, so a page elsewhere that makes the browser send the cookie gets nothing).
// The role is read from the user's row on every call, so a demotion or deletion takes effect at once.
import type { IncomingMessage } from 'node:http';
import type { UserRole } from '../types/tailnet.js';
import { csrfMatches, type ConsoleSessions } from './console/sessions.js';
import { readSessionCookie, sameOrigin } from './console/http-security.js';
import { parseSecret, secretMatches } from './secrets.js';
import type { Store, UserRow } from './store.js';

export interface ApiCaller {
  userId: number;
  login: string;
  role: UserRole;
  via: 'token' | 'session';
}

export interface ApiRefusal {
  status: 401 | 403;
  code: string;
  error: string;
}

export const CSRF_HEADER = 'x-csrf-token';

/** The user a presented `gwapi-…` token belongs to; null when it is malformed, unknown, revoked, expired,
 * or its user is gone. Used for bearer calls and the console's sign-in. */
export function tokenUser(store: Store, text: unknown): UserRow | null {
  const parsed = parseSecret(text, 'gwapi');
  if (!parsed) return null;
  const row = store.apiToken(parsed.id);
  if (!row || row.revoked !== null || !secretMatches(parsed.secret, row.hash)) return null;
  if (row.expires !== null && row.expires <= Date.now()) return null;
  const user = store.userById(row.userId);
  if (!user) return null;
  store.touchApiToken(row.id);
  return user;
}

function bearerCaller(req: IncomingMessage, store: Store): ApiCaller | null {
  const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
  const user = m ? tokenUser(store, m[1]) : null;
  return user && { userId: user.id, login: user.login, role: user.role, via: 'token' };
}

/** The caller, or why the request is refused (401: no valid credentials; 403: a session without CSRF). */
export function resolveCaller(req: IncomingMessage, store: Store, sessions: ConsoleSessions | undefined, tls: boolean): ApiCaller | ApiRefusal {
  if (req.headers.authorization !== undefined) {
    return bearerCaller(req, store) ?? { status: 401, code: 'unauthorized', error: 'missing or invalid API token' };
  }
  const session = sessions?.get(readSessionCookie(req, tls));
  if (!session) return { status: 401, code: 'unauthorized', error: 'missing or invalid API token' };
  if (!csrfMatches(session, req.headers[CSRF_HEADER]) || !sameOrigin(req, tls)) {
    return { status: 403, code: 'csrf', error: 'a console session must send its CSRF token in X-CSRF-Token (and come from the console\'s own origin)' };
  }
  const user = store.userById(session.userId);
  if (!user) return { status: 401, code: 'unauthorized', error: 'the signed-in user no longer exists' };
  return { userId: user.id, login: user.login, role: user.role, via: 'session' };
}
