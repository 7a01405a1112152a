// TAI64N timestamps for handshake initiations: 8 bytes BE (2^62 + 10 + unix seconds) ‖ 4 bytes BE
// nanoseconds. Like wireguard-go and the kernel, nanoseconds are truncated to a multiple of 2^24
// (≈16.8 ms) so the timestamp cannot be used to fingerprint the sender's clock finely.
import { TAI64N_SIZE } from './constants.js';

const TAI64_BASE_HI = 0x40000000; // 2^62 as the high u32 of the seconds field
const TAI64_BASE_LO = 10; // TAI − UTC offset WireGuard uses
const WHITENER_MASK = 0x1000000 - 1; // 2^24 − 1

/** Encodes wall-clock milliseconds (Date.now()) plus sub-ms nanoseconds into a 12-byte TAI64N. */
export function tai64n(unixMs: number, out: Uint8Array = new Uint8Array(TAI64N_SIZE), extraNs = 0): Uint8Array {
  const secs = Math.floor(unixMs / 1000);
  let nanos = (unixMs - secs * 1000) * 1_000_000 + extraNs;
  nanos = Math.floor(nanos);
  nanos -= nanos & WHITENER_MASK;
  const lo = secs + TAI64_BASE_LO;
  const loU32 = lo % 4294967296;
  const hi = TAI64_BASE_HI + Math.floor(lo / 4294967296);
  const dv = new DataView(out.buffer, out.byteOffset, TAI64N_SIZE);
  dv.setUint32(0, hi);
  dv.setUint32(4, loU32);
  dv.setUint32(8, nanos >>> 0);
  return out;
}

/** True when timestamp a is strictly after b (both 12-byte TAI64N; big-endian so bytewise compare). */
export function tai64nAfter(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < TAI64N_SIZE; i++) {
    if (a[i] !== b[i]) return a[i] > b[i];
  }
  return false;
}
