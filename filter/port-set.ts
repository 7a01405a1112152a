// Port sets: for each (source class, destination class, protocol) cell, the union of allowed port ranges,
// interned so identical sets share one id. A test is a few array reads: "every port", a short sorted
// range list (≤ SMALL_RANGES, scanned), a longer one (binary search, ≤ 11 steps), or — only past
// BITSET_RANGES, where it is also smaller — a 65536-bit set (8 KiB, one bit test). Measured at 100k
// rules: bitsets from 9 ranges up made the store ~2.3 KB per rule and the drop path cache-bound.
// `full` records that some single rule covered every port, which is what a port-less protocol needs
// (filter.md: "a rule must cover all ports"); a union of partial rules that happens to cover 0-65535
// does not count, matching the reference matcher.

export const PS_EMPTY = 0;
export const PS_ALL = 1;
export const PS_RANGES = 2;
export const PS_BITS = 3;
export const PS_SORTED = 4;

/** Range lists up to this long are scanned linearly; longer ones are binary-searched. */
export const SMALL_RANGES = 8;
/** Beyond this many ranges a bitset (8 KiB) is smaller than the range list (4 bytes per range). */
export const BITSET_RANGES = 2048;
const BITSET_WORDS = 2048;

export interface PortSets {
  kind: Uint8Array;
  full: Uint8Array;
  /** Offset into `ranges` (pairs lo, hi) or into `bits` (2048 words), per kind. */
  off: Int32Array;
  len: Int32Array;
  ranges: Uint16Array;
  bits: Int32Array;
}

export class PortSetBuilder {
  private ids = new Map<string, number>();
  private kind: number[] = [PS_EMPTY];
  private full: number[] = [0];
  private off: number[] = [0];
  private len: number[] = [0];
  private ranges: number[] = [];
  private bitChunks: Int32Array[] = [];
  private scratch = new Float64Array(64);

  constructor() {
    this.ids.set('', 0);
  }

  /** Interns the union of `[lo, hi]` pairs (flat list); id 0 is the empty set. */
  intern(flat: number[], full: boolean): number {
    if (flat.length === 0 && !full) return 0;
    const n = flat.length >> 1;
    if (this.scratch.length < n) this.scratch = new Float64Array(Math.max(n, this.scratch.length * 2));
    const packed = this.scratch.subarray(0, n);
    for (let i = 0, j = 0; i < flat.length; i += 2, j++) packed[j] = flat[i] * 65536 + flat[i + 1];
    packed.sort();
    const merged: number[] = [];
    for (let j = 0; j < packed.length; j++) {
      const lo = Math.floor(packed[j] / 65536);
      const hi = packed[j] - lo * 65536;
      const n = merged.length;
      if (n > 0 && lo <= merged[n - 1] + 1) {
        if (hi > merged[n - 1]) merged[n - 1] = hi;
      } else merged.push(lo, hi);
    }
    const key = (full ? 'F' : '') + merged.join(',');
    const known = this.ids.get(key);
    if (known !== undefined) return known;
    const id = this.kind.length;
    this.ids.set(key, id);
    this.full.push(full ? 1 : 0);
    const nRanges = merged.length >> 1;
    if (nRanges === 1 && merged[0] === 0 && merged[1] === 65535) {
      this.kind.push(PS_ALL);
      this.off.push(0);
      this.len.push(0);
    } else if (nRanges <= BITSET_RANGES) {
      this.kind.push(nRanges <= SMALL_RANGES ? PS_RANGES : PS_SORTED);
      this.off.push(this.ranges.length);
      this.len.push(nRanges);
      for (const x of merged) this.ranges.push(x);
    } else {
      const bits = new Int32Array(BITSET_WORDS);
      for (let j = 0; j < merged.length; j += 2) setBits(bits, merged[j], merged[j + 1]);
      this.kind.push(PS_BITS);
      this.off.push(this.bitChunks.length * BITSET_WORDS);
      this.len.push(nRanges);
      this.bitChunks.push(bits);
    }
    return id;
  }

  get count(): number {
    return this.kind.length;
  }

  finish(): PortSets {
    const bits = new Int32Array(this.bitChunks.length * BITSET_WORDS);
    this.bitChunks.forEach((c, i) => bits.set(c, i * BITSET_WORDS));
    return {
      kind: Uint8Array.from(this.kind),
      full: Uint8Array.from(this.full),
      off: Int32Array.from(this.off),
      len: Int32Array.from(this.len),
      ranges: Uint16Array.from(this.ranges),
      bits,
    };
  }
}

function setBits(bits: Int32Array, lo: number, hi: number): void {
  while (lo <= hi && (lo & 31) !== 0) bits[lo >>> 5] |= 1 << (lo & 31), lo++;
  while (lo + 31 <= hi) bits[lo >>> 5] = -1, (lo += 32);
  while (lo <= hi) bits[lo >>> 5] |= 1 << (lo & 31), lo++;
}

/** True when `port` is in set `id`. */
export function portSetHas(ps: PortSets, id: number, port: number): boolean {
  const k = ps.kind[id];
  if (k === PS_ALL) return true;
  if (k === PS_EMPTY) return false;
  if (k === PS_RANGES) {
    const r = ps.ranges;
    let o = ps.off[id];
    const e = o + (ps.len[id] << 1);
    for (; o < e; o += 2) {
      if (port < r[o]) return false;
      if (port <= r[o + 1]) return true;
    }
    return false;
  }
  return portSetHasLong(ps, k, id, port);
}

/** The long kinds (binary-searched ranges, bitsets), apart so portSetHas stays small enough to inline. */
function portSetHasLong(ps: PortSets, k: number, id: number, port: number): boolean {
  if (k === PS_SORTED) {
    const r = ps.ranges;
    const o = ps.off[id];
    // Branch-free lower bound: the loop count depends only on the length, the select compiles to a cmov.
    let base = 0;
    let n = ps.len[id];
    while (n > 1) {
      const half = n >> 1;
      base = r[o + 2 * (base + half)] <= port ? base + half : base;
      n -= half;
    }
    return r[o + 2 * base] <= port && port <= r[o + 2 * base + 1];
  }
  return ((ps.bits[ps.off[id] + (port >>> 5)] >>> (port & 31)) & 1) === 1;
}

/** The sorted ranges of set `id` (for explain and tests). */
export function portSetRanges(ps: PortSets, id: number): [number, number][] {
  const k = ps.kind[id];
  if (k === PS_EMPTY) return [];
  if (k === PS_ALL) return [[0, 65535]];
  if (k === PS_RANGES || k === PS_SORTED) {
    const out: [number, number][] = [];
    for (let j = 0; j < ps.len[id]; j++) out.push([ps.ranges[ps.off[id] + 2 * j], ps.ranges[ps.off[id] + 2 * j + 1]]);
    return out;
  }
  const out: [number, number][] = [];
  let start = -1;
  for (let p = 0; p <= 65536; p++) {
    const on = p < 65536 && portSetHas(ps, id, p);
    if (on && start < 0) start = p;
    if (!on && start >= 0) {
      out.push([start, p - 1]);
      start = -1;
    }
  }
  return out;
}
