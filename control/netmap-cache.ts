// Serialized netmap parts per node, cached between flushes (control/coordinator.ts drives it). Peer and
// self entries, compiled filters and the user-profile list are kept as JSON strings and rebuilt only when
// invalidated; a rebuilt string identical to the old one keeps the old reference, so the per-stream "did it
// change?" checks in netmap-diff.ts stay pointer comparisons even for 10,000 streams.
//
// Invariant: a peer entry can only change together with peersChanged = true, and the coordinator then marks
// every stream dirty, so every stream holds the previous shared peer map (see currentPeers).
//
// Which of the shared peer entries a node is sent is its VisibleSet (peer-visibility.ts), computed from every
// active node's compiled rules; so before any node's parts are built, sync() compiles every stale filter
// (not only those of streaming nodes) and updates the visibility, collecting the nodes whose set changed for
// the next flush (takeVisibilityChanges).
import { TAGGED_DEVICES_USER } from '../types/netmap.js';
import type { FilterRule } from '../types/filter-rule.js';
import { originsJson, rulesJson } from './filter-json.js';
import type { NetmapParts } from './netmap-diff.js';
import { PeerVisibility } from './peer-visibility.js';
import type { NodeCompiler } from './policy-engine.js';
import type { NodeRow, UserRow } from './store.js';
import { isNodeActive, netmapNodeOf, userProfileOf } from './views.js';

/** What the cache reads from the coordinator's state. */
export interface NetmapSource {
  readonly nodes: ReadonlyMap<number, NodeRow>;
  readonly users: ReadonlyMap<number, UserRow>;
  compiler(): NodeCompiler | null;
  isOnline(id: number): boolean;
  policyVersion(): number;
  /** The subnet routes this node is the primary router for (route-primary.ts); none when absent. */
  primaryRoutes?(id: number): readonly string[];
  /** For one viewer, routers whose routes differ from their primaries (`via`, route-steering.ts); null: none. */
  steering?(viewerId: number): Map<number, readonly string[]> | null;
  /** Serialized RelayMap, or undefined without relays. */
  relayMap?(): string | undefined;
}

export interface NetmapStats {
  netmapsBuilt: number;
  filterCompiles: number;
}

export class NetmapCache {
  private peerJson = new Map<number, string>();
  private selfJson = new Map<number, string>();
  private filterJson = new Map<number, string>();
  private filterStale = new Set<number>();
  /** The rules and capMap text each filterJson entry was built from (to spot an unchanged recompile). */
  private filterFrom = new Map<number, { rules: readonly FilterRule[]; json: string[]; capMap: string }>();
  private userProfilesJson: string | null = null;
  private userProfilesStale = true;
  private sharedPeers: Map<number, string> | null = null;
  /** Per-viewer peer maps where `via` steering changed some routers' entries (kept while unchanged). */
  private steered = new Map<number, { base: Map<number, string>; sig: string; peers: Map<number, string> }>();
  private peersChanged = true;
  private vis = new PeerVisibility();
  /** A new compiler: visibility is rebuilt from scratch at the next sync. */
  private visRebuild = true;
  /** Nodes whose row changed since the last sync (joined, left, expired, routes). */
  private readonly visPending = new Set<number>();
  /** Nodes whose visible set changed since the last takeVisibilityChanges(). */
  private readonly visChanged = new Set<number>();

  constructor(
    private readonly src: NetmapSource,
    private readonly stats: NetmapStats,
  ) {}

  /** A node's own row changed (or it was removed): its peer and self entries and the profiles are stale. */
  nodeChanged(id: number, removed: boolean): void {
    this.peerJson.delete(id);
    this.selfJson.delete(id);
    this.peersChanged = true;
    this.userProfilesStale = true;
    this.visPending.add(id);
    if (removed) {
      this.filterJson.delete(id);
      this.filterStale.delete(id);
      this.filterFrom.delete(id);
    }
  }

  onlineChanged(id: number): void {
    this.peerJson.delete(id);
    this.peersChanged = true;
  }

  filterChanged(id: number): void {
    this.filterStale.add(id);
  }

