import { describe, expect, it } from 'vitest';
import { rangeSetOfStrings, type RangeSet } from '../policy/ip-range.js';
import { seededRng } from '../types/seeded-rng.js';
import { PeerVisibility, visibleChanges, type VisibleSet } from './peer-visibility.js';
import { v4ForHost, v6ForHost } from './addresses.js';

/** The slow, obviously-correct reference: every pair, every rule, ranges from policy/ip-range. */
interface RefNode {
  addrs: string[];
  routes: string[];
  sources: string[][];
}

const parsed = new Map<string, RangeSet>();
function parse(texts: string[]): RangeSet {
  const k = texts.join();
  let r = parsed.get(k);
  if (!r) parsed.set(k, (r = rangeSetOfStrings(texts)));
  return r;
}

function meets(set: RangeSet, texts: string[]): boolean {
  const other = parse(texts);
  for (const fam of ['v4', 'v6'] as const) for (const a of set[fam]) for (const b of other[fam]) if (a.start <= b.end && b.start <= a.end) return true;
  return false;
}

function admits(src: string[], n: RefNode): boolean {
  const set = parse(src);
  return meets(set, n.addrs) || meets(set, n.routes.filter((r) => !r.endsWith('/0')));
}

function reference(nodes: Map<number, RefNode>): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const [id, n] of nodes) {
    const vis: number[] = [];
    for (const [pid, p] of nodes) {
      if (pid === id) continue;
      if (n.sources.some((s) => admits(s, p)) || p.sources.some((s) => admits(s, n))) vis.push(pid);
    }
    out.set(id, vis.sort((a, b) => a - b));
  }
  return out;
}

function idsOf(v: VisibleSet | null, live: number[], self: number): number[] {
  if (!v) return [];
  return v.all ? live.filter((x) => x !== self).sort((a, b) => a - b) : v.ids();
}

const WIDE = ['100.64.0.0-100.115.91.255', '100.115.94.0-100.127.255.255', 'fd7a:115c:a1e0::/48'];

