// Serialized netmap parts per node, cached between flushes (control/coordinator.ts drives it). Peer and
// self entries, compiled filters and the user-profile list are kept as JSON strings and rebuilt only when
// invalidated; a rebuilt string identical to the old one keeps the old reference, so the per-stream "did it
// change?" checks in netmap-diff.ts stay pointer comparisons even for 10,000 streams.
//
// Invariant: a peer entry can only change together with peersChanged = true, and the coordinator then marks
// every stream dirty, so every stream holds the previous shared peer map (see currentPeers).
import { TAGGED_DEVICES_USER } from '../types/netmap.js';
import type { FilterRule } from '../types/filter-rule.js';
import { originsJson, rulesJson } from './filter-json.js';
import type { NetmapParts } from './netmap-diff.js';
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
  private peersChanged = true;

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
        pj = JSON.stringify(netmapNodeOf(n, this.src.isOnline(n.id), false));
        this.peerJson.set(n.id, pj);
      }
      out.set(n.id, pj);
    }
    return out;
  }

  /** One node's current netmap parts (compiling its filter if stale); null if it has no netmap. */
  parts(id: number, peers: Map<number, string>, now: number): NetmapParts | null {
    const self = this.src.nodes.get(id);
    const compiler = this.src.compiler();
    if (!self || !isNodeActive(self, now) || !compiler) return null;
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
      this.filterJson.set(id, filter);
      this.filterStale.delete(id);
    }
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
    return { selfId: id, self: selfJson, peers, userProfiles: this.userProfilesJson as string, filter, policyVersion: this.src.policyVersion(), relayMap: this.src.relayMap?.() };
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

/** Same length and the same objects at every index. */
function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
