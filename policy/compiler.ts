// PolicyCompiler: one validated policy against one tailnet, compiled per destination node into
// Tailscale's FilterRule shapes (policy.md, "What a policy compiles to"). Selector sets are resolved once
// and kept current incrementally (upsertNode/removeNode/setNow), so a node joining costs a pass over the
// distinct selector sets, not a recompile of the tailnet. Not concurrency-safe; one per active policy.
import { GrantwireError } from '../types/errors.js';
import { TAILNET_V4_RANGE, TAILNET_V6_RANGE, type CapGrant, type FilterRule, type NetPortRange, type RuleOrigin } from '../types/filter-rule.js';
import type { Diagnostic } from '../types/errors.js';
import type { Tailnet, TailnetNode } from '../types/tailnet.js';
import { parsePrefix, type IPPrefix } from '../types/ip.js';
import { AddressTable } from './address-table.js';
import { ERR } from './diagnostics.js';
import { bytesToBig, normalize, rangeSetOfStrings, rangeToCidrs, union, type Range, type RangeSet } from './ip-range.js';
import type { Grant, Policy, Selector } from './model.js';
import { adminsOf, compareEntries, makeNodeRec, type DstEntry, nodeMatches, overlapWithRoute, sameNodeFacts, satisfiesAny, satisfiesPosture, addrInRanges, type NodeRec } from './node-index.js';
import { ALL_PORTS, mergePorts, protoKey } from './ports.js';
import { SelectorSet, selectorKey } from './selector-set.js';
import type { PortRange } from '../types/filter-rule.js';
import { registerCompiler, runPolicyTests } from './policy-tests.js';

export interface NodeFilter {
  rules: FilterRule[];
  /** Index-aligned with `rules`. */
  origins: RuleOrigin[];
  /** nodeAttrs for this node itself. */
  capMap: Record<string, unknown[]>;
}

export interface CompileOptions {
  /** ms since epoch, for posture expiry; default Date.now(). */
  now?: number;
}

interface ProtoGroup {
  protos: number[] | null;
  ports: PortRange[];
}

interface Leg {
  set: SelectorSet;
  groups: Map<string, ProtoGroup>;
  /** The same groups as a list, with ports merged and frozen (shared by every node's rules). */
  groupList: ProtoGroup[];
}

interface CompiledGrant {
  index: number;
  grant: Grant;
  src: SelectorSet;
  legs: Leg[];
  postureKey: string;
  /** One leg without autogroup:self: the common case, compiled without intermediate maps. */
  simple: boolean;
  origin: RuleOrigin;
  capMap: Record<string, unknown[]> | null;
}

const TAILNET_RANGES: RangeSet = rangeSetOfStrings([TAILNET_V4_RANGE, TAILNET_V6_RANGE]);
const EVERYWHERE: RangeSet = rangeSetOfStrings(['0.0.0.0/0', '::/0']);

/** The allow-all quirk for a policy with neither grants nor acls, as an explicit grant. */
function allowAllGrant(policy: Policy): Grant {
  return {
    origin: { kind: 'default', index: 0, file: policy.file, line: 1, col: 1 },
    src: [{ kind: 'all', text: '*' }],
    legs: [{ dst: [{ kind: 'all', text: '*' }], ip: [{ protos: null, ports: [{ ...ALL_PORTS }] }] }],
    app: null,
    srcPosture: [],
    via: [],
  };
}

export class PolicyCompiler {
  private now: number;
  private readonly recs = new Map<string, NodeRec>();
  private readonly admins: Set<string>;
  private readonly users: Tailnet['users'];
  private readonly groupSets = new Map<string, Set<string>>();
  private readonly sets = new Map<string, SelectorSet>();
  private readonly grants: CompiledGrant[] = [];
  /** dst set → grants (indices) using it in a leg. */
  private readonly grantsByDstSet = new Map<SelectorSet, number[]>();
  /** Sets that contain every node as a destination (`*`), or resolve per destination (self). */
  private readonly everyoneDstSets: SelectorSet[] = [];
  private readonly selfDstSets: SelectorSet[] = [];
  /** node → dst sets that contain it via identity, statics or internet. */
  private readonly nodeDstSets = new Map<string, Set<SelectorSet>>();
  /** user login → that user's untagged nodes. */
  private readonly userNodes = new Map<string, Set<string>>();
  private table: AddressTable | null = null;
  private allRoutes: RangeSet | null = null;

