// The stride-8 trie (full and path nodes) against a linear scan of the partition it was built from.
import { describe, expect, it } from 'vitest';
import { bigIntToBytes } from './addr-range.js';
import { partitionSpans } from './partition.js';
import { TrieBuilder, trieLookup, trieLookup4, trieLookup4w } from './prefix-trie.js';
import { rng } from './test-helpers.js';

function naive(starts: bigint[], values: number[], a: bigint): number {
  let v = values[0];
  for (let i = 0; i < starts.length; i++) if (starts[i] <= a) v = values[i];
  return v;
}

describe('prefix trie', () => {
  it.each([4, 16])('%i-byte addresses: random partitions match a linear scan', (nBytes) => {
    const r = rng(nBytes);
    const max = (1n << BigInt(8 * nBytes)) - 1n;
    const rand = (): bigint => {
      let v = 0n;
      for (let i = 0; i < nBytes; i++) v = (v << 8n) | BigInt(Math.floor(r() * (i < nBytes - 3 && r() < 0.7 ? 2 : 256)));
      return v;
    };
    for (let round = 0; round < 40; round++) {
      const spans = Array.from({ length: 1 + Math.floor(r() * 30) }, (_, label) => {
        const a = rand();
        const bits = Math.floor(r() * 8 * nBytes + 1);
        const size = 1n << BigInt(8 * nBytes - bits);
        const lo = (a / size) * size;
        return { lo, hi: r() < 0.2 ? lo : lo + size - 1n > max ? max : lo + size - 1n, label };
      });
      const part = partitionSpans(spans, max, (labels) => labels.length * 1000 + (labels[0] ?? 0));
      const tb = new TrieBuilder();
      const root = tb.add(nBytes, part.starts, part.values);
      // The 16-bit first level is built after the trie (as compile does), cutting its path nodes.
      const wide = nBytes === 4 && root >= 0 ? tb.addWide4(root) : -1;
      const t = tb.finish();
      const probes = [0n, max, ...spans.flatMap((s) => [s.lo, s.hi, s.lo > 0n ? s.lo - 1n : 0n, s.hi < max ? s.hi + 1n : max]), ...Array.from({ length: 50 }, rand)];
      for (const a of probes) {
        const bytes = bigIntToBytes(a, nBytes === 4 ? 4 : 6);
        const want = naive(part.starts, part.values, a);
        expect(trieLookup(t, root, bytes, 0)).toBe(want);
        if (nBytes === 4) {
          expect(trieLookup4(t, root, Number(a) | 0)).toBe(want);
          expect(trieLookup4w(t, wide, root, Number(a) | 0)).toBe(want);
          expect(trieLookup4w(t, -1, root, Number(a) | 0)).toBe(want);
        }
      }
    }
  });

  it('a host route under a wide prefix costs path nodes, not full nodes', () => {
    const max = (1n << 128n) - 1n;
    const host = 0xfd7a115ca1e000000000000000000001n;
    const part = partitionSpans([{ lo: host, hi: host, label: 1 }], max, (l) => l.length);
    const tb = new TrieBuilder();
    tb.add(16, part.starts, part.values);
    expect(tb.size).toBeLessThanOrEqual(16 + 3);
  });
});
