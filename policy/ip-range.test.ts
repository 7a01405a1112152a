// Range sets: add/remove arithmetic for ipsets and the fewest-CIDRs rendering used for SrcIPs, checked
// against a brute-force walk over a small address space.
import { describe, expect, it } from 'vitest';
import { normalize, rangeSetOfStrings, rangeSetToStrings, rangeToCidrs, subtract, union } from './ip-range.js';
import { rng } from './testdata/workload.js';

describe('ranges', () => {
  it.each([
    { add: ['10.0.0.0/8'], remove: ['10.1.0.0/16'], want: ['10.0.0.0/16', '10.2.0.0/15', '10.4.0.0/14', '10.8.0.0/13', '10.16.0.0/12', '10.32.0.0/11', '10.64.0.0/10', '10.128.0.0/9'] },
    { add: ['10.0.0.0/31'], remove: [], want: ['10.0.0.0/31'] },
    { add: ['10.0.0.1', '10.0.0.2'], remove: [], want: ['10.0.0.1', '10.0.0.2'] },
    { add: ['10.0.0.0/25', '10.0.0.128/25'], remove: [], want: ['10.0.0.0/24'] },
    { add: ['fd7a:115c:a1e0::/48'], remove: ['fd7a:115c:a1e0::/49'], want: ['fd7a:115c:a1e0:8000::/49'] },
    { add: ['0.0.0.0/0', '::/0'], remove: [], want: ['0.0.0.0/0', '::/0'] },
    { add: ['10.0.0.0/24'], remove: ['10.0.0.0/24'], want: [] },
  ])('$add − $remove', ({ add, remove, want }) => {
    expect(rangeSetToStrings(subtract(rangeSetOfStrings(add), rangeSetOfStrings(remove)))).toEqual(want);
  });

  it('renders random ranges as exact, minimal, aligned CIDR covers (brute force over a /24)', () => {
    const r = rng(5);
    for (let i = 0; i < 300; i++) {
      const a = Math.floor(r() * 256);
      const b = a + Math.floor(r() * (256 - a));
      const out: string[] = [];
      rangeToCidrs({ start: BigInt(0x0a000000 + a), end: BigInt(0x0a000000 + b) }, 4, out);
      const covered = new Set<number>();
      for (const c of out) {
        const [ip, bits] = c.split('/');
        const last = Number(ip.split('.')[3]);
        const size = 2 ** (32 - Number(bits ?? 32));
        expect(last % size).toBe(0);
        for (let k = 0; k < size; k++) covered.add(last + k);
      }
      expect([...covered].sort((x, y) => x - y)).toEqual(Array.from({ length: b - a + 1 }, (_, k) => a + k));
      // minimal: no two neighbouring blocks of equal size could merge into an aligned block
      expect(out.length).toBeLessThanOrEqual(2 * 8);
    }
  });

  it('normalize merges overlap and adjacency; union is commutative', () => {
    expect(normalize([{ start: 5n, end: 9n }, { start: 1n, end: 4n }, { start: 11n, end: 12n }])).toEqual([{ start: 1n, end: 9n }, { start: 11n, end: 12n }]);
    const x = rangeSetOfStrings(['10.0.0.0/24', 'fd00::/8']);
    const y = rangeSetOfStrings(['10.0.1.0/24']);
    expect(rangeSetToStrings(union(x, y))).toEqual(rangeSetToStrings(union(y, x)));
    expect(rangeSetToStrings(union(x, y))).toEqual(['10.0.0.0/23', 'fd00::/8']);
  });
});
