// Netmap messages for one stream: the first is a full netmap, later ones are deltas carrying only what
// changed since what this stream was last sent (control.md allows "a new one (or a delta)"). Without
// deltas, one node coming online costs every stream a full netmap — O(N²) bytes for a tailnet of N; with
// them it costs every stream one peer entry.
//
// The parts are pre-serialized JSON strings that the coordinator caches per node, so "changed" is mostly
// a reference comparison. Every node shares one map of peer entries; its VisibleSet (peer-visibility.ts)
// says which of them it is sent, and a peer entering or leaving that set is a peersChanged / peersRemoved
// like any other. The client (client.ts, applyDelta) rebuilds the full Netmap, so agent code only
// ever sees whole netmaps.
import type { FilterRule, RuleOrigin } from '../types/filter-rule.js';
import type { Netmap, NetmapNode, UserProfile } from '../types/netmap.js';
import { visibleChanges, type VisibleSet } from './peer-visibility.js';

/** The current serialized parts of one node's netmap. */
export interface NetmapParts {
  selfId: number;
  self: string;
  /** Node id → serialized NetmapNode, in id order, for every active node (shared by every node). */
  peers: Map<number, string>;
  /** Which of `peers` this node is sent (selfId never is). */
  visible: VisibleSet;
  userProfiles: string;
  /** `"packetFilter":…,"packetFilterOrigins":…,"capMap":…` */
  filter: string;
  policyVersion: number;
  /** Serialized RelayMap, static while control runs: sent in full netmaps only. */
  relayMap?: string;
}

export interface NetmapDelta {
  self?: NetmapNode;
  peersChanged?: NetmapNode[];
  peersRemoved?: number[];
  userProfiles?: UserProfile[];
  packetFilter?: FilterRule[];
  packetFilterOrigins?: RuleOrigin[];
  capMap?: Record<string, unknown[]>;
  policyVersion?: number;
}

export function fullMessage(p: NetmapParts): string {
  const peers: string[] = [];
  if (p.visible.all) {
    for (const [id, json] of p.peers) if (id !== p.selfId) peers.push(json);
  } else {
    for (const id of p.visible.ids()) {
      const json = p.peers.get(id);
      if (json !== undefined && id !== p.selfId) peers.push(json);
    }
  }
  return `{"type":"netmap","netmap":{"self":${p.self},"peers":[${peers.join(',')}],"userProfiles":${p.userProfiles},${p.filter},"policyVersion":${p.policyVersion}${p.relayMap ? `,"relayMap":${p.relayMap}` : ''}}}`;
}

/**
 * How the shared peer map changed between two flushes. Every stream that was current after the previous
 * flush shares it, so the coordinator computes it once per flush (O(N)) instead of once per stream (O(N²)).
 */
export interface PeerDelta {
  from: Map<number, string>;
  to: Map<number, string>;
  changed: number[];
  removed: number[];
  /** Ids in changed or removed: a stream whose own node is among them needs its own peer fragment. */
  touched: Set<number>;
  /** Lazily built: the peer fragment, and the whole message for a stream where nothing else changed. */
  fragment?: string;
  message?: string | null;
}

export function diffPeers(from: Map<number, string>, to: Map<number, string>): PeerDelta {
  const changed: number[] = [];
  const removed: number[] = [];
  for (const [id, json] of to) if (from.get(id) !== json) changed.push(id);
  for (const id of from.keys()) if (!to.has(id)) removed.push(id);
  return { from, to, changed, removed, touched: new Set([...changed, ...removed]) };
}

function peerFragment(d: PeerDelta, peers: Map<number, string>, selfId: number): string {
  const parts: string[] = [];
  const changed: string[] = [];
  for (const id of d.changed) if (id !== selfId) changed.push(peers.get(id) as string);
  const removed = d.removed.filter((id) => id !== selfId);
  if (changed.length > 0) parts.push(`"peersChanged":[${changed.join(',')}]`);
  if (removed.length > 0) parts.push(`"peersRemoved":[${removed.join(',')}]`);
  return parts.join(',');
}

