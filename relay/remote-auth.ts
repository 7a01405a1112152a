// How a standalone relay asks control whether a node key may use it: POST AUTHORIZE_PATH on control with
// `Authorization: Bearer <shared secret>` and `{"nodeKey":"nodekey:…"}`; control answers
// `{"authorized":true|false}` (registered, not expired, not deleted). The secret is a file both sides
// read (`control serve --relay-secret-file`, `control relay --secret-file`); it is sent on every call, so
// control's URL must be HTTPS or a private network. Answers are cached for `cacheMs`, which bounds how
// long a deleted node keeps its connection (together with the relay's recheck interval).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { RelayAuthorizer } from './server.js';

export const AUTHORIZE_PATH = '/relay/authorize';
/** Implementation limit on the response body. */
const MAX_BODY = 4096;

export function remoteAuthorizer(controlURL: string, secret: string, cacheMs = 2_000): RelayAuthorizer {
  const cache = new Map<string, { ok: boolean; at: number }>();
  return async (nodeKey) => {
    const hit = cache.get(nodeKey);
    const now = Date.now();
    if (hit && now - hit.at < cacheMs) return hit.ok;
    const ok = await askControl(controlURL, secret, nodeKey);
    if (cache.size > 10_000) cache.clear();
    cache.set(nodeKey, { ok, at: now });
    return ok;
  };
}

function askControl(controlURL: string, secret: string, nodeKey: string): Promise<boolean> {
  const u = new URL(AUTHORIZE_PATH, controlURL);
  const body = JSON.stringify({ nodeKey });
  return new Promise<boolean>((resolve, reject) => {
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, {
      method: 'POST',
      timeout: 5_000,
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
        if (res.statusCode !== 200) return reject(new Error(`control answered HTTP ${res.statusCode} to ${AUTHORIZE_PATH}`));
        try {
          const v = JSON.parse(text) as { authorized?: unknown };
          resolve(v.authorized === true);
        } catch {
          reject(new Error('authorize: control sent malformed JSON'));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('authorize: timed out')));
    req.on('error', reject);
    req.end(body);
  });
}
