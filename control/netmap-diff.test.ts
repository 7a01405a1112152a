import { describe, expect, it } from 'vitest';
import type { Netmap, NetmapNode } from '../types/netmap.js';
import type { FilterRule } from '../types/filter-rule.js';
import { v4ForHost, v6ForHost } from './addresses.js';
import { applyDelta, deltaMessage, diffPeers, fullMessage, type NetmapParts } from './netmap-diff.js';
import { PeerVisibility, VisibleSet } from './peer-visibility.js';

function node(id: number, v: number): NetmapNode {
  return { id, stableId: `n${id}`, name: `h${id}`, nodeKey: `nodekey:${id}`, addresses: [], allowedIPs: [], endpoints: [`192.0.2.1:${v}`], tags: [], user: 1, hostinfo: { hostname: `h${id}`, os: 'linux' }, online: v % 2 === 0 };
}

function parts(selfId: number, peers: Map<number, number>, filterV: number, policyVersion: number, profilesV: number, visible = VisibleSet.ALL): NetmapParts {
  const m = new Map<number, string>();
  for (const id of [...peers.keys()].sort((a, b) => a - b)) m.set(id, JSON.stringify(node(id, peers.get(id)!)));
  return {
    selfId,
    self: JSON.stringify(node(selfId, peers.get(selfId) ?? 0)),
    peers: m,
    visible,
    userProfiles: JSON.stringify([{ id: 1, loginName: `u${profilesV}`, displayName: 'U' }]),
    filter: `"packetFilter":[{"SrcIPs":["${filterV}"]}],"packetFilterOrigins":[],"capMap":{}`,
    policyVersion,
  };
}

const parse = (json: string): Netmap => (JSON.parse(json) as { netmap: Netmap }).netmap;

