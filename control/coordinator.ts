// The coordinator: wires control's parts together and decides what a change touches. It owns the active
// policy and its compiler; the rows live in StateView (state-view.ts), the live streams and their coalescing
// flush in MapStreams (map-streams.ts), the deadlines in ExpiryScheduler and EphemeralReaper, and other
// processes' commits arrive through ChangeFeed. After a change it names the nodes whose netmaps may differ,
// and only those are rebuilt and sent.
//
// Invariants
// - The Store is the source of truth; every in-memory change is written there first. Changes made by other
//   processes (admin commands) arrive through the `changes` table, polled every pollIntervalMs.
// - The compiler sees exactly the active (unexpired) nodes. A node change goes through upsertNode /
//   removeNode, which name the nodes whose filters may have changed; only their compiled rules are redone.
// - Every active node's serialized peer entry is shared; a change to one (join, leave, endpoints, online,
//   tags) makes every streaming node dirty. Which entries a node is sent follows the policy (the nodes it
//   may reach or be reached by, peer-visibility.ts); nodes whose set changes get a delta too.
//
// Single-threaded; timers are unref'd so a forgotten coordinator does not keep a process alive.
import type { Diagnostic } from '../types/errors.js';
import type { Hostinfo, RelayMap } from '../types/netmap.js';
import type { Tailnet } from '../types/tailnet.js';
import { expireDue, grantToNewNode, nextAccessDeadline } from './access-requests.js';
import { expireAttrs } from './attr-expiry.js';
import { recordAudit, withActor } from './audit-log.js';
import { addPolicyVersion } from './policy-store.js';
import { ChangeFeed } from './change-feed.js';
import { EphemeralReaper } from './ephemeral-reaper.js';
import { ExpiryScheduler } from './expiry-scheduler.js';
import type { Logger } from './logger.js';
import { MapStreams, type MapSubscriber } from './map-streams.js';
import type { NodeCompiler, PolicyCheck, PolicyEngine, TagPolicy } from './policy-engine.js';
import { NetmapCache } from './netmap-cache.js';
import { fullMessage } from './netmap-diff.js';
import { registerNode, type RegisterInput, type RegisterOutcome } from './registration.js';
import { PrimaryRoutes } from './route-primary.js';
import { steer } from './route-steering.js';
import { parseIP } from '../types/ip.js';
import type { FilterRule } from '../types/filter-rule.js';
import { NO_AUTO_APPROVER, PRIMARY_ROUTES_META, reconcileRoutes, routeApprover, type RouteApprover } from './routes.js';
import { StateView } from './state-view.js';
import type { NodeRow, PolicyRow, Store } from './store.js';
import { isNodeActive } from './views.js';

export type { MapSubscriber } from './map-streams.js';

/** Policy used when none was ever stored: deny everything, and say so (see serve --help). */
export const DENY_ALL_POLICY = '{"grants": []}\n';

export interface CoordinatorOptions {
  store: Store;
  engine: PolicyEngine;
  logger: Logger;
  ephemeralTimeoutMs?: number;
  nodeKeyExpiryMs?: number;
  pollIntervalMs?: number;
  /** Delay before dirty netmaps are rebuilt, so a burst of changes costs one rebuild. */
  flushDelayMs?: number;
  now?: () => number;
}

export interface SetPolicyResult {
  ok: boolean;
  diagnostics: Diagnostic[];
  version?: number;
}

const DEFAULT_EPHEMERAL_TIMEOUT_MS = 5 * 60_000;

export class Coordinator {
  readonly store: Store;
  private readonly engine: PolicyEngine;
  private readonly log: Logger;
  private readonly now: () => number;
  readonly ephemeralTimeoutMs: number;
  private relayMapJson: string | undefined;
  private readonly nodeKeyExpiryMs: number | undefined;
  private readonly pollIntervalMs: number;

