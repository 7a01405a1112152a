// Byte helpers for secrets and test vectors: constant-time comparison, all-zero checks (rejected DH
// results), concatenation, hex, and wiping. The WireGuard wire-field readers (u32 LE, u16 BE) are in
// wireguard/bytes.ts: byte order is a protocol matter, not a crypto one.
import { timingSafeEqual } from 'node:crypto';

/** Constant-time equality of two byte ranges of equal length (false when lengths differ). */
export function ctEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

export function isAllZero(a: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc |= a[i];
  return acc === 0;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function hexToBytes(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

export function bytesToHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Overwrites secret material in place (best effort: JS cannot guarantee copies were not made). */
export function wipe(b: Uint8Array | null | undefined): void {
  if (b) b.fill(0);
}

/** Same bytes as a Buffer view (no copy), for node:crypto APIs. */
export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}
