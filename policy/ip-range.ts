// Address sets as sorted, disjoint, inclusive [start, end] ranges of bigints, one list per family.
// Used for the static parts of selectors (hosts, CIDRs, ipsets with add/remove) and for turning merged
// source addresses back into the fewest CIDRs. Policy-scale data only; never on a per-packet path.
import { formatIP, parseIP, parsePrefix, type IPPrefix } from '../types/ip.js';

export interface Range {
  start: bigint;
  end: bigint;
}

/** Per-family range lists; each list is sorted and disjoint (adjacent ranges are merged). */
export interface RangeSet {
  v4: Range[];
  v6: Range[];
}

export function emptyRangeSet(): RangeSet {
  return { v4: [], v6: [] };
}

export function bytesToBig(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = 0; i < bytes.length; i++) v = (v << 8n) | BigInt(bytes[i]);
  return v;
}

export function bigToBytes(v: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

export function prefixRange(p: IPPrefix): Range {
  const width = BigInt(p.family === 4 ? 32 : 128);
  const host = width - BigInt(p.bits);
  const base = (bytesToBig(p.bytes) >> host) << host;
  return { start: base, end: base + (1n << host) - 1n };
}

/** Sorts and merges overlapping or adjacent ranges (input may be in any order). */
export function normalize(ranges: Range[]): Range[] {
  if (ranges.length <= 1) return ranges.slice();
  const sorted = ranges.slice().sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: Range[] = [{ ...sorted[0] }];
  for (let i = 1; i < sorted.length; i++) {
    const last = out[out.length - 1];
    const r = sorted[i];
    if (r.start <= last.end + 1n) {
      if (r.end > last.end) last.end = r.end;
    } else out.push({ ...r });
  }
  return out;
}

export function union(a: RangeSet, b: RangeSet): RangeSet {
  return { v4: normalize([...a.v4, ...b.v4]), v6: normalize([...a.v6, ...b.v6]) };
}

function subtractList(a: Range[], b: Range[]): Range[] {
  const out: Range[] = [];
  for (const r of a) {
    let pieces: Range[] = [{ ...r }];
    for (const s of b) {
      const next: Range[] = [];
      for (const p of pieces) {
        if (s.end < p.start || s.start > p.end) {
          next.push(p);
          continue;
        }
        if (s.start > p.start) next.push({ start: p.start, end: s.start - 1n });
        if (s.end < p.end) next.push({ start: s.end + 1n, end: p.end });
      }
      pieces = next;
    }
    out.push(...pieces);
  }
  return normalize(out);
}

export function subtract(a: RangeSet, b: RangeSet): RangeSet {
  return { v4: subtractList(a.v4, b.v4), v6: subtractList(a.v6, b.v6) };
}

export function rangeSetOfPrefix(p: IPPrefix): RangeSet {
  const r = prefixRange(p);
  return p.family === 4 ? { v4: [r], v6: [] } : { v4: [], v6: [r] };
}

export function isEmpty(s: RangeSet): boolean {
  return s.v4.length === 0 && s.v6.length === 0;
}

/**
 * Appends the fewest CIDRs covering [start, end] to `out`; a single address is written without `/32`
 * or `/128`, the way Tailscale writes SrcIPs.
 */
export function rangeToCidrs(r: Range, family: 4 | 6, out: string[]): void {
  const width = family === 4 ? 32 : 128;
  const len = family === 4 ? 4 : 16;
  let start = r.start;
  while (start <= r.end) {
    // largest block aligned at `start` that fits in the remaining range
    let host = 0;
    while (host < width) {
      const size = 1n << BigInt(host + 1);
      if ((start & (size - 1n)) !== 0n || start + size - 1n > r.end) break;
      host++;
    }
    const text = formatIP(bigToBytes(start, len));
    out.push(host === 0 ? text : `${text}/${width - host}`);
    start += 1n << BigInt(host);
  }
}

/**
 * Appends [start, end] the way Tailscale writes a SrcIPs range: one CIDR when the range is exactly one
 * prefix (a single address without `/32` or `/128`), else `A-B`. A wildcard source then reads
 * `100.64.0.0-100.115.91.255` instead of a dozen CIDRs.
 */
export function rangeToSrcText(r: Range, family: 4 | 6, out: string[]): void {
  const size = r.end - r.start + 1n;
  if ((size & (size - 1n)) === 0n && (r.start & (size - 1n)) === 0n) {
    rangeToCidrs(r, family, out);
    return;
  }
  const len = family === 4 ? 4 : 16;
  out.push(`${formatIP(bigToBytes(r.start, len))}-${formatIP(bigToBytes(r.end, len))}`);
}

/** CIDR strings for a whole set: IPv4 first, then IPv6, each ascending. */
export function rangeSetToStrings(s: RangeSet): string[] {
  const out: string[] = [];
  for (const r of s.v4) rangeToCidrs(r, 4, out);
  for (const r of s.v6) rangeToCidrs(r, 6, out);
  return out;
}

/**
 * Parses a list of CIDR strings and `A-B` ranges (the SrcIPs spellings), skipping bad ones (callers
 * validate earlier).
 */
export function rangeSetOfStrings(list: readonly string[]): RangeSet {
  const v4: Range[] = [];
  const v6: Range[] = [];
  for (const s of list) {
    const dash = s.indexOf('-');
    if (dash > 0) {
      const a = parseIP(s.slice(0, dash));
      const b = parseIP(s.slice(dash + 1));
      if (a && b && a.family === b.family) (a.family === 4 ? v4 : v6).push({ start: bytesToBig(a.bytes), end: bytesToBig(b.bytes) });
      continue;
    }
    const p = parsePrefix(s);
    if (!p) continue;
    (p.family === 4 ? v4 : v6).push(prefixRange(p));
  }
  return { v4: normalize(v4), v6: normalize(v6) };
}