/**
 * The delta from `prev` to `cur`, or null when nothing changed. With `shared` (the flush's peer diff),
 * streams whose only change is the shared peer change all get the very same message string.
 */
export function deltaMessage(prev: NetmapParts, cur: NetmapParts, shared?: PeerDelta): string | null {
  const own = cur.self !== prev.self || cur.userProfiles !== prev.userProfiles || cur.filter !== prev.filter || cur.policyVersion !== prev.policyVersion;
  let peers = '';
  if (prev.peers !== cur.peers || prev.visible !== cur.visible) {
    const sharedOk = shared !== undefined && shared.from === prev.peers && shared.to === cur.peers;
    const seen = shared && sharedOk && prev.visible === cur.visible && !shared.touched.has(cur.selfId) ? seenChanges(shared, cur.visible) : null;
    if (seen === SEES_ALL) {
      const d = shared as PeerDelta;
      d.fragment ??= peerFragment(d, cur.peers, -1);
      if (!own) {
        if (d.message === undefined) d.message = d.fragment === '' ? null : `{"type":"delta","delta":{${d.fragment}}}`;
        return d.message;
      }
      peers = d.fragment;
    } else if (seen === SEES_NONE) {
      // The common case with peers by policy: a node joined or changed that this stream is not sent.
      if (!own) return null;
    } else if (seen !== null) {
      peers = changesFragment({ changed: seen, removed: [] }, cur.peers);
    } else {
      peers = changesFragment(peerChanges(prev, cur, sharedOk ? shared : undefined), cur.peers);
    }
  }
  // Concatenated with +, not Array.join: join copies every part into a new flat string, and a changed
  // filter is tens of KB; the channel encodes the message to UTF-8 anyway (one copy), so building it as a
  // rope of the cached parts saves a full copy per changed stream (~30 ms of a 10,000-node join).
  let body = '';
  if (cur.self !== prev.self) body = `"self":${cur.self}`;
  if (peers !== '') body = join(body, peers);
  if (cur.userProfiles !== prev.userProfiles) body = join(body, `"userProfiles":${cur.userProfiles}`);
  if (cur.filter !== prev.filter) body = join(body, cur.filter);
  if (cur.policyVersion !== prev.policyVersion) body = join(body, `"policyVersion":${cur.policyVersion}`);
  return body === '' ? null : '{"type":"delta","delta":{' + body + '}}';
}

const SEES_ALL = 1;
const SEES_NONE = 2;

/**
 * What of the flush's shared peer change a stream with an unchanged visible set is told: all of it (it may
 * take the shared message as it is), none of it, or the changed entries it sees. A node that leaves leaves
 * every visible set it was in, so no removed id is in an unchanged set that is not `all`. Allocates only
 * for the mixed case: most streams of a large tailnet do not see a given joiner.
 */
function seenChanges(d: PeerDelta, v: VisibleSet): typeof SEES_ALL | typeof SEES_NONE | number[] {
  if (v.all) return SEES_ALL;
  let seen = 0;
  for (const id of d.changed) if (v.has(id)) seen++;
  if (seen === d.changed.length && d.removed.length === 0) return SEES_ALL;
  if (seen === 0) return SEES_NONE;
  const out: number[] = [];
  for (const id of d.changed) if (v.has(id)) out.push(id);
  return out;
}

interface PeerChanges {
  changed: number[];
  removed: number[];
}

/**
 * What one stream must be told about its peers: entries that changed among the peers it sees, peers that
 * became visible (changed) and peers that stopped being visible or left (removed). O(changes) when both
 * visible sets come from one PeerVisibility and the flush's shared diff applies; else one merge of the two
 * visible id lists.
 */