  private readonly state: StateView;
  private readonly cache: NetmapCache;
  private readonly streams: MapStreams;
  private readonly expiry: ExpiryScheduler;
  private readonly reaper: EphemeralReaper;
  private readonly feed: ChangeFeed;
  private policy: PolicyRow = { id: 0, file: 'default', text: DENY_ALL_POLICY, created: 0 };
  /** The active policy's tag ownership and allow-all flag, from the engine (control never parses policy text). */
  private tagRules: TagPolicy;
  private compiler: NodeCompiler | null = null;
  /** The active policy's autoApprovers (routes.ts) and the elected primary routers (route-primary.ts). */
  private approver: RouteApprover = NO_AUTO_APPROVER;
  private readonly primaries = new PrimaryRoutes();
  /** Compiled rules of routers serving shared routes, for steering; cleared whenever filters may change. */
  private routerRules = new Map<number, readonly FilterRule[]>();
  /** Nodes the compiler currently knows (active ones), by id → name. */
  private compiled = new Map<number, string>();

  private pollTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Counters for tests and the admin API. */
  readonly stats = { netmapsBuilt: 0, netmapsSent: 0, filterCompiles: 0, fullRebuilds: 0, externalChanges: 0 };

  constructor(opts: CoordinatorOptions) {
    this.store = opts.store;
    this.engine = opts.engine;
    this.tagRules = this.engine.tags(DENY_ALL_POLICY, 'default');
    this.log = opts.logger;
    this.now = opts.now ?? Date.now;
    this.ephemeralTimeoutMs = opts.ephemeralTimeoutMs ?? DEFAULT_EPHEMERAL_TIMEOUT_MS;
    this.nodeKeyExpiryMs = opts.nodeKeyExpiryMs;
    this.pollIntervalMs = opts.pollIntervalMs ?? 200;
    const state = (this.state = new StateView(this.store));
    this.cache = new NetmapCache(
      {
        // Getters, because StateView.load replaces the maps.
        get nodes() {
          return state.nodes;
        },
        get users() {
          return state.users;
        },
        compiler: () => this.compiler,
        isOnline: (id) => this.streams.isOnline(id),
        policyVersion: () => this.policy.id,
        primaryRoutes: (id) => this.primaries.routesOf(id),
        steering: (viewer) => this.steeringFor(viewer),
        relayMap: () => this.relayMapJson,
      },
      this.stats,
    );
    this.streams = new MapStreams({ cache: this.cache, now: this.now, flushDelayMs: opts.flushDelayMs ?? 20, stats: this.stats });
    this.expiry = new ExpiryScheduler({
      next: (now) => Math.min(this.compiler?.nextExpiry() ?? Infinity, this.state.nextExpiry(now), nextAccessDeadline(this.store)),
      onDue: () => this.onExpiry(),
      now: this.now,
    });
    this.reaper = new EphemeralReaper((id) => this.onEphemeralDue(id));
    this.feed = new ChangeFeed(this.store, this.stats);
  }

  // ---------------------------------------------------------------- lifecycle

  /** Loads all state, builds the compiler, starts the change feed and timers. */
  start(): void {
    this.feed.start();
    this.loadAll();
    const now = this.now();
    for (const n of this.state.nodes.values()) if (n.ephemeral) this.reaper.schedule(n.id, Math.max(0, (n.lastSeen ?? now) + this.ephemeralTimeoutMs - now));
    this.pollTimer = setInterval(() => this.poll(), this.pollIntervalMs);
    this.pollTimer.unref();
    this.expiry.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.streams.stop();
    this.expiry.stop();
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.reaper.stop();
  }

  /** Relays and STUN servers every full netmap carries (control/relay-hook.ts builds it once listening). */
  setRelayMap(m: RelayMap | null): void {
    this.relayMapJson = m && m.relays.length > 0 ? JSON.stringify(m) : undefined;
  }

  /** The relay's question (relay/server.ts): is this node key a registered node that is not expired? */
  isNodeKeyAuthorized(nodeKey: string): boolean {
    const n = this.state.nodeByNodeKey(nodeKey);
    return n !== null && isNodeActive(n, this.now());
  }

  get policyVersion(): number {
    return this.policy.id;
  }

