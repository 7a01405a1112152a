// PolicyCompiler: one validated policy against one tailnet, compiled per destination node into
// Tailscale's FilterRule shapes (policy.md, "What a policy compiles to"): a node receives only rules whose
// destination includes it, naming only its own addresses or routes it serves; SrcIPs are shared, merged,
// sorted arrays; output is deterministic. The resolved state and incremental updates live in the
// ResolvedTailnet it owns (resolved-tailnet.ts). Not concurrency-safe; one per active policy.
import { GrantwireError } from '../types/errors.js';
import type { CapGrant, FilterRule, NetPortRange, PortRange, RuleOrigin } from '../types/filter-rule.js';
import type { Diagnostic } from '../types/errors.js';
import { parsePrefix, type IPPrefix } from '../types/ip.js';
import type { Tailnet, TailnetNode } from '../types/tailnet.js';
import { ERR } from './diagnostics.js';
import { prefixRange, rangeSetOfStrings, rangeToCidrs } from './ip-range.js';
import type { Policy, Selector } from './model.js';
import { addrInRanges, compareEntries, nodeMatches, overlapWithRoute, type DstEntry, type NodeRec } from './node-index.js';
import { mergePorts } from './ports.js';
import { runPolicyTests, type TestHost } from './policy-tests.js';
import { ResolvedTailnet, type CompileOptions, type CompiledGrant } from './resolved-tailnet.js';
import type { SelectorSet } from './selector-set.js';

export type { CompileOptions } from './resolved-tailnet.js';

export interface NodeFilter {
  rules: FilterRule[];
  /** Index-aligned with `rules`. */
  origins: RuleOrigin[];
  /** nodeAttrs for this node itself. */
  capMap: Record<string, unknown[]>;
}

/** The rules one grant last produced on one node, and the (shared, immutable) inputs they came from. */
interface Emitted {
  dsts: DstEntry[];
  srcIPs: string[];
  rules: FilterRule[];
}

export class PolicyCompiler implements TestHost {
  readonly policy: Policy;
  /** The policy resolved against the tailnet; upsertNode/removeNode/setNow/setUsers keep it current. */
  private readonly resolved: ResolvedTailnet;
  // The resolved tailnet's indexes, read on every compileNode. Aliases of its readonly containers (never
  // reassigned, updated in place by its update methods), so the hot loops read them as before.
  private readonly recs: ResolvedTailnet['recs'];
  private readonly grants: ResolvedTailnet['grants'];
  private readonly grantsByDstSet: ResolvedTailnet['grantsByDstSet'];
  private readonly everyoneDstSets: ResolvedTailnet['everyoneDstSets'];
  private readonly selfDstSets: ResolvedTailnet['selfDstSets'];
  private readonly nodeDstSets: ResolvedTailnet['nodeDstSets'];
  private readonly groupSets: ResolvedTailnet['groupSets'];

  constructor(policy: Policy, tailnet: Tailnet, options: CompileOptions = {}) {
    const rt = new ResolvedTailnet(policy, tailnet, options);
    this.policy = policy;
    this.resolved = rt;
    this.recs = rt.recs;
    this.grants = rt.grants;
    this.grantsByDstSet = rt.grantsByDstSet;
    this.everyoneDstSets = rt.everyoneDstSets;
    this.selfDstSets = rt.selfDstSets;
    this.nodeDstSets = rt.nodeDstSets;
    this.groupSets = rt.groupSets;
  }

  /**
   * Per node, per grant index: the last emitted rules of one-leg grants. After a node joins, most of an
   * affected node's rules have the same inputs (same dst array, same frozen SrcIPs array), so they are
   * reused as the same frozen objects: consumers can memoize per rule (control/filter-json.ts) and tell an
   * unchanged filter by identity. Costs one small map per node; dropped with the node.
   */
  private readonly emitted = new Map<string, Map<number, Emitted>>();

