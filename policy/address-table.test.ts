// Differential: an AddressTable kept current by set/remove gives the same SrcIPs as one built fresh
// from the same nodes (seeded random adds, moves and removals, with adjacent and duplicate addresses).
import { describe, expect, it } from 'vitest';
import { rangeSetOfStrings } from './ip-range.js';
import { AddressTable } from './address-table.js';
import { makeNodeRec, type NodeRec } from './node-index.js';
import { rng } from './testdata/workload.js';

function rec(name: string, v4: number, v6: number | null): NodeRec {
  const ips = [`100.64.${v4 >> 8}.${v4 & 255}`];
  if (v6 !== null) ips.push(`fd7a:115c:a1e0::${v6.toString(16)}`);
  return makeNodeRec({ name, tags: [], ips }, new Set());
}

describe('AddressTable incremental updates', () => {
  it.each(Array.from({ length: 40 }, (_, i) => ({ seed: i + 1, dups: i % 2 === 1 })))('seed $seed (duplicate addresses: $dups) equals a fresh table', ({ seed, dups }) => {
    const r = rng(seed);
    const live = new Map<string, NodeRec>();
    // Small value space: many adjacent runs (merged into CIDRs). Control allocates unique addresses;
    // hand-written tailnets may repeat one (odd seeds).
    const used4 = new Map<string, number>();
    const used6 = new Map<string, number>();
    const free = (used: Map<string, number>, name: string): number => {
      used.delete(name);
      const taken = new Set(used.values());
      let v = Math.floor(r() * 48);
      while (!dups && taken.has(v)) v = (v + 1) % 48;
      used.set(name, v);
      return v;
    };
    const mk = (name: string) => rec(name, free(used4, name), r() < 0.8 ? free(used6, name) : (used6.delete(name), null));
    for (let i = 0; i < 12; i++) live.set(`n${i}`, mk(`n${i}`));
    const table = new AddressTable(live.values());
    const statics = rangeSetOfStrings(['100.64.0.50/31']);
    for (let step = 0; step < 60; step++) {
      const x = r();
      const name = `n${Math.floor(r() * 20)}`;
      if (x < 0.6) {
        const n = mk(name);
        live.set(name, n);
        table.set(name, n.addrs);
      } else {
        live.delete(name);
        used4.delete(name);
        used6.delete(name);
        table.remove(name);
      }
      const fresh = new AddressTable(live.values());
      const names = [...live.keys()].filter(() => r() < 0.6);
      expect(table.toSrcIPs(names, null)).toEqual(fresh.toSrcIPs(names, null));
      expect(table.toSrcIPs(names, statics)).toEqual(fresh.toSrcIPs(names, statics));
      expect(table.toSrcIPs(live.keys(), null)).toEqual(fresh.toSrcIPs(live.keys(), null));
    }
  });
});