  constructor(
    readonly policy: Policy,
    tailnet: Tailnet,
    options: CompileOptions = {},
  ) {
    this.now = options.now ?? Date.now();
    this.admins = adminsOf(tailnet);
    this.users = tailnet.users.map((u) => ({ ...u }));
    for (const [g, members] of policy.groups) this.groupSets.set(g, new Set(members));
    for (const n of tailnet.nodes) this.recs.set(n.name, makeNodeRec(n, this.admins));
    for (const rec of this.recs.values()) this.indexUser(rec, true);
    const grants = policy.allowAll ? [allowAllGrant(policy)] : policy.grants;
    grants.forEach((grant, index) => {
      const src = this.setFor(grant.src);
      const legs: Leg[] = grant.legs.map((l) => {
        const groups = new Map<string, ProtoGroup>();
        for (const spec of l.ip) {
          const k = protoKey(spec.protos);
          const g = groups.get(k) ?? { protos: spec.protos, ports: [] };
          g.ports.push(...spec.ports);
          groups.set(k, g);
        }
        for (const g of groups.values()) {
          g.ports = Object.freeze(mergePorts(g.ports).map((p) => Object.freeze(p))) as PortRange[];
          if (g.protos) g.protos = Object.freeze(g.protos.slice().sort((a, b) => a - b)) as number[];
        }
        return { set: this.setFor(l.dst), groups, groupList: [...groups.values()] };
      });
      let capMap: Record<string, unknown[]> | null = null;
      if (grant.app) {
        capMap = {};
        for (const k of [...grant.app.keys()].sort()) capMap[k] = grant.app.get(k) as unknown[];
        Object.freeze(capMap);
      }
      this.grants.push({
        index,
        grant,
        src,
        legs,
        postureKey: grant.srcPosture.join(','),
        simple: legs.length === 1 && !legs[0].set.hasSelf,
        origin: Object.freeze({ ...grant.origin }),
        capMap,
      });
      for (const l of legs) {
        const list = this.grantsByDstSet.get(l.set) ?? [];
        if (!list.includes(index)) list.push(index);
        this.grantsByDstSet.set(l.set, list);
      }
    });
    for (const set of this.grantsByDstSet.keys()) {
      if (set.everyone) this.everyoneDstSets.push(set);
      if (set.hasSelf) this.selfDstSets.push(set);
    }
    this.buildMemberships();
  }

  private setFor(selectors: Selector[]): SelectorSet {
    const key = selectorKey(selectors);
    let s = this.sets.get(key);
    if (!s) this.sets.set(key, (s = new SelectorSet(key, selectors)));
    return s;
  }

  private indexUser(rec: NodeRec, add: boolean): void {
    if (rec.user === null) return;
    let s = this.userNodes.get(rec.user);
    if (!s) this.userNodes.set(rec.user, (s = new Set()));
    if (add) s.add(rec.name);
    else s.delete(rec.name);
  }