  get activePolicy(): PolicyRow {
    return this.policy;
  }

  /** True when the active policy has neither grants nor acls (Tailscale's allow-all quirk). */
  get policyAllowsAll(): boolean {
    return this.tagRules.allowAll;
  }

  private loadAll(): void {
    this.state.load();
    const p = this.store.activePolicy();
    if (p) this.policy = p;
    this.rebuildCompiler();
  }

  /**
   * A fresh compiler over the active policy and every active node; marks every node dirty. Public for the
   * benchmark's baseline (what a join would cost without incremental updates).
   */
  rebuildCompiler(): void {
    const now = this.now();
    this.reconcileAllRoutes();
    const tailnet = this.state.tailnet(now);
    try {
      this.compiler = this.engine.compiler(this.policy.text, this.policy.file, tailnet, now);
      this.tagRules = this.engine.tags(this.policy.text, this.policy.file);
    } catch (err) {
      // Only reachable if a stored policy stopped compiling (e.g. after an engine upgrade). Fail closed.
      this.log.log('error', 'active policy does not compile; serving deny-all', { version: this.policy.id, error: (err as Error).message });
      this.compiler = this.engine.compiler(DENY_ALL_POLICY, 'deny-all', tailnet, now);
      this.tagRules = this.engine.tags(DENY_ALL_POLICY, 'deny-all');
    }
    this.compiled = new Map();
    for (const n of this.state.nodes.values()) if (isNodeActive(n, now)) this.compiled.set(n.id, n.hostname);
    this.stats.fullRebuilds++;
    this.routerRules.clear();
    this.cache.allChanged();
    this.electPrimaries();
    this.streams.markAllDirty();
  }

  // ---------------------------------------------------------------- subnet routes (routes.ts)

  /** New approver for the active policy; every node's effective routes re-derived before compiling. */
  private reconcileAllRoutes(): void {
    try {
      const users = [...this.state.users.values()].map((u) => ({ login: u.login, role: u.role }));
      this.approver = routeApprover(this.policy.text, this.policy.file, users);
    } catch {
      this.approver = NO_AUTO_APPROVER; // a policy that no longer compiles approves nothing (fail closed)
    }
    let changed = false;
    for (const n of this.state.nodes.values()) if (reconcileRoutes(this.store, this.approver, n, this.state.users.get(n.userId), false)) changed = true;
    if (changed) this.state.load();
  }

  /** Per viewer: routers whose routes differ from their primary routes because of `via` (route-steering.ts). */
  private steeringFor(viewerId: number): Map<number, readonly string[]> | null {
    const shared = this.primaries.sharedRoutes();
    const viewer = this.state.node(viewerId);
    if (shared.size === 0 || !viewer || !this.compiler) return null;
    const addrs = [viewer.v4, viewer.v6].map((a) => parseIP(a)?.bytes).filter((b): b is Uint8Array => b !== undefined);
    let out: Map<number, string[]> | null = null;
    for (const [route, ids] of shared) {
      const primary = this.primaries.primaryOf(route);
      if (primary === undefined || ids.includes(viewerId)) continue;
      const routers = ids.map((id) => ({ id, online: this.streams.isOnline(id), rules: this.rulesOf(id) }));
      const chosen = steer(route, primary, routers, addrs);
      if (chosen === primary) continue;
      out ??= new Map();
      for (const id of [primary, chosen]) if (!out.has(id)) out.set(id, [...this.primaries.routesOf(id)]);
      out.set(primary, out.get(primary)!.filter((r) => r !== route));
      out.get(chosen)!.push(route);
    }
    return out;
  }

  private rulesOf(id: number): readonly FilterRule[] {
    let r = this.routerRules.get(id);
    if (!r) {
      const name = this.compiled.get(id);
      try {
        r = name !== undefined && this.compiler ? this.compiler.compileNode(name).rules : [];
      } catch {
        r = [];
      }
      this.routerRules.set(id, r);
    }
    return r;
  }

