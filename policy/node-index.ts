// Per-node facts the compiler needs, computed once per node version: parsed addresses and routes,
// identity (tagged nodes belong to their tags only, policy.md), and cached posture results.
import { formatIP, parseIP, parsePrefix, hasHostBits, maskPrefix, formatPrefix } from '../types/ip.js';
import type { PostureValue, Tailnet, TailnetNode } from '../types/tailnet.js';
import { bytesToBig, prefixRange, type Range, type RangeSet } from './ip-range.js';
import type { Policy, Selector } from './model.js';
import { evalCondition } from './posture.js';
import { loginMatches } from './wildcard.js';

export interface NodeAddr {
  family: 4 | 6;
  big: bigint;
  /** Canonical text (`100.64.0.1`). */
  text: string;
  /** As a host prefix (`100.64.0.1/32`), for CapGrant Dsts. */
  cidr: string;
}

export interface NodeRoute {
  family: 4 | 6;
  range: Range;
  text: string;
  isDefault: boolean;
}

/** A destination on a node: DstPorts form (`text`) and CapGrant form (`cidr`), with a sort key. */
export interface DstEntry {
  family: 4 | 6;
  start: bigint;
  /** Last address covered (== start for a host). */
  end: bigint;
  /** DstPorts form: bare IP for a host, CIDR otherwise. */
  text: string;
  /** CapGrant form: always a CIDR. */
  cidr: string;
}

export function compareEntries(a: DstEntry, b: DstEntry): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.start !== b.start) return a.start < b.start ? -1 : 1;
  return a.text < b.text ? -1 : a.text > b.text ? 1 : 0;
}

export interface NodeRec {
  name: string;
  node: TailnetNode;
  tagged: boolean;
  /** Owner login when untagged; tagged nodes have no user identity for policy purposes. */
  user: string | null;
  admin: boolean;
  tags: Set<string>;
  addrs: NodeAddr[];
  routes: NodeRoute[];
  /** The node's own addresses as destinations, sorted (v4 first). */
  dstAddrs: DstEntry[];
  /** Addresses plus non-default approved routes: what `dst: "*"` means on this node. */
  dstAll: DstEntry[];
  /** CapGrant Dsts for dstAddrs / dstAll (shared, read-only). */
  capAddrs: string[];
  capAll: string[];
  /** posture name → satisfied, at the compiler's current `now`. */
  postureCache: Map<string, boolean>;
}

export function makeNodeRec(node: TailnetNode, admins: Set<string>): NodeRec {
  const tags = new Set(node.tags ?? []);
  const tagged = tags.size > 0;
  const user = !tagged && node.user ? node.user : null;
  const addrs: NodeAddr[] = [];
  for (const ipText of node.ips ?? []) {
    const ip = parseIP(ipText);
    if (!ip) continue;
    const text = formatIP(ip.bytes);
    addrs.push({ family: ip.family, big: bytesToBig(ip.bytes), text, cidr: `${text}/${ip.family === 4 ? 32 : 128}` });
  }
  const routes: NodeRoute[] = [];
  for (const r of node.routes ?? []) {
    const p = parsePrefix(r);
    if (!p) continue;
    const m = hasHostBits(p) ? maskPrefix(p) : p;
    routes.push({ family: m.family, range: prefixRange(m), text: formatPrefix(m), isDefault: m.bits === 0 });
  }
  addrs.sort((a, b) => a.family - b.family || (a.big < b.big ? -1 : a.big > b.big ? 1 : 0));
  const dstAddrs: DstEntry[] = addrs.map((a) => ({ family: a.family, start: a.big, end: a.big, text: a.text, cidr: a.cidr }));
  // `*` as a destination is every address the node routes, exit routes included: Tailscale ships it as
  // "*", which an exit node applies to internet-bound traffic too (recorded compatibility cases).
  const dstAll = [...dstAddrs, ...routes.map((r) => ({ family: r.family, start: r.range.start, end: r.range.end, text: r.text, cidr: r.text }))].sort(compareEntries);
  const capAddrs = Object.freeze(dstAddrs.map((e) => e.cidr)) as string[];
  const capAll = Object.freeze(dstAll.map((e) => e.cidr)) as string[];
  return { name: node.name, node, tagged, user, admin: user !== null && admins.has(user), tags, addrs, routes, dstAddrs, dstAll, capAddrs, capAll, postureCache: new Map() };
}

