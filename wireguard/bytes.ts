// Byte helpers for WireGuard wire fields: fixed offsets into caller-owned buffers, little-endian as the
// protocol says (the byte order is in the name). No allocation. Secret-handling helpers (constant-time
// compare, wipe, hex) are in crypto/bytes.ts.

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
