// Bearer secrets that control hands out: auth keys (`gwkey-<id>-<secret>`), admin API tokens
// (`gwapi-<id>-<secret>`) and the console's one-time sign-in links (`gwlnk-<id>-<secret>`). Only SHA-256
// of the secret part is stored; the id is a lookup handle that is safe to show and log. A secret is shown
// exactly once, when it is created.
//
// Comparison is constant-time over the fixed-size digests, so a wrong guess leaks nothing about how many
// bytes matched.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type SecretKind = 'gwkey' | 'gwapi' | 'gwlnk';

const ID_BYTES = 6; // 12 hex characters: unique enough for a lookup handle, short enough to read
const SECRET_BYTES = 24; // 192 bits

export interface NewSecret {
  id: string;
  /** The full text given to the user: `<kind>-<id>-<secret>`. */
  text: string;
  /** Hex SHA-256 of the secret part, for storage. */
  hash: string;
}

export function newSecret(kind: SecretKind): NewSecret {
  const id = randomBytes(ID_BYTES).toString('hex');
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  return { id, text: `${kind}-${id}-${secret}`, hash: hashSecret(secret) };
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

const SECRET_RE = /^(gwkey|gwapi|gwlnk)-([0-9a-f]{12})-([A-Za-z0-9_-]{16,64})$/;

/** Splits presented text into its parts; null when it is not shaped like one of our secrets. */
export function parseSecret(text: unknown, kind: SecretKind): { id: string; secret: string } | null {
  if (typeof text !== 'string' || text.length > 128) return null;
  const m = SECRET_RE.exec(text);
  if (!m || m[1] !== kind) return null;
  return { id: m[2], secret: m[3] };
}

/** Constant-time check of a presented secret against a stored hex digest. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const a = createHash('sha256').update(secret, 'utf8').digest();
  const b = Buffer.from(storedHash, 'hex');
  return b.length === a.length && timingSafeEqual(a, b);
}

/**
 * Defence in depth for log lines: replaces the secret part of anything shaped like one of our secrets
 * (`gwkey-abc…-XXXX` → `gwkey-abc…-REDACTED`). Callers should never log secrets in the first place.
 */
export function redactSecrets(text: string): string {
  return text.replace(/\b(gwkey|gwapi|gwlnk)-([0-9a-f]{12})-[A-Za-z0-9_-]+/g, '$1-$2-REDACTED');
}
