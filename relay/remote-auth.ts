// How a standalone relay asks control whether a node key may use it: POST AUTHORIZE_PATH on control with
// `Authorization: Bearer <shared secret>` and `{"nodeKey":"nodekey:…"}`; control answers
// `{"authorized":true|false}` (registered, not expired, not deleted). The secret is a file both sides
// read (`control serve --relay-secret-file`, `control relay --secret-file`); it is sent on every call, so
// control's URL must be HTTPS or a private network.
//
// Answers are cached for `cacheMs`, which bounds how long a deleted node keeps its connection (together
// with the relay's recheck interval) while control is reachable. When control is NOT reachable (connection
// refused, timeout, 5xx, a malformed answer), a key control said yes to within LAST_KNOWN_GOOD_MS is still
// admitted: a control restart or outage must not cut every relayed flow of the tailnet. Nothing else is:
//   - a key control never approved (or approved longer ago than LAST_KNOWN_GOOD_MS) is refused;
//   - a definite "no" (`{"authorized":false}`) is honoured at once and drops the key's last-known-good
//     entry, so an outage right after a deletion does not bring the node back;
//   - 401/403 (control no longer accepts this relay's secret) drops every entry.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { RelayAuthorizer } from './server.js';

export const AUTHORIZE_PATH = '/relay/authorize';
/** How long a fresh answer from control is reused before control is asked again. */
export const DEFAULT_AUTH_CACHE_MS = 2_000;
/**
 * How long after control's last "yes" for a key the relay keeps admitting that key while control cannot
 * be reached. Long enough to ride out a control restart or upgrade (minutes), short enough that a node
 * deleted while control was down loses the relay soon after (control's deletion cannot reach the relay
 * then; expiry of this window is the only bound). Tailscale's DERP servers likewise keep serving their
 * last-known node set when the control plane is briefly gone.
 */
export const LAST_KNOWN_GOOD_MS = 10 * 60_000;
/** Implementation limit: keys remembered (fresh answers and last-known-good each); the oldest go first. */
export const MAX_REMEMBERED_KEYS = 10_000;
/** Implementation limit on the response body. */
const MAX_BODY = 4096;
const ASK_TIMEOUT_MS = 5_000;

/** Control's answer: a definite yes/no, `revoked` (control refused this relay), or unreachable (an error). */
type Answer = { kind: 'answer'; authorized: boolean } | { kind: 'revoked'; why: string } | { kind: 'unreachable'; why: string };

export interface RemoteAuthorizerOptions {
  cacheMs?: number;
  lastKnownGoodMs?: number;
  /** Clock (ms); tests inject one. */
  now?: () => number;
  log?: (level: 'debug' | 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
}

/** Bounded insertion-ordered map: re-setting a key moves it to the end; the oldest is evicted past `max`. */
function remember<V>(m: Map<string, V>, key: string, v: V): void {
  m.delete(key);
  m.set(key, v);
  if (m.size > MAX_REMEMBERED_KEYS) m.delete(m.keys().next().value as string);
}

/**
 * The relay's authorizer backed by control. Resolves true/false; rejects only when control is unreachable
 * (or refuses this relay) and the key has no last-known-good entry — the relay server treats that as "no".
 */
export function remoteAuthorizer(controlURL: string, secret: string, o: RemoteAuthorizerOptions = {}): RelayAuthorizer {
  const cacheMs = o.cacheMs ?? DEFAULT_AUTH_CACHE_MS;
  const lkgMs = o.lastKnownGoodMs ?? LAST_KNOWN_GOOD_MS;
  const now = o.now ?? Date.now;
  const fresh = new Map<string, { ok: boolean; at: number }>();
  /** Key → time of control's last "yes". */
  const lastGood = new Map<string, number>();
  /** While control was just found unreachable, do not queue every caller behind another timeout. */
  let downUntil = 0;
  let downWhy = '';

  const fallback = (nodeKey: string, why: string): boolean => {
    const at = lastGood.get(nodeKey);
    if (at !== undefined && now() - at < lkgMs) {
      o.log?.('debug', 'control unreachable: admitting a last-known-good node key', { nodeKey, error: why });
      return true;
    }
    if (at !== undefined) lastGood.delete(nodeKey);
    throw new Error(`control unreachable and no recent approval for ${nodeKey}: ${why}`);
  };

  return async (nodeKey) => {
    const t = now();
    const hit = fresh.get(nodeKey);
    if (hit && t - hit.at < cacheMs) return hit.ok;
    if (t < downUntil) return fallback(nodeKey, downWhy);
    const a = await askControl(controlURL, secret, nodeKey);
    const at = now();
    switch (a.kind) {
      case 'answer':
        remember(fresh, nodeKey, { ok: a.authorized, at });
        if (a.authorized) remember(lastGood, nodeKey, at);
        else lastGood.delete(nodeKey);
        return a.authorized;
      case 'revoked':
        fresh.clear();
        lastGood.clear();
        throw new Error(a.why);
      case 'unreachable':
        downUntil = at + cacheMs;
        downWhy = a.why;
        return fallback(nodeKey, a.why);
    }
  };
}

function askControl(controlURL: string, secret: string, nodeKey: string): Promise<Answer> {
  const u = new URL(AUTHORIZE_PATH, controlURL);
  const body = JSON.stringify({ nodeKey });
  return new Promise<Answer>((resolve) => {
    let done = false;
    const finish = (a: Answer): void => {
      if (done) return;
      done = true;
      resolve(a);
    };
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, {
      method: 'POST',
      timeout: ASK_TIMEOUT_MS,
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        if (text.length > MAX_BODY) req.destroy(new Error('authorize: response too large'));
      });
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status === 401 || status === 403) return finish({ kind: 'revoked', why: `control answered HTTP ${status} to ${AUTHORIZE_PATH} (is the relay secret right?)` });
        if (status !== 200) return finish({ kind: 'unreachable', why: `control answered HTTP ${status} to ${AUTHORIZE_PATH}` });
        try {
          const v = JSON.parse(text) as { authorized?: unknown };
          if (typeof v.authorized !== 'boolean') return finish({ kind: 'unreachable', why: 'authorize: control sent no "authorized" boolean' });
          finish({ kind: 'answer', authorized: v.authorized });
        } catch {
          finish({ kind: 'unreachable', why: 'authorize: control sent malformed JSON' });
        }
      });
      res.on('error', (err) => finish({ kind: 'unreachable', why: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error('authorize: timed out')));
    req.on('error', (err) => finish({ kind: 'unreachable', why: `authorize: ${err.message}` }));
    req.end(body);
  });
}