describe('PeerVisibility', () => {
  // Small, named cases first: they say what the rule is.
  it.each([
    { name: 'one-way: the destination sees the source and the source sees the destination', rules: { 2: [[1]] }, want: { 1: [2], 2: [1], 3: [] } },
    { name: 'no rules: nobody sees anybody', rules: {}, want: { 1: [], 2: [], 3: [] } },
    { name: 'a CIDR source admits the nodes inside it', rules: { 3: [['100.64.0.0/31']] }, want: { 1: [3], 2: [], 3: [1] } },
    { name: 'a wide source opens its node to everyone, and only it', rules: { 1: [WIDE] }, want: { 1: [2, 3], 2: [1], 3: [1] } },
    { name: 'a subnet source admits its router', rules: { 1: [['192.168.1.0/24']] }, want: { 1: [3], 2: [], 3: [1] } },
    { name: 'a default route does not make an exit node a source', rules: { 1: [['8.8.8.8']] }, want: { 1: [], 2: [], 3: [] } },
  ])('$name', ({ rules, want }) => {
    const v = new PeerVisibility();
    // node i has host number i (100.64.0.i); node 3 routes 192.168.0.0/16, node 2 is an exit node
    const routes: Record<number, string[]> = { 2: ['0.0.0.0/0', '::/0'], 3: ['192.168.0.0/16'] };
    for (const id of [1, 2, 3]) v.setNode(id, [v4ForHost(id), v6ForHost(id)], routes[id] ?? []);
    for (const [id, list] of Object.entries(rules) as Array<[string, Array<Array<number | string>>]>) {
      v.setSources(Number(id), list.map((s) => Object.freeze(s.map((x) => (typeof x === 'number' ? v4ForHost(x) : x)))));
    }
    v.drainChanged();
    for (const [id, peers] of Object.entries(want)) expect(idsOf(v.visible(Number(id)), [1, 2, 3], Number(id)), `node ${id}`).toEqual(peers);
  });

  it.each([
    { name: 'canonical', text: 'fd7a:115c:a1e0::1' },
    { name: 'spelled out', text: 'fd7a:115c:a1e0:0:0:0:0:1' },
    { name: 'upper case', text: 'FD7A:115C:A1E0::1' },
    { name: 'leading zeros', text: 'fd7a:115c:a1e0::0001' },
    { name: 'a one-group ::', text: 'fd7a:115c:a1e0:0::0:1' },
  ])('a node address spelled $name matches the canonical SrcIPs text', ({ text }) => {
    const v = new PeerVisibility();
    v.setNode(1, [text], []);
    v.setNode(2, [v4ForHost(2)], []);
    v.setSources(2, [Object.freeze(['fd7a:115c:a1e0::1'])]);
    v.drainChanged();
    expect(v.visible(2)!.ids()).toEqual([1]);
  });

  it('matches the reference through random joins, leaves, route and rule changes', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const rnd = seededRng(seed);
      const pick = <T,>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
      let v = new PeerVisibility();
      const ref = new Map<number, RefNode>();
      let nextId = 1;
      let nextHost = 1;
      /** A fresh instance since the last check: a new bit layout, so no snapshot can be kept. */
      let freshTable = false;
      let before = new Map<number, number[]>();
      const snaps = new Map<number, VisibleSet | null>();
      /** A pool of shared source arrays, as the compiler shares them. */
      const pool: string[][] = [];
      const randomSource = (): string[] => {
        const r = rnd();
        if (r < 0.05) return WIDE;
        if (r < 0.15) return [`100.64.0.${Math.floor(rnd() * 16) * 4}/30`];
        if (r < 0.22) return [`10.${Math.floor(rnd() * 4)}.1.0/24`];
        if (r < 0.27) return [v6ForHost(1 + Math.floor(rnd() * 40)) + '/126'];
        const live = [...ref.values()];
        const out: string[] = [];
        for (const n of live) if (rnd() < 0.2) out.push(n.addrs[rnd() < 0.7 ? 0 : 1]);
        if (rnd() < 0.2) out.push(v4ForHost(nextHost + 1)); // a static host that is nobody yet
        return out;
      };
      for (let step = 0; step < 120; step++) {
        const op = rnd();
        const ids = [...ref.keys()];
        if (op < 0.3 || ids.length < 3) {
          const id = nextId++;
          const h = nextHost++;
          const routes = rnd() < 0.15 ? [`10.${Math.floor(rnd() * 4)}.0.0/16`] : rnd() < 0.05 ? ['0.0.0.0/0'] : [];
          const n: RefNode = { addrs: [v4ForHost(h), v6ForHost(h)], routes, sources: [] };
          ref.set(id, n);
          v.setNode(id, n.addrs, n.routes);
        } else if (op < 0.4) {
          const id = pick(ids);
          ref.delete(id);
          v.removeNode(id);
        } else if (op < 0.45) {
          // a new compiler: load everything into an instance that inherits the slots, or a fresh one
          const inherit = rnd() < 0.8;
          v = inherit ? new PeerVisibility(v) : new PeerVisibility();
          if (!inherit) freshTable = true;
          const nodes = [...ref].map(([id, n]) => ({ id, addresses: n.addrs, routes: n.routes }));
          v.load(nodes, (id) => ref.get(id)!.sources);
        } else if (op < 0.5) {
          const id = pick(ids);
          const n = ref.get(id)!;
          n.routes = rnd() < 0.5 ? [] : [`10.${Math.floor(rnd() * 4)}.0.0/16`];
          v.setNode(id, n.addrs, n.routes);
        } else {
          const id = pick(ids);
          const n = ref.get(id)!;
          const k = Math.floor(rnd() * 3);
          const srcs: string[][] = [];
          for (let i = 0; i < k; i++) {
            if (pool.length > 0 && rnd() < 0.5) srcs.push(pick(pool));
            else {
              const s = Object.freeze(randomSource()) as string[];
              pool.push(s);
              srcs.push(s);
            }
          }
          n.sources = srcs;
          v.setSources(id, srcs);
        }
        if (rnd() < 0.5) continue; // several changes between flushes
        const changed = new Set(v.drainChanged());
        const want = reference(ref);
        const live = [...ref.keys()];
        for (const [id, peers] of want) {
          const snap = v.visible(id);
          expect(idsOf(snap, live, id), `seed ${seed} step ${step} node ${id}`).toEqual(peers);
          const was = before.get(id);
          if (was !== undefined && snaps.has(id)) {
            const prev = snaps.get(id)!;
            // a set that did not change keeps its object; one that changed is reported and replaced (`all`
            // is relative to the live nodes: it stays `all` while nodes come and go)
            const same = was.join() === peers.join() || (prev?.all === true && snap?.all === true);
            if (!same) {
              expect(changed.has(id), `seed ${seed} step ${step} node ${id} reported`).toBe(true);
              expect(snap).not.toBe(prev);
            } else if (!freshTable && prev && !prev.all && snap && !snap.all) expect(snap, `seed ${seed} step ${step} node ${id} kept`).toBe(prev);
            const diff = prev && snap ? visibleChanges(prev, snap) : null;
            if (diff) {
              expect(diff.added.sort((a, b) => a - b)).toEqual(peers.filter((p) => !was.includes(p)));
              expect(diff.removed.sort((a, b) => a - b)).toEqual(was.filter((p) => !peers.includes(p)));
            }
          }
          snaps.set(id, snap);
        }
        before = want;
        freshTable = false;
      }
    }
  });
});