  /**
   * Destinations of one leg on node `rec`, split by whether they came from autogroup:self. `routesOk` is
   * false when the grant names `via` tags this node lacks: its routes then carry none of the grant.
   */
  private legDsts(set: SelectorSet, rec: NodeRec, full: Map<string, DstEntry>, self: Map<string, DstEntry>, routesOk: boolean): void {
    if (set.everyone || set.members.has(rec.name)) for (const e of set.everyone && routesOk ? rec.dstAll : rec.dstAddrs) full.set(e.text, e);
    if (set.staticMembers.has(rec.name)) {
      for (const a of rec.addrs) if (addrInRanges(a, set.statics)) full.set(a.text, { family: a.family, start: a.big, end: a.big, text: a.text, cidr: a.cidr });
      for (const r of routesOk ? rec.routes : []) {
        if (r.isDefault) continue; // exit routes are reached through autogroup:internet only
        const parts = overlapWithRoute(r, set.statics);
        for (const p of parts) {
          const texts: string[] = [];
          rangeToCidrs(p, r.family, texts);
          for (const t of texts) {
            const cidr = t.includes('/') ? t : `${t}/${r.family === 4 ? 32 : 128}`;
            const range = prefixRange(parsePrefix(cidr) as IPPrefix);
            full.set(t, { family: r.family, start: range.start, end: range.end, text: t, cidr });
          }
        }
      }
    }
    if (routesOk && set.internetMembers.has(rec.name)) {
      for (const r of rec.routes) if (r.isDefault) full.set(r.text, { family: r.family, start: r.range.start, end: r.range.end, text: r.text, cidr: r.text });
    }
    if (full.size > 1 && (set.hasStatics || set.hasInternet)) dropCovered(full);
    if (set.hasSelf && rec.user !== null) for (const e of rec.dstAddrs) self.set(e.text, e);
  }

  /** Destinations of a one-leg, non-self grant on `rec`, sorted; shared arrays in the common cases. */
  private simpleDsts(set: SelectorSet, rec: NodeRec, routesOk: boolean): DstEntry[] {
    if (!set.hasStatics && !set.hasInternet) return set.everyone ? (routesOk ? rec.dstAll : rec.dstAddrs) : set.members.has(rec.name) ? rec.dstAddrs : [];
    const full = new Map<string, DstEntry>();
    this.legDsts(set, rec, full, new Map(), routesOk);
    return [...full.values()].sort(compareEntries);
  }

  /** Emits a one-leg grant's rules: plain loops, no closures (this runs ~10^5 times per tailnet). */
  private emitSimple(cg: CompiledGrant, rec: NodeRec, dsts: DstEntry[], srcIPs: string[], rules: FilterRule[], origins: RuleOrigin[]): void {
    const groups = cg.legs[0].groupList;
    for (let gi = 0; gi < groups.length; gi++) {
      const g = groups[gi];
      const dstPorts: NetPortRange[] = new Array<NetPortRange>(dsts.length * g.ports.length);
      let k = 0;
      for (let i = 0; i < dsts.length; i++) for (let j = 0; j < g.ports.length; j++) dstPorts[k++] = { IP: dsts[i].text, Ports: g.ports[j] };
      Object.freeze(dstPorts);
      rules.push(Object.freeze(g.protos === null ? { SrcIPs: srcIPs, DstPorts: dstPorts } : { SrcIPs: srcIPs, DstPorts: dstPorts, IPProto: g.protos }));
      origins.push(cg.origin);
    }
    if (cg.capMap) {
      const cap = dsts === rec.dstAddrs || dsts === rec.dstAll ? rec.capAddrs : ownCidrs(dsts, rec);
      if (cap.length > 0) rules.push(Object.freeze({ SrcIPs: srcIPs, CapGrant: Object.freeze([Object.freeze({ Dsts: cap, CapMap: cg.capMap })]) as CapGrant[] }));
      if (cap.length > 0) origins.push(cg.origin);
    }
  }

  /** Emits rules from per-protocol destination maps (the general path). */
  private emitGeneral(cg: CompiledGrant, groups: Array<{ protos: number[] | null; dst: Map<string, { e: DstEntry; ports: PortRange[] }> }>, capDsts: DstEntry[], srcIPs: string[], rules: FilterRule[], origins: RuleOrigin[]): void {
    for (const g of groups) {
      if (g.dst.size === 0) continue;
      const dstPorts: NetPortRange[] = [];
      for (const { e, ports } of [...g.dst.values()].sort(compareDst)) for (const p of ports) dstPorts.push({ IP: e.text, Ports: p });
      rules.push(g.protos === null ? { SrcIPs: srcIPs, DstPorts: dstPorts } : { SrcIPs: srcIPs, DstPorts: dstPorts, IPProto: g.protos });
      origins.push(cg.origin);
    }
    if (cg.capMap && capDsts.length > 0) {
      rules.push({ SrcIPs: srcIPs, CapGrant: [{ Dsts: capDsts.map(cidrOf), CapMap: cg.capMap }] });
      origins.push(cg.origin);
    }
  }