  /** Re-elects primary routers; peers whose allowed IPs changed get new peer entries on every stream. */
  private electPrimaries(): void {
    const now = this.now();
    const routers = [];
    for (const n of this.state.nodes.values()) if (n.routes.length > 0 && isNodeActive(n, now)) routers.push({ id: n.id, routes: n.routes, online: this.streams.isOnline(n.id) });
    const changed = this.primaries.update(routers);
    if (changed.length === 0) return;
    for (const id of changed) this.cache.onlineChanged(id);
    this.streams.markAllDirty();
    this.store.setMeta(PRIMARY_ROUTES_META, JSON.stringify(this.primaries.snapshot()));
    this.log.log('info', 'primary routes changed', { primaries: JSON.stringify(this.primaries.snapshot()) });
  }

  // ---------------------------------------------------------------- policy

  /** Validates (including `tests`) against the current tailnet; on success stores and activates it. */
  setPolicy(text: string, file: string): SetPolicyResult {
    const tailnet = this.state.tailnet(this.now());
    const check = this.engine.check(text, file, tailnet);
    if (!check.ok) return { ok: false, diagnostics: check.diagnostics };
    const row = addPolicyVersion(this.store, file, text, this.now());
    this.policy = row;
    this.rebuildCompiler();
    this.expiry.schedule();
    this.log.log('info', 'policy activated', { version: row.id, file });
    if (this.tagRules.allowAll) this.log.log('warn', 'the active policy has neither grants nor acls: it ALLOWS ALL traffic (Tailscale compatibility)', { version: row.id });
    return { ok: true, diagnostics: check.diagnostics, version: row.id };
  }

  /**
   * Checks a draft against the live tailnet without activating it; with a compiler when it passed (the
   * console's diagnostics-as-you-type and reachability preview). `text` null: the active policy.
   */
  draft(text: string | null, file: string): { check: PolicyCheck; tailnet: Tailnet; compiler: NodeCompiler | null } {
    const now = this.now();
    const tailnet = this.state.tailnet(now);
    const t = text ?? this.policy.text;
    const f = text === null ? this.policy.file : file;
    const check = this.engine.check(t, f, tailnet);
    return { check, tailnet, compiler: check.ok ? this.engine.compiler(t, f, tailnet, now) : null };
  }

  // ---------------------------------------------------------------- registration and node changes

  register(input: RegisterInput): RegisterOutcome {
    const outcome = registerNode({ store: this.store, tagRules: this.tagRules, now: this.now(), nodeKeyExpiryMs: this.nodeKeyExpiryMs }, input);
    if (outcome.ok && outcome.created) grantToNewNode(this.store, outcome.node, this.now());
    if (outcome.ok) this.refreshNode(outcome.node.id);
    return outcome;
  }

  /** In-memory lookup for the stream path (indexed: a reconnect storm must not scan every node per stream). */
  nodeByNodeKey(nodeKey: string): NodeRow | null {
    return this.state.nodeByNodeKey(nodeKey);
  }

  node(id: number): NodeRow | null {
    return this.state.node(id);
  }

  isActive(n: NodeRow): boolean {
    return isNodeActive(n, this.now());
  }

  /** Endpoints or hostinfo reported on a map stream. */
  updateFromAgent(nodeId: number, upd: { endpoints?: string[]; hostinfo?: Hostinfo }): void {
    const n = this.state.node(nodeId);
    if (!n) return;
    const fields: { endpoints?: string[]; hostinfo?: Hostinfo } = {};
    if (upd.endpoints && upd.endpoints.join(',') !== n.endpoints.join(',')) fields.endpoints = upd.endpoints;
    const stored = n.advertisedRoutes.length > 0 ? { ...n.hostinfo, routableIPs: n.advertisedRoutes } : n.hostinfo;
    if (upd.hostinfo && JSON.stringify(upd.hostinfo) !== JSON.stringify(stored)) fields.hostinfo = upd.hostinfo;
    if (Object.keys(fields).length === 0) return;
    this.store.updateNode(nodeId, fields);
    this.refreshNode(nodeId);
  }

