// Address text from filter rules (`*`, single IPs, CIDRs, `A-B` ranges) as inclusive integer intervals,
// the form the compiler partitions. Compile-time only: BigInt is fine here, never on the packet path.
import { maskPrefix, parseIP, parsePrefix, type IPFamily } from '../types/ip.js';

export interface AddrSpan {
  family: IPFamily;
  lo: bigint;
  hi: bigint;
}

export const V4_MAX = (1n << 32n) - 1n;
export const V6_MAX = (1n << 128n) - 1n;

export function familyMax(f: IPFamily): bigint {
  return f === 4 ? V4_MAX : V6_MAX;
}

export function bytesToBigInt(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = 0; i < b.length; i++) v = (v << 8n) | BigInt(b[i]);
  return v;
}

export function bigIntToBytes(v: bigint, family: IPFamily): Uint8Array {
  const n = family === 4 ? 4 : 16;
  const out = new Uint8Array(n);
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/**
 * Parses one rule address. `*` is every address of both families (Tailscale's meaning in SrcIPs and
 * DstPorts); CIDRs with host bits are masked. Returns null when the text is not an address.
 */
export function parseRuleAddr(s: string): AddrSpan[] | null {
  if (s === '*') {
    return [
      { family: 4, lo: 0n, hi: V4_MAX },
      { family: 6, lo: 0n, hi: V6_MAX },
    ];
  }
  const dash = s.indexOf('-');
  if (dash > 0) {
    const a = parseIP(s.slice(0, dash));
    const b = parseIP(s.slice(dash + 1));
    if (!a || !b || a.family !== b.family) return null;
    const lo = bytesToBigInt(a.bytes);
    const hi = bytesToBigInt(b.bytes);
    if (lo > hi) return null;
    return [{ family: a.family, lo, hi }];
  }
  const p = parsePrefix(s);
  if (!p) return null;
  const m = maskPrefix(p);
  const width = BigInt(p.family === 4 ? 32 : 128);
  const lo = bytesToBigInt(m.bytes);
  const hi = lo + (1n << (width - BigInt(p.bits))) - 1n;
  return [{ family: p.family, lo, hi }];
}
