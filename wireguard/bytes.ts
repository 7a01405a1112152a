// Byte helpers for WireGuard wire fields: fixed offsets into caller-owned buffers, little-endian as the
// protocol says (the byte order is in the name). No allocation except where a function returns bytes.
import { timingSafeEqual } from 'node:crypto';

export function readU32LE(b: Uint8Array, off: number): number {
  return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
}

export function writeU32LE(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}

/**
 * Reads a u64 LE as a double. Exact below 2^53, which a real sender never reaches (2^53 packets at
 * 10 Mpps is 28 years); above it the value is rounded, so comparisons against the reject limit still work.
 */
export function readU64LE(b: Uint8Array, off: number): number {
  return readU32LE(b, off) + readU32LE(b, off + 4) * 4294967296;
}

/** Writes a u64 LE from a non-negative integer double (exact below 2^53). */
export function writeU64LE(b: Uint8Array, off: number, v: number): void {
  const lo = v % 4294967296;
  writeU32LE(b, off, lo);
  writeU32LE(b, off + 4, (v - lo) / 4294967296);
}

export function readU16BE(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}

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