describe('netmap deltas', () => {
  it('full netmap + deltas == the full netmap at every step (differential, random changes)', () => {
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let trial = 0; trial < 50; trial++) {
      const peers = new Map<number, number>([[1, 0]]);
      for (let i = 2; i < 2 + rnd(20); i++) peers.set(i, 0);
      let filterV = 0;
      let pv = 1;
      let prof = 0;
      let prev = parts(1, peers, filterV, pv, prof);
      let client = parse(fullMessage(prev));
      for (let step = 0; step < 40; step++) {
        const op = rnd(6);
        if (op === 0) peers.set(2 + rnd(30), rnd(1000)); // join or change
        else if (op === 1 && peers.size > 1) peers.delete([...peers.keys()].filter((k) => k !== 1)[rnd(peers.size - 1)]);
        else if (op === 2) filterV++;
        else if (op === 3) pv++;
        else if (op === 4) prof++;
        else peers.set(1, rnd(1000)); // self changes
        const cur = parts(1, peers, filterV, pv, prof);
        // alternate between the per-stream diff and the flush-wide shared diff
        const d = step % 2 === 0 ? deltaMessage(prev, cur) : deltaMessage(prev, cur, diffPeers(prev.peers, cur.peers));
        if (d !== null) client = applyDelta(client, (JSON.parse(d) as { delta: Parameters<typeof applyDelta>[1] }).delta);
        expect(client).toEqual(parse(fullMessage(cur)));
        prev = cur;
      }
    }
  });

  it('full netmap + deltas == the full netmap while the visible peers change too (differential)', () => {
    let seed = 11;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const addrs = (id: number) => [v4ForHost(id), v6ForHost(id)];
    const WIDE = Object.freeze(['100.64.0.0/10', 'fd7a:115c:a1e0::/48']);
    for (let trial = 0; trial < 40; trial++) {
      const peers = new Map<number, number>();
      let vis = new PeerVisibility();
      const sources = new Map<number, ReadonlyArray<readonly string[]>>();
      const add = (id: number) => {
        peers.set(id, rnd(1000));
        vis.setNode(id, addrs(id), []);
        vis.setSources(id, sources.get(id) ?? []);
      };
      for (let i = 1; i < 2 + rnd(20); i++) add(i);
      vis.drainChanged();
      let prev = parts(1, peers, 0, 1, 0, vis.visible(1)!);
      let client = parse(fullMessage(prev));
      for (let step = 0; step < 40; step++) {
        const op = rnd(7);
        const others = [...peers.keys()].filter((k) => k !== 1);
        if (op === 0) {
          const id = 2 + rnd(30);
          if (peers.has(id)) peers.set(id, rnd(1000));
          else add(id);
        } else if (op === 1 && others.length > 0) {
          const id = others[rnd(others.length)];
          peers.delete(id);
          vis.removeNode(id);
          sources.delete(id);
        } else if (op <= 4) {
          // a rule change on node 1 or on a peer: random sources, now and then `*`
          const id = op === 2 || others.length === 0 ? 1 : others[rnd(others.length)];
          const src = rnd(8) === 0 ? [WIDE] : [Object.freeze([...peers.keys()].filter(() => rnd(3) === 0).map((k) => v4ForHost(k)))];
          sources.set(id, src);
          vis.setSources(id, src);
        } else if (op === 5) {
          // a new compiler: every visible set is rebuilt in a fresh instance
          vis = new PeerVisibility();
          for (const id of peers.keys()) vis.setNode(id, addrs(id), []);
          for (const id of peers.keys()) vis.setSources(id, sources.get(id) ?? []);
        } else peers.set(1, rnd(1000));
        vis.drainChanged();
        const cur = parts(1, peers, 0, 1, 0, vis.visible(1)!);
        const d = step % 2 === 0 ? deltaMessage(prev, cur) : deltaMessage(prev, cur, diffPeers(prev.peers, cur.peers));
        if (d !== null) client = applyDelta(client, (JSON.parse(d) as { delta: Parameters<typeof applyDelta>[1] }).delta);
        const want = parse(fullMessage(cur));
        expect(client).toEqual(want);
        prev = cur;
      }
    }
  });

  it('a peer the stream cannot see changes: no message; one it starts to see: added', () => {
    const vis = new PeerVisibility();
    for (const id of [1, 2, 3]) vis.setNode(id, [v4ForHost(id), v6ForHost(id)], []);
    vis.setSources(1, [Object.freeze([v4ForHost(2)])]);
    vis.drainChanged();
    const before = new Map([[1, 0], [2, 0], [3, 0]]);
    const a = parts(1, before, 0, 1, 0, vis.visible(1)!);
    expect(parse(fullMessage(a)).peers.map((p) => p.id)).toEqual([2]);
    const after = new Map([[1, 0], [2, 0], [3, 7]]);
    const b = parts(1, after, 0, 1, 0, vis.visible(1)!);
    expect(deltaMessage(a, b, diffPeers(a.peers, b.peers))).toBeNull();
    vis.setSources(3, [Object.freeze([v4ForHost(1)])]);
    vis.drainChanged();
    const c = parts(1, after, 0, 1, 0, vis.visible(1)!);
    const d = JSON.parse(deltaMessage(b, c)!) as { delta: { peersChanged: NetmapNode[] } };
    expect(d.delta.peersChanged.map((p) => p.id)).toEqual([3]);
  });

  it.each([
    { name: 'seen and unseen peers change', change: [2, 3, 4], own: false, want: [2, 4] },
    { name: 'only unseen peers change', change: [3, 5], own: false, want: null },
    { name: 'only unseen peers change, and our filter', change: [3], own: true, want: [] },
    { name: 'seen and unseen peers change, and our filter', change: [3, 4], own: true, want: [4] },
  ])('one shared change, several peers: $name', ({ change, own, want }) => {
    const vis = new PeerVisibility();
    for (const id of [1, 2, 3, 4, 5]) vis.setNode(id, [v4ForHost(id), v6ForHost(id)], []);
    vis.setSources(1, [Object.freeze([v4ForHost(2), v4ForHost(4)])]);
    vis.drainChanged();
    const before = new Map([[1, 0], [2, 0], [3, 0], [4, 0], [5, 0]]);
    const after = new Map([...before].map(([id, v]) => [id, change.includes(id) ? v + 1 : v]));
    const a = parts(1, before, 0, 1, 0, vis.visible(1)!);
    const b = parts(1, after, own ? 1 : 0, 1, 0, vis.visible(1)!);
    const d = deltaMessage(a, b, diffPeers(a.peers, b.peers));
    if (want === null) return expect(d).toBeNull();
    const delta = (JSON.parse(d!) as { delta: { peersChanged?: NetmapNode[]; packetFilter?: FilterRule[] } }).delta;
    expect((delta.peersChanged ?? []).map((p) => p.id)).toEqual(want);
    expect(delta.packetFilter !== undefined).toBe(own);
    expect(applyDelta(parse(fullMessage(a)), delta)).toEqual(parse(fullMessage(b)));
  });

  it('streams whose only change is the shared peer change get the same message string', () => {
    const before = new Map([[1, 0], [2, 0], [3, 0], [4, 0]]);
    const after = new Map([[1, 0], [2, 0], [3, 9], [4, 0], [5, 1]]);
    const prevs = [1, 2, 3, 4].map((id) => parts(id, before, 0, 1, 0));
    // all streams share one peers map per flush, as the coordinator does
    const sharedPrev = prevs[0].peers;
    for (const p of prevs) p.peers = sharedPrev;
    const curs = [1, 2, 3, 4].map((id) => parts(id, after, 0, 1, 0));
    const sharedCur = curs[0].peers;
    for (const c of curs) c.peers = sharedCur;
    const shared = diffPeers(sharedPrev, sharedCur);
    const msgs = curs.map((c, i) => deltaMessage(prevs[i], c, shared));
    expect(msgs[0]).toBe(msgs[1]);
    expect(msgs[1]).toBe(msgs[3]);
    // node 3 changed itself: its own message must not list itself as a peer
    const own = JSON.parse(msgs[2]!) as { delta: { peersChanged: NetmapNode[] } };
    expect(own.delta.peersChanged.map((p) => p.id)).toEqual([5]);
    const other = JSON.parse(msgs[0]!) as { delta: { peersChanged: NetmapNode[] } };
    expect(other.delta.peersChanged.map((p) => p.id)).toEqual([3, 5]);
  });

  it('sends nothing when nothing changed, and only the changed peer otherwise', () => {
    const peers = new Map([[1, 0], [2, 0], [3, 0]]);
    const a = parts(1, peers, 0, 1, 0);
    expect(deltaMessage(a, parts(1, peers, 0, 1, 0))).toBeNull();
    peers.set(3, 5);
    const d = JSON.parse(deltaMessage(a, parts(1, peers, 0, 1, 0))!) as { delta: { peersChanged: NetmapNode[] } };
    expect(Object.keys(d.delta)).toEqual(['peersChanged']);
    expect(d.delta.peersChanged.map((p) => p.id)).toEqual([3]);
  });
});