function peerChanges(prev: NetmapParts, cur: NetmapParts, shared: PeerDelta | undefined): PeerChanges {
  const self = cur.selfId;
  const out: PeerChanges = { changed: [], removed: [] };
  const vis = cur.visible;
  if (prev.visible === vis) {
    if (vis.all) {
      const d = shared ?? diffPeers(prev.peers, cur.peers);
      for (const id of d.changed) if (id !== self) out.changed.push(id);
      for (const id of d.removed) if (id !== self) out.removed.push(id);
    } else if (shared) {
      // A node that leaves leaves every visible set it was in: none of shared.removed is in an unchanged one.
      for (const id of shared.changed) if (id !== self && vis.has(id)) out.changed.push(id);
    } else {
      for (const id of vis.ids()) if (prev.peers.get(id) !== cur.peers.get(id)) out.changed.push(id);
    }
    return out;
  }
  const moved = shared || prev.peers === cur.peers ? visibleChanges(prev.visible, vis) : null;
  if (moved) {
    const added = new Set(moved.added);
    for (const id of moved.added) if (id !== self) out.changed.push(id);
    for (const id of moved.removed) if (id !== self && !added.has(id)) out.removed.push(id);
    if (shared) for (const id of shared.changed) if (id !== self && !added.has(id) && vis.has(id)) out.changed.push(id);
    return out;
  }
  const a = visibleIds(prev);
  const b = visibleIds(cur);
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i] < b[j])) out.removed.push(a[i++]);
    else if (i >= a.length || b[j] < a[i]) out.changed.push(b[j++]);
    else {
      if (prev.peers.get(a[i]) !== cur.peers.get(b[j])) out.changed.push(b[j]);
      i++;
      j++;
    }
  }
  return out;
}

/** The ids a part's stream sees, ascending. */
function visibleIds(p: NetmapParts): number[] {
  const out: number[] = [];
  if (p.visible.all) {
    for (const id of p.peers.keys()) if (id !== p.selfId) out.push(id);
    return out.sort((x, y) => x - y);
  }
  for (const id of p.visible.ids()) if (id !== p.selfId && p.peers.has(id)) out.push(id);
  return out;
}

function changesFragment(c: PeerChanges, peers: Map<number, string>): string {
  const parts: string[] = [];
  const changed: string[] = [];
  for (const id of c.changed) {
    const json = peers.get(id);
    if (json !== undefined) changed.push(json);
  }
  if (changed.length > 0) parts.push(`"peersChanged":[${changed.join(',')}]`);
  if (c.removed.length > 0) parts.push(`"peersRemoved":[${c.removed.join(',')}]`);
  return parts.join(',');
}

function join(a: string, b: string): string {
  return a === '' ? b : a + ',' + b;
}

/** Index of the peer with `id` in `peers` (sorted by id), or -(insertion point) - 1. */
function findPeer(peers: readonly NetmapNode[], id: number): number {
  let lo = 0;
  let hi = peers.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = peers[mid].id;
    if (v === id) return mid;
    if (v < id) lo = mid + 1;
    else hi = mid - 1;
  }
  return -lo - 1;
}

/**
 * Client side: the netmap after applying `d` to `nm` (a new object; `nm` is not modified). Peers stay
 * sorted by id; one copy of the array plus a binary search per changed peer (a delta usually names one).
 */
export function applyDelta(nm: Netmap, d: NetmapDelta): Netmap {
  const out: Netmap = { ...nm };
  if (d.self) out.self = d.self;
  if ((d.peersChanged?.length ?? 0) > 0 || (d.peersRemoved?.length ?? 0) > 0) {
    const peers = nm.peers.slice();
    for (const id of d.peersRemoved ?? []) {
      const i = findPeer(peers, id);
      if (i >= 0) peers.splice(i, 1);
    }
    for (const p of d.peersChanged ?? []) {
      const i = findPeer(peers, p.id);
      if (i >= 0) peers[i] = p;
      else peers.splice(-i - 1, 0, p);
    }
    out.peers = peers;
  }
  if (d.userProfiles) out.userProfiles = d.userProfiles;
  if (d.packetFilter) out.packetFilter = d.packetFilter;
  if (d.packetFilterOrigins) out.packetFilterOrigins = d.packetFilterOrigins;
  if (d.capMap) out.capMap = d.capMap;
  if (d.policyVersion !== undefined) out.policyVersion = d.policyVersion;
  return out;
}
