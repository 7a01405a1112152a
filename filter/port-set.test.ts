// Port sets of every representation against a plain membership check.
import { describe, expect, it } from 'vitest';
import { BITSET_RANGES, PortSetBuilder, portSetHas, portSetRanges, PS_ALL, PS_BITS, PS_RANGES, PS_SORTED } from './port-set.js';
import { rng } from './test-helpers.js';

describe('port sets', () => {
  it.each([
    { name: 'empty', n: 0, kind: 0 },
    { name: 'few ranges (scan)', n: 5, kind: PS_RANGES },
    { name: 'many ranges (binary search)', n: 300, kind: PS_SORTED },
    { name: 'very many ranges (bitset)', n: BITSET_RANGES * 3, kind: PS_BITS },
  ])('$name', ({ n, kind }) => {
    const r = rng(n + 1);
    const flat: number[] = [];
    for (let i = 0; i < n; i++) {
      const lo = Math.floor(r() * 65536);
      flat.push(lo, Math.min(65535, lo + Math.floor(r() * 4)));
    }
    const b = new PortSetBuilder();
    const id = b.intern(flat, false);
    const ps = b.finish();
    if (n > 0) expect(ps.kind[id]).toBe(kind === PS_BITS && ps.len[id] <= BITSET_RANGES ? PS_SORTED : kind);
    const member = new Uint8Array(65536);
    for (let i = 0; i < flat.length; i += 2) for (let p = flat[i]; p <= flat[i + 1]; p++) member[p] = 1;
    for (let p = 0; p < 65536; p++) if (portSetHas(ps, id, p) !== (member[p] === 1)) throw new Error(`port ${p}`);
    const back = portSetRanges(ps, id);
    expect(back.reduce((s, [a, c]) => s + c - a + 1, 0)).toBe(member.reduce((s, x) => s + x, 0));
  });

  it('interns identical unions once; every port is PS_ALL; full is kept apart', () => {
    const b = new PortSetBuilder();
    expect(b.intern([10, 20, 1, 5], false)).toBe(b.intern([1, 5, 10, 15, 14, 20], false));
    const all = b.intern([0, 100, 101, 65535], false);
    const full = b.intern([0, 65535], true);
    expect(all).not.toBe(full);
    const ps = b.finish();
    expect(ps.kind[all]).toBe(PS_ALL);
    expect([ps.full[all], ps.full[full]]).toEqual([0, 1]);
  });
});