  /**
   * The node's inbound rules, in policy order (grants, then acls); per grant one rule per protocol set,
   * then its CapGrant rule. Rules share immutable arrays (SrcIPs, Ports, CapMap) across nodes: treat
   * them as read-only.
   */
  compileNode(name: string): NodeFilter {
    const rec = this.recs.get(name);
    if (!rec) throw new GrantwireError(ERR.UNKNOWN_NODE, `policy: unknown node ${JSON.stringify(name)}`);
    const idx = new Set<number>();
    for (const set of this.nodeDstSets.get(name) ?? []) for (const i of this.grantsByDstSet.get(set) ?? []) idx.add(i);
    for (const set of this.everyoneDstSets) for (const i of this.grantsByDstSet.get(set) ?? []) idx.add(i);
    // autogroup:self reaches this node only when its owner is a source; src is then users/groups/member,
    // which match all of the owner's untagged devices alike, so this node's own membership decides.
    if (rec.user !== null) {
      for (const set of this.selfDstSets) for (const i of this.grantsByDstSet.get(set) ?? []) if (selfSource(this.grants[i], name)) idx.add(i);
    }
    const order = Int32Array.from(idx).sort();
    const rules: FilterRule[] = [];
    const origins: RuleOrigin[] = [];
    const prev = this.emitted.get(name);
    const next = new Map<number, Emitted>();
    for (const gi of order) {
      const cg = this.grants[gi];
      if (cg.simple) {
        const leg = cg.legs[0];
        const dsts = this.simpleDsts(leg.set, rec, viaAllows(cg, rec));
        if (dsts.length === 0) continue;
        const srcIPs = this.resolved.srcIPs(cg);
        if (srcIPs.length === 0) continue;
        this.emitCached(cg, rec, dsts, srcIPs, prev, next, rules, origins);
        continue;
      }
      if (cg.selfOnly) {
        if (rec.user === null || !selfSource(cg, name) || rec.dstAddrs.length === 0) continue;
        const srcIPs = this.resolved.selfSrcIPs(cg, rec.user);
        if (srcIPs.length > 0) this.emitCached(cg, rec, rec.dstAddrs, srcIPs, prev, next, rules, origins);
        continue;
      }
      this.compileGeneral(cg, rec, rules, origins);
    }
    for (const cg of this.grants) if (cg.companions) this.emitCompanions(cg, rec, rules, origins);
    this.emitted.set(name, next);
    return { rules, origins, capMap: this.capMapOf(rec) };
  }

  /**
   * emitSimple, or the rules it produced last time for the same inputs. Its output depends only on the
   * grant and on dsts and srcIPs, which are shared arrays replaced (never mutated) when they change: rec's
   * own dst arrays are new with every node version, SrcIPs arrays are cached per source set until it changes.
   */
  private emitCached(cg: CompiledGrant, rec: NodeRec, dsts: DstEntry[], srcIPs: string[], prev: Map<number, Emitted> | undefined, next: Map<number, Emitted>, rules: FilterRule[], origins: RuleOrigin[]): void {
    const e = prev?.get(cg.index);
    if (e !== undefined && e.dsts === dsts && e.srcIPs === srcIPs) {
      for (const r of e.rules) {
        rules.push(r);
        origins.push(cg.origin);
      }
      next.set(cg.index, e);
      return;
    }
    if (e !== undefined && e.dsts === dsts) {
      // Only the sources changed (a node joined or left them): the same rules with the new SrcIPs, sharing
      // the old DstPorts/CapGrant arrays. The rule count does not depend on the sources (non-empty here).
      const fresh: FilterRule[] = new Array<FilterRule>(e.rules.length);
      for (let i = 0; i < e.rules.length; i++) {
        fresh[i] = Object.freeze({ ...e.rules[i], SrcIPs: srcIPs }); // SrcIPs keeps its place (first)
        rules.push(fresh[i]);
        origins.push(cg.origin);
      }
      next.set(cg.index, { dsts, srcIPs, rules: fresh });
      return;
    }
    const start = rules.length;
    this.emitSimple(cg, rec, dsts, srcIPs, rules, origins);
    next.set(cg.index, { dsts, srcIPs, rules: rules.slice(start) });
  }

