// Netmap messages for one stream: the first is a full netmap, later ones are deltas carrying only what
// changed since what this stream was last sent (control.md allows "a new one (or a delta)"). Without
// deltas, one node coming online costs every stream a full netmap — O(N²) bytes for a tailnet of N; with
// them it costs every stream one peer entry.
//
// The parts are pre-serialized JSON strings that the coordinator caches per node, so "changed" is mostly
// a reference comparison. The client (client.ts, applyDelta) rebuilds the full Netmap, so agent code only
// ever sees whole netmaps.
import type { FilterRule, RuleOrigin } from '../types/filter-rule.js';
import type { Netmap, NetmapNode, UserProfile } from '../types/netmap.js';

/** The current serialized parts of one node's netmap. */
export interface NetmapParts {
  selfId: number;
  self: string;
  /** Node id → serialized NetmapNode, in id order, for every active node (selfId is skipped). */
  peers: Map<number, string>;
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
  for (const [id, json] of p.peers) if (id !== p.selfId) peers.push(json);
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
  if (prev.peers !== cur.peers) {
    if (shared && shared.from === prev.peers && shared.to === cur.peers && !shared.touched.has(cur.selfId)) {
      shared.fragment ??= peerFragment(shared, cur.peers, -1);
      if (!own) {
        if (shared.message === undefined) shared.message = shared.fragment === '' ? null : `{"type":"delta","delta":{${shared.fragment}}}`;
        return shared.message;
      }
      peers = shared.fragment;
    } else {
      peers = peerFragment(diffPeers(prev.peers, cur.peers), cur.peers, cur.selfId);
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