  /** Initial memberships, by index lookups rather than testing every node against every set. */
  private buildMemberships(): void {
    const byTag = new Map<string, string[]>();
    const members: string[] = [];
    const tagged: string[] = [];
    const admins: string[] = [];
    for (const rec of this.recs.values()) {
      for (const t of rec.tags) {
        const l = byTag.get(t);
        if (l) l.push(rec.name);
        else byTag.set(t, [rec.name]);
      }
      if (rec.tagged) tagged.push(rec.name);
      else if (rec.user !== null) members.push(rec.name);
      if (rec.admin) admins.push(rec.name);
    }
    for (const set of this.sets.values()) {
      if (!set.everyone) {
        for (const sel of set.identity) {
          let names: Iterable<string> = [];
          if (sel.kind === 'user') names = this.userNodes.get(sel.login) ?? [];
          else if (sel.kind === 'tag') names = byTag.get(sel.name) ?? [];
          else if (sel.kind === 'group') {
            for (const u of this.groupSets.get(sel.name) ?? []) for (const n of this.userNodes.get(u) ?? []) set.members.add(n);
          } else if (sel.kind === 'autogroup') names = sel.name === 'member' ? members : sel.name === 'tagged' ? tagged : sel.name === 'admin' ? admins : [];
          for (const n of names) set.members.add(n);
        }
      }
      if (set.hasStatics) for (const rec of this.recs.values()) if (set.staticMatch(rec)) set.staticMembers.add(rec.name);
      if (set.hasInternet) for (const rec of this.recs.values()) if (rec.routes.some((r) => r.isDefault)) set.internetMembers.add(rec.name);
    }
    for (const set of this.grantsByDstSet.keys()) {
      for (const n of set.members) this.indexDst(n, set, true);
      for (const n of set.staticMembers) this.indexDst(n, set, true);
      for (const n of set.internetMembers) this.indexDst(n, set, true);
    }
  }

  private indexDst(name: string, set: SelectorSet, add: boolean): void {
    let s = this.nodeDstSets.get(name);
    if (!s) {
      if (!add) return;
      this.nodeDstSets.set(name, (s = new Set()));
    }
    if (add) s.add(set);
    else if (!set.containsAsDst(name)) s.delete(set);
  }

  private identityMatch(set: SelectorSet, rec: NodeRec): boolean {
    for (const sel of set.identity) if (nodeMatches(this.policy, sel, rec, this.groupSets)) return true;
    return false;
  }

  private addressTable(): AddressTable {
    if (!this.table) this.table = new AddressTable(this.recs.values());
    return this.table;
  }

  private routesUnion(): RangeSet {
    if (!this.allRoutes) {
      const v4: Range[] = [];
      const v6: Range[] = [];
      for (const rec of this.recs.values()) for (const r of rec.routes) if (!r.isDefault) (r.family === 4 ? v4 : v6).push(r.range);
      this.allRoutes = { v4: normalize(v4), v6: normalize(v6) };
    }
    return this.allRoutes;
  }

  /** SrcIPs of a grant's full source set (cached per set and posture list). */
  private srcIPs(cg: CompiledGrant): string[] {
    const set = cg.src;
    const cached = set.srcCache.get(cg.postureKey);
    if (cached) return cached;
    const postures = cg.grant.srcPosture;
    let out: string[];
    if (postures.length === 0) {
      let statics = set.statics;
      let names: Iterable<string> = set.members;
      if (set.hasDangerAll) {
        statics = EVERYWHERE;
        names = [];
      } else if (set.hasAll) {
        statics = union(union(statics, TAILNET_RANGES), this.routesUnion());
        // nodes outside the tailnet ranges (hand-written tailnets) are still sources of `*`
        names = [...this.recs.values()].filter((r) => r.addrs.some((a) => !addrInRanges(a, TAILNET_RANGES))).map((r) => r.name);
      }
      out = this.addressTable().toSrcIPs(names, statics);
    } else {
      // Posture is a property of devices: addresses that are not nodes cannot satisfy it (deny by default).
      const names: string[] = [];
      const candidates: Iterable<NodeRec> = set.everyone ? this.recs.values() : [...set.members].map((n) => this.recs.get(n) as NodeRec);
      for (const rec of candidates) if (satisfiesAny(this.policy, rec, postures, this.now)) names.push(rec.name);
      out = this.addressTable().toSrcIPs(names, null);
    }
    set.srcCache.set(cg.postureKey, Object.freeze(out) as string[]);
    return out;
  }