export function adminsOf(tailnet: Tailnet): Set<string> {
  return new Set(tailnet.users.filter((u) => u.role === 'admin').map((u) => u.login));
}

/** Does a node match a node-identity selector? Address selectors are handled by range checks. */
export function nodeMatches(sel: Selector, rec: NodeRec, groupSets: Map<string, Set<string>>): boolean {
  switch (sel.kind) {
    case 'all':
      return true;
    case 'user':
      return loginMatches(sel.login, rec.user);
    case 'group':
      return rec.user !== null && (groupSets.get(sel.name)?.has(rec.user) ?? false);
    case 'tag':
      return rec.tags.has(sel.name);
    case 'autogroup':
      switch (sel.name) {
        case 'member':
          return !rec.tagged && rec.user !== null;
        case 'tagged':
          return rec.tagged;
        case 'admin':
          return rec.admin;
        case 'danger-all':
          return true;
        default:
          return false; // self and internet are resolved per destination
      }
    case 'prefix':
      return false;
  }
}

/** True when any of the node's addresses lies in the ranges. */
export function addrInRanges(a: NodeAddr, set: RangeSet): boolean {
  const list = a.family === 4 ? set.v4 : set.v6;
  if (list.length === 0 || a.big < list[0].start || a.big > list[list.length - 1].end) return false;
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].end < a.big) lo = mid + 1;
    else if (list[mid].start > a.big) hi = mid - 1;
    else return true;
  }
  return false;
}

/** The parts of `set` that overlap a route, as ranges (for rules on subnet routers). */
export function overlapWithRoute(route: NodeRoute, set: RangeSet): Range[] {
  const out: Range[] = [];
  for (const r of route.family === 4 ? set.v4 : set.v6) {
    const start = r.start > route.range.start ? r.start : route.range.start;
    const end = r.end < route.range.end ? r.end : route.range.end;
    if (start <= end) out.push({ start, end });
  }
  return out;
}

/** Attribute value at `now`: expired custom attributes are unset (policy.md, posture). */
export function postureValue(node: TailnetNode, attr: string, now: number): PostureValue | undefined {
  const v = node.posture?.[attr];
  if (v === undefined) return undefined;
  const exp = node.postureExpiry?.[attr];
  if (exp !== undefined && exp <= now) return undefined;
  return v;
}

/** Does the node satisfy a named posture (all its conditions)? Cached on the record. */
export function satisfiesPosture(policy: Policy, rec: NodeRec, posture: string, now: number): boolean {
  const cached = rec.postureCache.get(posture);
  if (cached !== undefined) return cached;
  const conds = policy.postures.get(posture) ?? [];
  const ok = conds.every((c) => evalCondition(c, postureValue(rec.node, c.attr, now)));
  rec.postureCache.set(posture, ok);
  return ok;
}

/** srcPosture semantics: at least one listed posture holds (OR of ANDs); an empty list always holds. */
export function satisfiesAny(policy: Policy, rec: NodeRec, postures: readonly string[], now: number): boolean {
  if (postures.length === 0) return true;
  for (const p of postures) if (satisfiesPosture(policy, rec, p, now)) return true;
  return false;
}

/** Same identity, addresses, routes and posture inputs: nothing another node sees has changed. */
export function sameNodeFacts(a: NodeRec, b: NodeRec): boolean {
  return JSON.stringify([a.node.user, [...a.tags].sort(), a.addrs.map((x) => x.text), a.routes.map((r) => r.text), a.admin, a.node.posture ?? {}, a.node.postureExpiry ?? {}]) ===
    JSON.stringify([b.node.user, [...b.tags].sort(), b.addrs.map((x) => x.text), b.routes.map((r) => r.text), b.admin, b.node.posture ?? {}, b.node.postureExpiry ?? {}]);
}