  /**
   * The reversed rule of a grant carrying Tailscale capabilities with companions (known-caps.ts): on a
   * source node, SrcIPs are the grant's destinations (as if they were sources) and Dsts the node's own
   * addresses inside the grant's sources.
   */
  private emitCompanions(cg: CompiledGrant, rec: NodeRec, rules: FilterRule[], origins: RuleOrigin[]): void {
    const src = cg.src;
    const mine = src.everyone || src.members.has(rec.name) ? rec.addrs : rec.addrs.filter((a) => addrInRanges(a, src.statics));
    if (mine.length === 0) return;
    const peers = new Set<string>();
    for (const leg of cg.legs) {
      for (const ip of this.resolved.srcIPs({ ...cg, src: leg.set, grant: { ...cg.grant, srcPosture: [] }, postureKey: '' })) peers.add(ip);
      if (leg.set.hasSelf && rec.user !== null && selfSource(cg, rec.name)) for (const ip of this.resolved.selfSrcIPs({ ...cg, grant: { ...cg.grant, srcPosture: [] }, postureKey: '' }, rec.user)) peers.add(ip);
    }
    if (peers.size === 0) return;
    rules.push({ SrcIPs: [...peers], CapGrant: [{ Dsts: mine.map((a) => a.cidr), CapMap: cg.companions as Record<string, unknown[]> }] });
    origins.push(cg.origin);
  }

  /** Adds or changes a node; returns the nodes whose filter may have changed (compile them again). */
  upsertNode(node: TailnetNode): string[] {
    return this.resolved.upsertNode(node);
  }

  /** Removes a node; returns the other nodes whose filter may have changed. */
  removeNode(name: string): string[] {
    this.emitted.delete(name);
    return this.resolved.removeNode(name);
  }

  /** Replaces the user list (roles decide autogroup:admin); returns the nodes whose filter may have changed. */
  setUsers(users: Tailnet['users']): string[] {
    return this.resolved.setUsers(users);
  }

  /** Moves the clock (posture expiry); returns the nodes whose filter changed. */
  setNow(now: number): string[] {
    return this.resolved.setNow(now);
  }

  /** The next posture expiry after now, for scheduling setNow, or null. */
  nextExpiry(): number | null {
    return this.resolved.nextExpiry();
  }

  currentNow(): number {
    return this.resolved.currentNow();
  }

  /** Grants with several legs (acls with per-destination ports) or autogroup:self. */
  private compileGeneral(cg: CompiledGrant, rec: NodeRec, rules: FilterRule[], origins: RuleOrigin[]): void {
    type Acc = Map<string, { protos: number[] | null; dst: Map<string, { e: DstEntry; ports: PortRange[] }> }>;
    const fullGroups: Acc = new Map();
    const selfGroups: Acc = new Map();
    const fullCap = new Map<string, DstEntry>();
    const selfCap = new Map<string, DstEntry>();
    // autogroup:self only applies when the node's owner is among the sources (src is users/groups/member).
    const selfOk = rec.user !== null && selfSource(cg, rec.name);
    for (const leg of cg.legs) {
      const full = new Map<string, DstEntry>();
      const self = new Map<string, DstEntry>();
      this.legDsts(leg.set, rec, full, self, viaAllows(cg, rec));
      if (!selfOk) self.clear();
      const pairs: Array<[Map<string, DstEntry>, Acc, Map<string, DstEntry>]> = [
        [full, fullGroups, fullCap],
        [self, selfGroups, selfCap],
      ];
      for (const [dsts, groups, cap] of pairs) {
        if (dsts.size === 0) continue;
        for (const [t, e] of dsts) cap.set(t, e);
        for (const [k, g] of leg.groups) {
          let acc = groups.get(k);
          if (!acc) groups.set(k, (acc = { protos: g.protos, dst: new Map() }));
          for (const [t, e] of dsts) {
            const d = acc.dst.get(t);
            if (d) d.ports = mergePorts([...d.ports, ...g.ports]);
            else acc.dst.set(t, { e, ports: g.ports });
          }
        }
      }
    }
    const variants: Array<[Acc, Map<string, DstEntry>, boolean]> = [
      [fullGroups, fullCap, false],
      [selfGroups, selfCap, true],
    ];
    for (const [groups, cap, isSelf] of variants) {
      if (cap.size === 0) continue;
      const srcIPs = isSelf ? this.resolved.selfSrcIPs(cg, rec.user as string) : this.resolved.srcIPs(cg);
      if (srcIPs.length === 0) continue;
      // capabilities name the node's own addresses only (ownCidrs)
      this.emitGeneral(cg, [...groups.values()], [...cap.values()].filter((e) => rec.addrs.some((a) => a.text === e.text)).sort(compareEntries), srcIPs, rules, origins);
    }
  }