  /** New compiler (policy or users changed): everything is stale. */
  allChanged(): void {
    for (const id of this.filterJson.keys()) this.filterStale.add(id);
    this.filterFrom.clear(); // the old compiler's rules: never identical to a new compiler's
    this.peerJson.clear();
    this.selfJson.clear();
    this.peersChanged = true;
    this.userProfilesStale = true;
    this.visRebuild = true;
  }

  /** Nodes whose visible peers changed since the last call (the flush sends them a delta). */
  takeVisibilityChanges(): number[] {
    const out = [...this.visChanged];
    this.visChanged.clear();
    return out;
  }

  /**
   * Compiles every stale filter of an active node and brings the visibility up to date. Cheap when nothing
   * changed. Rebuilds from scratch after a new compiler, or once removed nodes' slots outnumber live ones.
   */
  sync(now: number): void {
    const compiler = this.src.compiler();
    if (!compiler) return;
    if (this.visRebuild || this.vis.deadSlots() > Math.max(1024, this.vis.size)) {
      // After a new compiler the nodes keep their slots, so unchanged visible sets keep their snapshot
      // objects (and changed ones diff word by word); when dead slots pile up, start afresh.
      this.vis = this.visRebuild && this.vis.deadSlots() <= Math.max(1024, this.vis.size) ? new PeerVisibility(this.vis) : new PeerVisibility();
      this.visRebuild = false;
      this.visPending.clear();
      const active: NodeRow[] = [];
      for (const n of this.src.nodes.values()) if (isNodeActive(n, now)) active.push(n);
      const byId = new Map(active.map((n) => [n.id, n]));
      this.vis.load(
        active.map((n) => ({ id: n.id, addresses: [n.v4, n.v6], routes: n.routes })),
        (id) => this.filter(byId.get(id) as NodeRow, compiler).rules.map(srcOf),
      );
      for (const id of this.vis.drainChanged()) this.visChanged.add(id);
      return;
    }
    if (this.visPending.size === 0 && this.filterStale.size === 0) return;
    /** Nodes new to the visibility (joined, or active again): their sources are set whatever the cache holds. */
    const fresh = new Set<number>();
    for (const id of this.visPending) {
      const n = this.src.nodes.get(id);
      if (!n || !isNodeActive(n, now)) {
        this.vis.removeNode(id);
        continue;
      }
      if (!this.vis.hasNode(id)) fresh.add(id);
      this.vis.setNode(id, [n.v4, n.v6], n.routes);
    }
    this.visPending.clear();
    for (const id of [...this.filterStale, ...fresh]) {
      const n = this.src.nodes.get(id);
      if (!n || !isNodeActive(n, now)) {
        // recompiled when it is active again: the compiler names it then (upsertNode)
        this.filterStale.delete(id);
        continue;
      }
      const before = this.filterFrom.get(id)?.rules;
      const after = this.filter(n, compiler).rules;
      if (before === undefined || fresh.has(id) || !sameItems(before, after)) this.vis.setSources(id, after.map(srcOf));
    }
    for (const id of this.vis.drainChanged()) this.visChanged.add(id);
  }

  /** The shared peer map for this flush, and the previous flush's (null the first time or when unchanged). */
  nextPeers(now: number): { prev: Map<number, string> | null; cur: Map<number, string> } {
    const prev = this.sharedPeers;
    if (this.sharedPeers === null || this.peersChanged) {
      this.sharedPeers = this.peerParts(now);
      this.peersChanged = false;
    }
    return { prev: prev === this.sharedPeers ? null : prev, cur: this.sharedPeers };
  }

  /** Every active node's serialized peer entry, in id order. */
  peerParts(now: number): Map<number, string> {
    const out = new Map<number, string>();
    for (const n of this.src.nodes.values()) {
      if (!isNodeActive(n, now)) continue;
      let pj = this.peerJson.get(n.id);
      if (pj === undefined) {
        pj = JSON.stringify(netmapNodeOf(n, this.src.isOnline(n.id), false, this.src.primaryRoutes?.(n.id)));
        this.peerJson.set(n.id, pj);
      }
      out.set(n.id, pj);
    }
    return out;
  }

