// WireGuard keys as 32 raw bytes, and their text forms: base64 (wg-quick files, `wg genkey`) and hex
// (the UAPI). Parsing is local input (config files, CLI flags), so bad input throws GrantwireError with
// code ERR_WG_BAD_KEY. Private keys are clamped on generation like `wg genkey` does.
import { randomBytes } from 'node:crypto';
import { GrantwireError } from '../types/errors.js';
import { KEY_SIZE } from './sizes.js';
import { defaultCrypto } from './backend.js';

/** A fresh clamped X25519 private key. */
export function generatePrivateKey(): Uint8Array {
  const k = new Uint8Array(randomBytes(KEY_SIZE));
  clampPrivateKey(k);
  return k;
}

/** Applies RFC 7748 clamping in place (X25519 clamps anyway; this makes the stored form canonical). */
export function clampPrivateKey(k: Uint8Array): Uint8Array {
  k[0] &= 248;
  k[31] = (k[31] & 127) | 64;
  return k;
}

/** A 32-byte random preshared key (`wg genpsk`). */
export function generatePresharedKey(): Uint8Array {
  return new Uint8Array(randomBytes(KEY_SIZE));
}

export function publicKeyFromPrivate(priv: Uint8Array): Uint8Array {
  checkLen(priv, 'private key');
  return Uint8Array.from(defaultCrypto().importPrivateKey(priv).publicKey);
}

export function keyToBase64(k: Uint8Array): string {
  checkLen(k, 'key');
  return Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('base64');
}

const B64_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

export function keyFromBase64(s: string): Uint8Array {
  const t = s.trim();
  if (!B64_KEY.test(t)) {
    throw new GrantwireError('ERR_WG_BAD_KEY', `invalid key: expected 44 characters of base64 for 32 bytes, got ${JSON.stringify(redact(t))}`);
  }
  return new Uint8Array(Buffer.from(t, 'base64'));
}

export function keyToHex(k: Uint8Array): string {
  checkLen(k, 'key');
  return Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('hex');
}

export function keyFromHex(s: string): Uint8Array {
  const t = s.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(t)) {
    throw new GrantwireError('ERR_WG_BAD_KEY', `invalid key: expected 64 hex digits, got ${t.length} characters`);
  }
  return new Uint8Array(Buffer.from(t, 'hex'));
}

/** Equality of two keys without early exit. */
export function keysEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc |= a[i] ^ b[i];
  return acc === 0;
}

function checkLen(k: Uint8Array, what: string): void {
  if (!(k instanceof Uint8Array) || k.length !== KEY_SIZE) {
    throw new GrantwireError('ERR_WG_BAD_KEY', `invalid ${what}: expected ${KEY_SIZE} bytes, got ${k?.length ?? 'none'}`);
  }
}

// Never echo what might be a secret key into an error message: show its length and first characters only.
function redact(s: string): string {
  return s.length <= 6 ? s : `${s.slice(0, 4)}… (${s.length} chars)`;
}
