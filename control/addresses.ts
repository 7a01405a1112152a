// Tailnet address allocation (control.md "Addresses"). A node gets one host number n; its IPv4 address is
// 100.64.0.0 + n and its IPv6 address fd7a:115c:a1e0:: + n, so the two always correspond. Host numbers are
// never moved while the node lives; the allocator walks forward from a persisted cursor, so a deleted
// node's addresses are not handed out again until the whole range has been used once (stale rules that
// still name an old address then point at nobody rather than at a newcomer).
import { formatIP } from '../types/ip.js';

/** 100.64.0.0/10 holds 2^22 addresses. */
export const V4_HOST_COUNT = 1 << 22;
const V4_BASE = [100, 64, 0, 0] as const;
/** fd7a:115c:a1e0::/48 (Tailscale's ULA range), host number in the low 32 bits. */
const V6_BASE = [0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0] as const;

/** 100.115.92.0/23 is reserved (used by ChromeOS's container network); Tailscale skips it too. */
const RESERVED_V4_START = hostNumberOfV4(100, 115, 92, 0);
const RESERVED_V4_END = RESERVED_V4_START + 512;
/** 100.100.100.100 is the conventional in-tailnet service address (quad-100). */
const QUAD_100 = hostNumberOfV4(100, 100, 100, 100);

function hostNumberOfV4(a: number, b: number, c: number, d: number): number {
  return ((a - V4_BASE[0]) * 2 ** 24 + (b - V4_BASE[1]) * 65536 + c * 256 + d) >>> 0;
}

/** True when n may be given to a node (not the network address, the last address, or a reserved one). */
export function isAssignable(n: number): boolean {
  if (!Number.isInteger(n) || n <= 0 || n >= V4_HOST_COUNT - 1) return false;
  if (n >= RESERVED_V4_START && n < RESERVED_V4_END) return false;
  return n !== QUAD_100;
}

export function v4ForHost(n: number): string {
  const v = (100 << 24 >>> 0) + (64 << 16) + n;
  return `${(v >>> 24) & 0xff}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

export function v6ForHost(n: number): string {
  const b = new Uint8Array(16);
  b.set(V6_BASE, 0);
  b[12] = (n >>> 24) & 0xff;
  b[13] = (n >>> 16) & 0xff;
  b[14] = (n >>> 8) & 0xff;
  b[15] = n & 0xff;
  return formatIP(b);
}

/**
 * Picks the next assignable host number at or after `cursor` (wrapping once) that `inUse` does not
 * report; null when the tailnet is full.
 */
export function allocateHost(cursor: number, inUse: (n: number) => boolean): number | null {
  const start = Number.isInteger(cursor) && cursor >= 1 && cursor < V4_HOST_COUNT - 1 ? cursor : 1;
  let n = start;
  for (let i = 0; i < V4_HOST_COUNT; i++) {
    if (isAssignable(n) && !inUse(n)) return n;
    n = n + 1 >= V4_HOST_COUNT ? 1 : n + 1;
    if (n === start) break;
  }
  return null;
}