  private capMapOf(rec: NodeRec): Record<string, unknown[]> {
    const acc = new Map<string, unknown[]>();
    for (const na of this.policy.nodeAttrs) {
      const hit = na.target.some((sel) =>
        sel.kind === 'prefix' ? rec.addrs.some((a) => addrInRanges(a, sel.ranges)) : nodeMatches(sel, rec, this.groupSets),
      );
      if (!hit) continue;
      for (const a of na.attr) if (!acc.has(a)) acc.set(a, []);
      for (const [k, v] of na.app ?? []) acc.set(k, [...(acc.get(k) ?? []), ...v]);
    }
    const out: Record<string, unknown[]> = {};
    for (const k of [...acc.keys()].sort()) out[k] = acc.get(k) as unknown[];
    return out;
  }

  compileAll(): Map<string, NodeFilter> {
    const out = new Map<string, NodeFilter>();
    for (const name of [...this.recs.keys()].sort()) out.set(name, this.compileNode(name));
    return out;
  }

  /** Node names, sorted. */
  nodeNames(): string[] {
    return [...this.recs.keys()].sort();
  }

  /** The tailnet as the compiler currently sees it. */
  tailnet(): Tailnet {
    return this.resolved.tailnet();
  }

  getNode(name: string): TailnetNode | undefined {
    return this.recs.get(name)?.node;
  }

  /** Nodes an identity or address selector names (tagged nodes only through their tags), sorted. */
  nodesMatching(sel: Selector): string[] {
    const out: string[] = [];
    for (const rec of this.recs.values()) {
      const hit = sel.kind === 'prefix' ? rec.addrs.some((a) => addrInRanges(a, sel.ranges)) : nodeMatches(sel, rec, this.groupSets);
      if (hit) out.push(rec.name);
    }
    return out.sort();
  }

  /** A node's canonical addresses. */
  nodeAddresses(name: string): string[] {
    return this.recs.get(name)?.addrs.map((a) => a.text) ?? [];
  }

  /** Nodes that receive traffic for an address: its owner, else the subnet routers with the most specific route. */
  nodesForAddress(addr: string): string[] {
    const set = rangeSetOfStrings([addr]);
    const owners: string[] = [];
    let routers: string[] = [];
    let best = -1n;
    for (const rec of this.recs.values()) {
      if (rec.addrs.some((a) => addrInRanges(a, set))) owners.push(rec.name);
      for (const r of rec.routes) {
        if (r.isDefault || overlapWithRoute(r, set).length === 0) continue;
        const size = r.range.end - r.range.start;
        if (best === -1n || size < best) {
          best = size;
          routers = [rec.name];
        } else if (size === best && !routers.includes(rec.name)) routers.push(rec.name);
      }
    }
    return (owners.length > 0 ? owners : routers).sort();
  }

  runTests(): Diagnostic[] {
    return runPolicyTests(this.policy, this);
  }

  /** The tests runner's way to evaluate over a tailnet with synthetic devices added (same policy and clock). */
  withTailnet(tailnet: Tailnet): PolicyCompiler {
    return new PolicyCompiler(this.policy, tailnet, { now: this.currentNow() });
  }
}

/** Removes destinations inside another one of the same leg (`10.0.1.0/24` next to a served `10.0.0.0/16`). */
function dropCovered(m: Map<string, DstEntry>): void {
  const list = [...m.values()];
  for (const e of list) {
    for (const o of list) {
      if (o !== e && o.family === e.family && o.start <= e.start && e.end <= o.end && (o.start !== e.start || o.end !== e.end)) {
        m.delete(e.text);
        break;
      }
    }
  }
}

/** autogroup:self reaches `name`'s owner when the grant's sources name them (or are `*`, in acls). */
function selfSource(cg: CompiledGrant, name: string): boolean {
  return cg.src.everyone || cg.src.members.has(name);
}

/** `via` (policy.md): only subnet routers carrying one of the tags carry the grant's routed traffic. */
function viaAllows(cg: CompiledGrant, rec: NodeRec): boolean {
  const via = cg.grant.via;
  if (via.length === 0) return true;
  for (const t of via) if (rec.tags.has(t)) return true;
  return false;
}

function compareDst(a: { e: DstEntry }, b: { e: DstEntry }): number {
  return compareEntries(a.e, b.e);
}

function cidrOf(e: DstEntry): string {
  return e.cidr;
}

/**
 * CapGrant Dsts: the node's own addresses among `dsts`. Tailscale grants capabilities to nodes, never
 * to the subnets or exit routes they serve (recorded compatibility cases).
 */
function ownCidrs(dsts: DstEntry[], rec: NodeRec): string[] {
  const out: string[] = [];
  for (const e of dsts) if (rec.addrs.some((a) => a.text === e.text)) out.push(e.cidr);
  return out;
}

