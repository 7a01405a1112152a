// The policy resolved against a tailnet: node records, one SelectorSet per distinct selector list with
// its members kept current, per-destination indexes, and cached SrcIPs. upsertNode/removeNode/setNow
// update all of it incrementally (one pass over the distinct selector sets, not a recompile) and say
// which nodes' filters may have changed. PolicyCompiler (compiler.ts) owns one and turns this state into
// rules: it reads the public readonly indexes below (mutated only by this class's update methods) and
// asks for SrcIPs through srcIPs/selfSrcIPs. Not concurrency-safe; one per active policy.
import { TAILNET_V4_RANGE, TAILNET_V6_RANGE, type PortRange, type RuleOrigin } from '../types/filter-rule.js';
import type { Tailnet, TailnetNode } from '../types/tailnet.js';
import { AddressTable } from './address-table.js';
import { normalize, rangeSetOfStrings, union, type Range, type RangeSet } from './ip-range.js';
import type { Grant, Policy, Selector } from './model.js';
import { addrInRanges, adminsOf, makeNodeRec, nodeMatches, sameNodeFacts, satisfiesAny, satisfiesPosture, type NodeRec } from './node-index.js';
import { ALL_PORTS, mergePorts, protoKey } from './ports.js';
import { SelectorSet, selectorKey } from './selector-set.js';
import { loginMatches, WILDCARD_SRC_RANGES } from './wildcard.js';
import { companionCapMap } from './known-caps.js';

export interface CompileOptions {
  /** ms since epoch, for posture expiry; default Date.now(). */
  now?: number;
}

export interface ProtoGroup {
  protos: number[] | null;
  ports: PortRange[];
}

export interface Leg {
  set: SelectorSet;
  groups: Map<string, ProtoGroup>;
  /** The same groups as a list, with ports merged and frozen (shared by every node's rules). */
  groupList: ProtoGroup[];
}

export interface CompiledGrant {
  index: number;
  grant: Grant;
  src: SelectorSet;
  legs: Leg[];
  postureKey: string;
  /** One leg without autogroup:self: the common case, compiled without intermediate maps. */
  simple: boolean;
  /** One leg whose only destination is autogroup:self (the other common case). */
  selfOnly: boolean;
  origin: RuleOrigin;
  capMap: Record<string, unknown[]> | null;
  /** Companion capabilities the sources receive back from the destinations (known-caps.ts), or null. */
  companions: Record<string, unknown[]> | null;
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

export class ResolvedTailnet {
  private now: number;
  readonly recs = new Map<string, NodeRec>();
  private admins: Set<string>;
  private users: Tailnet['users'];
  readonly groupSets = new Map<string, Set<string>>();
  private readonly sets = new Map<string, SelectorSet>();
  readonly grants: CompiledGrant[] = [];
  /** dst set → grants (indices) using it in a leg. */
  readonly grantsByDstSet = new Map<SelectorSet, number[]>();
  /** Sets that contain every node as a destination (`*`), or resolve per destination (self). */
  readonly everyoneDstSets: SelectorSet[] = [];
  readonly selfDstSets: SelectorSet[] = [];
  /** node → dst sets that contain it via identity, statics or internet. */
  readonly nodeDstSets = new Map<string, Set<SelectorSet>>();
  /** user login → that user's untagged nodes. */
  private readonly userNodes = new Map<string, Set<string>>();
  /** autogroup:self sources: owner login → posture key → SrcIPs. */
  private readonly selfCache = new Map<string, Map<string, string[]>>();
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
        selfOnly: legs.length === 1 && legs[0].set.selectors.every((x) => x.kind === 'autogroup' && x.name === 'self'),
        origin: Object.freeze({ ...grant.origin }),
        capMap,
        companions: companionCapMap(capMap),
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
          if (sel.kind === 'user') names = sel.login.startsWith('*@') ? [...this.userNodes].filter(([u]) => loginMatches(sel.login, u)).flatMap(([, s]) => [...s]) : (this.userNodes.get(sel.login) ?? []);
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
    for (const sel of set.identity) if (nodeMatches(sel, rec, this.groupSets)) return true;
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
  srcIPs(cg: CompiledGrant): string[] {
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
        statics = union(union(statics, WILDCARD_SRC_RANGES), this.routesUnion());
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
  selfSrcIPs(cg: CompiledGrant, user: string): string[] {
    // The owner's untagged devices that pass the posture. Which src set named the owner does not
    // matter: autogroup:self is only valid with users, groups and autogroup:member, which match all of
    // a user's untagged devices alike, and the caller has checked the owner is a source.
    let byPosture = this.selfCache.get(user);
    if (!byPosture) this.selfCache.set(user, (byPosture = new Map()));
    const cached = byPosture.get(cg.postureKey);
    if (cached) return cached;
    const names: string[] = [];
    for (const n of this.userNodes.get(user) ?? []) {
      if (satisfiesAny(this.policy, this.recs.get(n) as NodeRec, cg.grant.srcPosture, this.now)) names.push(n);
    }
    const out = Object.freeze(this.addressTable().toSrcIPs(names, null)) as string[];
    byPosture.set(cg.postureKey, out);
    return out;
  }


  currentNow(): number {
    return this.now;
  }

  /** The tailnet as it currently stands (after every update). */
  tailnet(): Tailnet {
    return { users: this.users.map((u) => ({ ...u })), nodes: [...this.recs.values()].map((r) => r.node) };
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

  /** Every node that is a source of grant `cg` (it receives the grant's companion rules). */
  protected srcNodesOf(cg: CompiledGrant, out: Set<string>): void {
    const s = cg.src;
    if (s.everyone) for (const n of this.recs.keys()) out.add(n);
    for (const n of s.members) out.add(n);
    for (const n of s.staticMembers) out.add(n);
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
    // The address table follows the node's addresses in place (a rebuild sorts every address again).
    if (this.table && (old === null || rec === null || !sameAddrs(old, rec))) this.table.set(name, rec?.addrs ?? []);
    if (routesChanged) this.allRoutes = null;
    const selfUsers = [old?.user, rec?.user].filter((u): u is string => typeof u === 'string');
    for (const u of selfUsers) this.selfCache.delete(u);
    for (const cg of this.grants) {
      // A posture-only change matters to grants that check posture; an identity change to all of them.
      if (changedAll.has(cg.src) || (changedPosture.has(cg.src) && cg.grant.srcPosture.length > 0)) this.dstNodesOf(cg, affected, selfUsers);
      // Companion rules (known-caps.ts) live on the sources and list the destinations.
      if (cg.companions && cg.legs.some((l) => changedAll.has(l.set) || l.set.hasSelf)) this.srcNodesOf(cg, affected);
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

  /**
   * Replaces the user list (roles decide autogroup:admin); returns the nodes whose filter may have
   * changed, like upsertNode.
   */
  setUsers(users: Tailnet['users']): string[] {
    this.users = users.map((u) => ({ ...u }));
    this.admins = adminsOf({ users, nodes: [] });
    const affected = new Set<string>();
    for (const old of [...this.recs.values()]) {
      if ((old.user !== null && this.admins.has(old.user)) === old.admin) continue;
      const rec = makeNodeRec(old.node, this.admins);
      this.recs.set(rec.name, rec);
      for (const n of this.applyChange(rec.name, old, rec, false)) affected.add(n);
    }
    return [...affected].sort();
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

function sameAddrs(a: NodeRec, b: NodeRec): boolean {
  if (a.addrs.length !== b.addrs.length) return false;
  for (let i = 0; i < a.addrs.length; i++) if (a.addrs[i].text !== b.addrs[i].text) return false;
  return true;
}