  /** SrcIPs for autogroup:self toward a node of `user`: that user's own untagged devices, if src names them. */
  private selfSrcIPs(cg: CompiledGrant, user: string): string[] {
    const key = `self:${user}|${cg.postureKey}`;
    const set = cg.src;
    const cached = set.srcCache.get(key);
    if (cached) return cached;
    const names: string[] = [];
    for (const n of this.userNodes.get(user) ?? []) {
      const rec = this.recs.get(n) as NodeRec;
      if ((set.everyone || set.members.has(n)) && satisfiesAny(this.policy, rec, cg.grant.srcPosture, this.now)) names.push(n);
    }
    const out = Object.freeze(this.addressTable().toSrcIPs(names, null)) as string[];
    set.srcCache.set(key, out);
    return out;
  }

  /** Destinations of one leg on node `rec`, split by whether they came from autogroup:self. */
  private legDsts(set: SelectorSet, rec: NodeRec, full: Map<string, DstEntry>, self: Map<string, DstEntry>): void {
    if (set.everyone || set.members.has(rec.name)) for (const e of set.everyone ? rec.dstAll : rec.dstAddrs) full.set(e.text, e);
    if (set.staticMembers.has(rec.name)) {
      for (const a of rec.addrs) if (addrInRanges(a, set.statics)) full.set(a.text, { family: a.family, start: a.big, text: a.text, cidr: a.cidr });
      for (const r of rec.routes) {
        if (r.isDefault) continue; // exit routes are reached through autogroup:internet only
        const parts = overlapWithRoute(r, set.statics);
        for (const p of parts) {
          const texts: string[] = [];
          rangeToCidrs(p, r.family, texts);
          for (const t of texts) {
            const cidr = t.includes('/') ? t : `${t}/${r.family === 4 ? 32 : 128}`;
            const pfx = parsePrefix(cidr) as IPPrefix;
            full.set(t, { family: r.family, start: bytesToBig(pfx.bytes), text: t, cidr });
          }
        }
      }
    }
    if (set.internetMembers.has(rec.name)) {
      for (const r of rec.routes) if (r.isDefault) full.set(r.text, { family: r.family, start: r.range.start, text: r.text, cidr: r.text });
    }
    if (set.hasSelf && rec.user !== null) for (const e of rec.dstAddrs) self.set(e.text, e);
  }

