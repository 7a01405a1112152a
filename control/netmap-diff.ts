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
  return `{"type":"netmap","netmap":{"self":${p.self},"peers":[${peers.join(',')}],"userProfiles":${p.userProfiles},${p.filter},"policyVersion":${p.policyVersion}}}`;
}

/** The delta from `prev` to `cur`, or null when nothing changed. */
export function deltaMessage(prev: NetmapParts, cur: NetmapParts): string | null {
  const parts: string[] = [];
  if (cur.self !== prev.self) parts.push(`"self":${cur.self}`);
  const changed: string[] = [];
  for (const [id, json] of cur.peers) if (id !== cur.selfId && prev.peers.get(id) !== json) changed.push(json);
  const removed: number[] = [];
  for (const id of prev.peers.keys()) if (id !== cur.selfId && !cur.peers.has(id)) removed.push(id);
  if (changed.length > 0) parts.push(`"peersChanged":[${changed.join(',')}]`);
  if (removed.length > 0) parts.push(`"peersRemoved":[${removed.join(',')}]`);
  if (cur.userProfiles !== prev.userProfiles) parts.push(`"userProfiles":${cur.userProfiles}`);
  if (cur.filter !== prev.filter) parts.push(cur.filter);
  if (cur.policyVersion !== prev.policyVersion) parts.push(`"policyVersion":${cur.policyVersion}`);
  return parts.length === 0 ? null : `{"type":"delta","delta":{${parts.join(',')}}}`;
}

/** Client side: the netmap after applying `d` to `nm` (a new object; `nm` is not modified). */
export function applyDelta(nm: Netmap, d: NetmapDelta): Netmap {
  const out: Netmap = { ...nm };
  if (d.self) out.self = d.self;
  if (d.peersChanged || d.peersRemoved) {
    const byId = new Map(nm.peers.map((p) => [p.id, p]));
    for (const id of d.peersRemoved ?? []) byId.delete(id);
    for (const p of d.peersChanged ?? []) byId.set(p.id, p);
    out.peers = [...byId.values()].sort((a, b) => a.id - b.id);
  }
  if (d.userProfiles) out.userProfiles = d.userProfiles;
  if (d.packetFilter) out.packetFilter = d.packetFilter;
  if (d.packetFilterOrigins) out.packetFilterOrigins = d.packetFilterOrigins;
  if (d.capMap) out.capMap = d.capMap;
  if (d.policyVersion !== undefined) out.policyVersion = d.policyVersion;
  return out;
}