  /** One node's current netmap parts (compiling stale filters first); null if it has no netmap. */
  parts(id: number, peers: Map<number, string>, now: number): NetmapParts | null {
    const self = this.src.nodes.get(id);
    const compiler = this.src.compiler();
    if (!self || !isNodeActive(self, now) || !compiler) return null;
    this.sync(now);
    const visible = this.vis.visible(id);
    if (visible === null) return null;
    const filter = this.filter(self, compiler).json;
    if (this.userProfilesJson === null || this.userProfilesStale) {
      const fresh = this.buildUserProfiles(now);
      if (fresh !== this.userProfilesJson) this.userProfilesJson = fresh;
      this.userProfilesStale = false;
    }
    let selfJson = this.selfJson.get(id);
    if (selfJson === undefined) {
      selfJson = JSON.stringify(netmapNodeOf(self, true, true));
      this.selfJson.set(id, selfJson);
    }
    this.stats.netmapsBuilt++;
    peers = this.steeredPeers(id, peers, now);
    return { selfId: id, self: selfJson, peers, visible, userProfiles: this.userProfilesJson as string, filter, policyVersion: this.src.policyVersion(), relayMap: this.src.relayMap?.() };
  }

  /** A node's compiled filter and its serialized form, compiled again only when stale. */
  private filter(self: NodeRow, compiler: NodeCompiler): { rules: readonly FilterRule[]; json: string } {
    const id = self.id;
    let filter = this.filterJson.get(id);
    if (filter === undefined || this.filterStale.has(id)) {
      const c = compiler.compileNode(self.hostname);
      this.stats.filterCompiles++;
      const capMap = JSON.stringify(c.capMap ?? {});
      // The compiler hands back the very same frozen rule objects for rules whose inputs did not change
      // (policy/compiler.ts), and a rule object implies its origin: same objects, same text.
      const from = this.filterFrom.get(id);
      let json = from?.json ?? [];
      if (filter === undefined || from === undefined || from.capMap !== capMap || !sameItems(from.rules, c.rules)) {
        json = new Array<string>(c.rules.length);
        const fresh = `"packetFilter":${rulesJson(c.rules, from, json)},"packetFilterOrigins":${originsJson(c.origins)},"capMap":${capMap}`;
        if (fresh !== filter) filter = fresh;
      }
      this.filterFrom.set(id, { rules: c.rules, json, capMap });
      this.filterJson.set(id, filter as string);
      this.filterStale.delete(id);
    }
    return { rules: (this.filterFrom.get(id) as { rules: readonly FilterRule[] }).rules, json: filter };
  }

  /** The shared peer map, or this viewer's copy with steered router entries (same reference while unchanged). */
  private steeredPeers(viewer: number, base: Map<number, string>, now: number): Map<number, string> {
    const o = this.src.steering?.(viewer) ?? null;
    if (!o || o.size === 0) {
      this.steered.delete(viewer);
      return base;
    }
    const sig = JSON.stringify([...o]);
    const old = this.steered.get(viewer);
    if (old && old.base === base && old.sig === sig) return old.peers;
    const peers = new Map(base);
    for (const [rid, routes] of o) {
      const n = this.src.nodes.get(rid);
      if (n && isNodeActive(n, now) && peers.has(rid)) peers.set(rid, JSON.stringify(netmapNodeOf(n, this.src.isOnline(rid), false, routes)));
    }
    this.steered.set(viewer, { base, sig, peers });
    return peers;
  }

  /** Owners of untagged active nodes, then the tagged-devices pseudo-user if any node is tagged. */
  private buildUserProfiles(now: number): string {
    const ids = new Set<number>();
    let tagged = false;
    for (const n of this.src.nodes.values()) {
      if (!isNodeActive(n, now)) continue;
      if (n.tags.length > 0) tagged = true;
      else ids.add(n.userId);
    }
    const profiles = [...ids].sort((a, b) => a - b).flatMap((uid) => {
      const u = this.src.users.get(uid);
      return u ? [userProfileOf(u)] : [];
    });
    if (tagged) profiles.push(TAGGED_DEVICES_USER);
    return JSON.stringify(profiles);
  }
}

function srcOf(r: FilterRule): readonly string[] {
  return r.SrcIPs;
}

/** Same length and the same objects at every index. */
function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