  /** Logout: an ephemeral node is deleted at once; any other node's key is expired (it must register again). */
  logout(nodeId: number): void {
    const n = this.state.node(nodeId);
    if (!n) return;
    const owner = this.state.users.get(n.userId)?.login ?? 'unknown';
    this.store.tx(() => {
      if (n.ephemeral) {
        this.store.deleteNode(nodeId);
      } else {
        this.store.updateNode(nodeId, { keyExpiry: this.now() });
      }
      recordAudit(this.store.db, { action: 'node.logout', target: n.hostname, summary: `${n.hostname} logged out${n.ephemeral ? ' (ephemeral: deleted)' : ''}`, actor: owner, via: 'agent' });
    });
    this.log.log('info', 'node logged out', { node: n.hostname, id: nodeId, ephemeral: n.ephemeral });
    this.refreshNode(nodeId, 'logged out');
  }

  /** Re-reads one node (and its attributes) from the store and applies whatever changed. */
  refreshNode(id: number, goneReason = 'node deleted'): void {
    const row = this.store.node(id);
    if (row) reconcileRoutes(this.store, this.approver, row, this.state.users.get(row.userId) ?? this.store.userById(row.userId) ?? undefined, false);
    const { before, after, same } = this.state.refreshNode(id);
    const now = this.now();
    if (!after) this.reaper.cancel(id);
    if (same && this.compiled.has(id) === isNodeActive(after!, now)) {
      this.streams.markDirty([id]);
      return;
    }
    this.applyToCompiler(before, after, now);
    this.cache.nodeChanged(id, after === null);
    this.electPrimaries();
    this.streams.markAllDirty();
    if (!after || !isNodeActive(after, now)) this.streams.kick(id, after ? 'node_key_expired' : 'unknown_node', after ? `node key expired (${goneReason})` : goneReason);
    this.expiry.schedule();
  }

  private applyToCompiler(before: NodeRow | null, after: NodeRow | null, now: number): void {
    if (!this.compiler) return;
    const touched = new Set<string>();
    const oldName = this.compiled.get(before?.id ?? after?.id ?? -1);
    const active = after !== null && isNodeActive(after, now);
    if (oldName !== undefined && (!active || oldName !== after?.hostname)) {
      for (const n of this.compiler.removeNode(oldName)) touched.add(n);
      this.compiled.delete((before ?? after)!.id);
    }
    if (active && after) {
      for (const n of this.compiler.upsertNode(this.state.tailnetNode(after, now))) touched.add(n);
      this.compiled.set(after.id, after.hostname);
      touched.add(after.hostname);
    }
    this.invalidateFilters(touched);
  }

  private invalidateFilters(names: Iterable<string>): void {
    this.routerRules.clear();
    const ids: number[] = [];
    for (const name of names) {
      const id = this.state.idByName(name);
      if (id !== undefined) {
        this.cache.filterChanged(id);
        ids.push(id);
      }
    }
    this.streams.markDirty(ids);
  }

  // ---------------------------------------------------------------- change feed (admin commands)

  /** Picks up changes other processes committed. Cheap when nothing changed (one PRAGMA). */
  poll(): void {
    if (this.stopped) return;
    const changes = this.feed.read();
    if (!changes) return;
    let rebuild = changes.policy;
    if (this.state.reloadUsers(changes.users)) rebuild = true;
    if (rebuild) {
      const p = this.store.activePolicy();
      const changedPolicy = p !== null && p.id !== this.policy.id;
      if (changedPolicy) this.log.log('info', 'policy activated', { version: p.id, file: p.file });
      this.loadAll();
      if (changedPolicy && this.tagRules.allowAll) {
        this.log.log('warn', 'the active policy has neither grants nor acls: it ALLOWS ALL traffic (Tailscale compatibility)', { version: p.id });
      }
      for (const id of [...this.streams.nodeIds()]) {
        if (!this.state.node(id)) this.streams.kick(id, 'unknown_node', 'node deleted');
      }
    } else {
      for (const id of changes.nodes) this.refreshNode(id);
    }
    this.expiry.schedule();
    this.feed.prune();
  }