  /** Destinations of a one-leg, non-self grant on `rec`, sorted; shared arrays in the common cases. */
  private simpleDsts(set: SelectorSet, rec: NodeRec): DstEntry[] {
    if (!set.hasStatics && !set.hasInternet) return set.everyone ? rec.dstAll : set.members.has(rec.name) ? rec.dstAddrs : [];
    const full = new Map<string, DstEntry>();
    this.legDsts(set, rec, full, new Map());
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
      rules.push(g.protos === null ? { SrcIPs: srcIPs, DstPorts: dstPorts } : { SrcIPs: srcIPs, DstPorts: dstPorts, IPProto: g.protos });
      origins.push(cg.origin);
    }
    if (cg.capMap) {
      const cap = dsts === rec.dstAddrs ? rec.capAddrs : dsts === rec.dstAll ? rec.capAll : dsts.map(cidrOf);
      rules.push({ SrcIPs: srcIPs, CapGrant: [{ Dsts: cap, CapMap: cg.capMap }] });
      origins.push(cg.origin);
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
      for (const set of this.selfDstSets) for (const i of this.grantsByDstSet.get(set) ?? []) if (this.grants[i].src.members.has(name)) idx.add(i);
    }
    const order = Int32Array.from(idx).sort();
    const rules: FilterRule[] = [];
    const origins: RuleOrigin[] = [];
    for (const gi of order) {
      const cg = this.grants[gi];
      if (cg.simple) {
        const leg = cg.legs[0];
        const dsts = this.simpleDsts(leg.set, rec);
        if (dsts.length === 0) continue;
        const srcIPs = this.srcIPs(cg);
        if (srcIPs.length === 0) continue;
        this.emitSimple(cg, rec, dsts, srcIPs, rules, origins);
        continue;
      }
      this.compileGeneral(cg, rec, rules, origins);
    }
    return { rules, origins, capMap: this.capMapOf(rec) };
  }

  /** Grants with several legs (acls with per-destination ports) or autogroup:self. */
  private compileGeneral(cg: CompiledGrant, rec: NodeRec, rules: FilterRule[], origins: RuleOrigin[]): void {
    type Acc = Map<string, { protos: number[] | null; dst: Map<string, { e: DstEntry; ports: PortRange[] }> }>;
    const fullGroups: Acc = new Map();
    const selfGroups: Acc = new Map();
    const fullCap = new Map<string, DstEntry>();
    const selfCap = new Map<string, DstEntry>();
    // autogroup:self only applies when the node's owner is among the sources (src is users/groups/member).
    const selfOk = rec.user !== null && cg.src.members.has(rec.name);
    for (const leg of cg.legs) {
      const full = new Map<string, DstEntry>();
      const self = new Map<string, DstEntry>();
      this.legDsts(leg.set, rec, full, self);
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
      const srcIPs = isSelf ? this.selfSrcIPs(cg, rec.user as string) : this.srcIPs(cg);
      if (srcIPs.length === 0) continue;
      this.emitGeneral(cg, [...groups.values()], [...cap.values()].sort(compareEntries), srcIPs, rules, origins);
    }
  }

  private capMapOf(rec: NodeRec): Record<string, unknown[]> {
    const acc = new Map<string, unknown[]>();
    for (const na of this.policy.nodeAttrs) {
      const hit = na.target.some((sel) =>
        sel.kind === 'prefix' ? rec.addrs.some((a) => addrInRanges(a, sel.ranges)) : nodeMatches(this.policy, sel, rec, this.groupSets),
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
    return { users: this.users.map((u) => ({ ...u })), nodes: [...this.recs.values()].map((r) => r.node) };
  }

  getNode(name: string): TailnetNode | undefined {
    return this.recs.get(name)?.node;
  }

  /** Nodes an identity or address selector names (tagged nodes only through their tags), sorted. */
  nodesMatching(sel: Selector): string[] {
    const out: string[] = [];
    for (const rec of this.recs.values()) {
      const hit = sel.kind === 'prefix' ? rec.addrs.some((a) => addrInRanges(a, sel.ranges)) : nodeMatches(this.policy, sel, rec, this.groupSets);
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

  currentNow(): number {
    return this.now;
  }

  runTests(): Diagnostic[] {
    return runPolicyTests(this.policy, this);
  }

  /** Every node that receives rules of grant `cg` (its destinations). */
  private dstNodesOf(cg: CompiledGrant, out: Set<string>, selfUsers: Iterable<string>): void {
    for (const leg of cg.legs) {
      const s = leg.set;
      if (s.everyone) {
        for (const n of this.recs.keys()) out.add(n);
        return;
      }
      for (const n of s.members) out.add(n);
      for (const n of s.staticMembers) out.add(n);
      for (const n of s.internetMembers) out.add(n);
      if (s.hasSelf) for (const u of selfUsers) for (const n of this.userNodes.get(u) ?? []) out.add(n);
    }
  }

  /**
   * Applies a node change (old → new, either may be null) to every set; returns the nodes whose filter may
   * have changed. `postureOnly` limits the blast radius to grants with a srcPosture (clock-driven changes).
   */
  private applyChange(name: string, old: NodeRec | null, rec: NodeRec | null, postureOnly: boolean): string[] {
    const affected = new Set<string>([name]);
    if (old) this.indexUser(old, false);
    if (rec) this.indexUser(rec, true);
    const routesChanged = (old?.routes.map((r) => r.text).join() ?? '') !== (rec?.routes.map((r) => r.text).join() ?? '');
    const outside = [old, rec].some((r) => r?.addrs.some((a) => !addrInRanges(a, TAILNET_RANGES)));
    const changedAll = new Set<SelectorSet>();
    const changedPosture = new Set<SelectorSet>();
    for (const set of this.sets.values()) {
      const wasM = old ? set.everyone || set.members.has(name) : false;
      const isM = rec ? set.everyone || this.identityMatch(set, rec) : false;
      if (!set.everyone) {
        if (isM) set.members.add(name);
        else set.members.delete(name);
      }
      const wasS = set.staticMembers.has(name);
      const isS = rec ? set.staticMatch(rec) : false;
      if (isS) set.staticMembers.add(name);
      else set.staticMembers.delete(name);
      const isI = rec !== null && set.hasInternet && rec.routes.some((r) => r.isDefault);
      if (isI) set.internetMembers.add(name);
      else set.internetMembers.delete(name);
      if (this.grantsByDstSet.has(set)) {
        if (set.containsAsDst(name) && !set.everyone) this.indexDst(name, set, true);
        else this.indexDst(name, set, false);
      }
      void wasS;
      if (wasM || isM) {
        if (set.everyone && !postureOnly) {
          if (routesChanged || outside || set.hasDangerAll) changedAll.add(set);
          else changedPosture.add(set);
        } else if (set.everyone || postureOnly) changedPosture.add(set);
        else changedAll.add(set);
      } else if (set.hasAll && routesChanged) changedAll.add(set);
    }
    for (const set of changedAll) set.srcCache.clear();
    for (const set of changedPosture) for (const k of [...set.srcCache.keys()]) if (k !== '') set.srcCache.delete(k);
    this.table = null;
    if (routesChanged) this.allRoutes = null;
    const selfUsers = [old?.user, rec?.user].filter((u): u is string => typeof u === 'string');
    for (const cg of this.grants) {
      const hit = changedAll.has(cg.src) || (changedPosture.has(cg.src) && cg.grant.srcPosture.length > 0);
      if (hit) this.dstNodesOf(cg, affected, selfUsers);
      else if (changedPosture.has(cg.src) || changedAll.has(cg.src)) continue;
    }
    return [...affected].sort();
  }

  upsertNode(node: TailnetNode): string[] {
    const old = this.recs.get(node.name) ?? null;
    const rec = makeNodeRec(node, this.admins);
    this.recs.set(node.name, rec);
    if (old && sameNodeFacts(old, rec)) {
      rec.postureCache = old.postureCache;
      return [node.name];
    }
    return this.applyChange(node.name, old, rec, false);
  }

  removeNode(name: string): string[] {
    const old = this.recs.get(name);
    if (!old) return [];
    this.recs.delete(name);
    const affected = this.applyChange(name, old, null, false).filter((n) => n !== name);
    this.nodeDstSets.delete(name);
    return affected;
  }

  setNow(now: number): string[] {
    const before = this.now;
    this.now = now;
    const lo = Math.min(before, now);
    const hi = Math.max(before, now);
    const affected = new Set<string>();
    for (const rec of this.recs.values()) {
      const exp = rec.node.postureExpiry;
      if (!exp) continue;
      if (!Object.values(exp).some((t) => t > lo && t <= hi)) continue;
      const prior = new Map(rec.postureCache);
      rec.postureCache.clear();
      let changed = false;
      for (const p of this.policy.postures.keys()) {
        const v = satisfiesPosture(this.policy, rec, p, now);
        if (prior.has(p) ? prior.get(p) !== v : true) changed = true;
      }
      if (!changed) continue;
      for (const n of this.applyChange(rec.name, rec, rec, true)) affected.add(n);
    }
    return [...affected].sort();
  }

  nextExpiry(): number | null {
    let best: number | null = null;
    for (const rec of this.recs.values()) {
      for (const t of Object.values(rec.node.postureExpiry ?? {})) if (t > this.now && (best === null || t < best)) best = t;
    }
    return best;
  }
}

function compareDst(a: { e: DstEntry }, b: { e: DstEntry }): number {
  return compareEntries(a.e, b.e);
}

function cidrOf(e: DstEntry): string {
  return e.cidr;
}

// policy-tests.ts builds a compiler over an augmented tailnet; registering here avoids an import cycle.
registerCompiler(PolicyCompiler);