  /** Users changed through this process's own store (admin API). */
  refreshUsers(ids: Iterable<number>): void {
    if (this.state.reloadUsers(ids)) {
      this.loadAll();
      this.expiry.schedule();
    }
  }

  // ---------------------------------------------------------------- expiry

  private onExpiry(): void {
    const now = this.now();
    withActor({ actor: 'system', via: 'expiry' }, () => expireDue(this.store, now));
    for (const id of expireAttrs(this.store, now)) this.refreshNode(id);
    if (this.compiler) this.invalidateFilters(this.compiler.setNow(now));
    for (const [id, name] of [...this.compiled]) {
      const n = this.state.node(id);
      if (n && !isNodeActive(n, now)) {
        this.log.log('info', 'node key expired', { node: name, id });
        this.refreshNode(id, 'expired');
      }
    }
    this.expiry.schedule();
  }

  private onEphemeralDue(nodeId: number): void {
    if (this.streams.isOnline(nodeId) || !this.state.node(nodeId)) return;
    this.log.log('info', 'ephemeral node removed after its stream ended', { id: nodeId, node: this.state.node(nodeId)?.hostname });
    const n = this.state.node(nodeId)!;
    this.store.tx(() => {
      this.store.deleteNode(nodeId);
      recordAudit(this.store.db, { action: 'node.delete', target: n.hostname, summary: `ephemeral node ${n.hostname} removed ${Math.round(this.ephemeralTimeoutMs / 1000)}s after its stream ended`, actor: 'system', via: 'ephemeral-reaper' });
    });
    this.refreshNode(nodeId);
  }

  // ---------------------------------------------------------------- streams

  /** Registers a live stream; the first netmap follows shortly. Returns the function that ends it. */
  openStream(nodeId: number, sub: MapSubscriber): () => void {
    const cameOnline = this.streams.add(nodeId, sub);
    this.reaper.cancel(nodeId);
    this.store.updateNode(nodeId, { lastSeen: this.now() }, false);
    if (cameOnline) this.onlineChanged(nodeId);
    this.streams.markDirty([nodeId]);
    let open = true;
    return () => {
      if (!open || this.stopped) return;
      open = false;
      if (!this.streams.remove(nodeId, sub)) return;
      const n = this.state.node(nodeId);
      if (!n) return;
      this.store.updateNode(nodeId, { lastSeen: this.now() }, false);
      this.onlineChanged(nodeId);
      if (n.ephemeral) this.reaper.schedule(nodeId, this.ephemeralTimeoutMs);
    };
  }

  /** Nodes with at least one live map stream. */
  get streamCount(): number {
    return this.streams.count;
  }

  isOnline(nodeId: number): boolean {
    return this.streams.isOnline(nodeId);
  }

  private onlineChanged(nodeId: number): void {
    this.cache.onlineChanged(nodeId);
    this.electPrimaries();
    this.streams.markAllDirty();
  }

  // ---------------------------------------------------------------- netmaps

  /** Sends every dirty stream its netmap now instead of after the coalescing delay. */
  flush(): void {
    this.streams.flush();
  }

  /** Bench/test helper: treat every live stream as having been sent its current netmap (nothing pending). */
  markStreamsCurrent(): void {
    this.streams.markCurrent();
  }

  /** Computes (and caches) every active node's netmap parts: the "full netmap computation". Returns how many. */
  precomputeAll(): number {
    const now = this.now();
    const peers = this.cache.peerParts(now);
    let n = 0;
    for (const id of this.state.nodes.keys()) if (this.cache.parts(id, peers, now)) n++;
    return n;
  }

  /** The full netmap of one node as control would send it now (tests, admin API); null if it has none. */
  netmapMessage(id: number): string | null {
    const now = this.now();
    const parts = this.cache.parts(id, this.cache.peerParts(now), now);
    return parts && fullMessage(parts);
  }
}
