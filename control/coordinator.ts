// The coordinator: control's in-memory view of the tailnet (users, nodes, attributes, active policy and
// its compiler) and the live map streams. It decides which nodes' netmaps a change touches, rebuilds those
// (and only those) after a short coalescing delay, and hands the serialized netmap to each stream.
//
// Invariants
// - The Store is the source of truth; every in-memory change is written there first. Changes made by other
//   processes (admin commands) arrive through the `changes` table, polled every pollIntervalMs.
// - The compiler sees exactly the active (unexpired) nodes. A node change goes through upsertNode /
//   removeNode, which name the nodes whose filters may have changed; only their compiled rules are redone.
// - Peers are every other active node, so a change to a node's peer entry (join, leave, endpoints,
//   online, tags) makes every streaming node dirty; its serialized peer entry is cached and reused.
//
// Single-threaded; timers are unref'd so a forgotten coordinator does not keep a process alive.
import type { Diagnostic } from '../types/errors.js';
import type { Hostinfo } from '../types/netmap.js';
import type { Logger } from './logger.js';
import type { NodeCompiler, PolicyEngine, TagPolicy } from './policy-engine.js';
import { NetmapCache } from './netmap-cache.js';
import { deltaMessage, diffPeers, fullMessage, type NetmapParts } from './netmap-diff.js';
import { registerNode, type RegisterInput, type RegisterOutcome } from './registration.js';
import type { AttrRow, NodeRow, PolicyRow, Store, UserRow } from './store.js';
import { isNodeActive, tailnetNodeOf, tailnetOf } from './views.js';

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

/** One live map stream. `send` receives a serialized netmap or delta message (netmap-diff.ts). */
export interface MapSubscriber {
  send(json: string): void;
  /** What this stream was last sent; maintained by the coordinator. */
  sent?: NetmapParts;
  /** The node can no longer stream (deleted, expired, logged out): send the reason and close. */
  kick(code: string, message: string): void;
}

export interface SetPolicyResult {
  ok: boolean;
  diagnostics: Diagnostic[];
  version?: number;
}

const DEFAULT_EPHEMERAL_TIMEOUT_MS = 5 * 60_000;
const MAX_TIMER_MS = 60 * 60_000;

export class Coordinator {
  readonly store: Store;
  private readonly engine: PolicyEngine;
  private readonly log: Logger;
  private readonly now: () => number;
  readonly ephemeralTimeoutMs: number;
  private readonly nodeKeyExpiryMs: number | undefined;
  private readonly pollIntervalMs: number;
  private readonly flushDelayMs: number;

  private users = new Map<number, UserRow>();
  private nodes = new Map<number, NodeRow>();
  private readonly cache: NetmapCache;
  private attrs = new Map<number, AttrRow[]>();
  private nameToId = new Map<string, number>();
  private byNodeKey = new Map<string, number>();
  private policy: PolicyRow = { id: 0, file: 'default', text: DENY_ALL_POLICY, created: 0 };
  /** The active policy's tag ownership and allow-all flag, from the engine (control never parses policy text). */
  private tagRules: TagPolicy;
  private compiler: NodeCompiler | null = null;
  /** Nodes the compiler currently knows (active ones), by id → name. */
  private compiled = new Map<number, string>();

  private sessions = new Map<number, Set<MapSubscriber>>();
  private dirty = new Set<number>();
  private flushTimer: NodeJS.Timeout | null = null;
  private expiryTimer: NodeJS.Timeout | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private ephemeralTimers = new Map<number, NodeJS.Timeout>();
  private lastSeq = 0;
  private lastFlushMs = 0;
  private allDirty = false;
  private lastDataVersion = -1;
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
    this.flushDelayMs = opts.flushDelayMs ?? 20;
    // Getters, because loadAll replaces the maps.
    const coord = this;
    this.cache = new NetmapCache(
      {
        get nodes() {
          return coord.nodes;
        },
        get users() {
          return coord.users;
        },
        compiler: () => this.compiler,
        isOnline: (id) => this.isOnline(id),
        policyVersion: () => this.policy.id,
      },
      this.stats,
    );
  }

  // ---------------------------------------------------------------- lifecycle

  /** Loads all state, builds the compiler, starts the change feed and timers. */
  start(): void {
    this.lastSeq = this.store.lastChangeSeq();
    this.lastDataVersion = this.store.dataVersion();
    this.loadAll();
    const now = this.now();
    for (const n of this.nodes.values()) if (n.ephemeral) this.scheduleEphemeralDelete(n.id, Math.max(0, (n.lastSeen ?? now) + this.ephemeralTimeoutMs - now));
    this.pollTimer = setInterval(() => this.poll(), this.pollIntervalMs);
    this.pollTimer.unref();
    this.scheduleExpiry();
  }

  stop(): void {
    this.stopped = true;
    for (const t of [this.flushTimer, this.expiryTimer]) if (t) clearTimeout(t);
    if (this.pollTimer) clearInterval(this.pollTimer);
    for (const t of this.ephemeralTimers.values()) clearTimeout(t);
    this.ephemeralTimers.clear();
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
    this.users = new Map(this.store.listUsers().map((u) => [u.id, u]));
    this.nodes = new Map(this.store.listNodes().map((n) => [n.id, n]));
    this.attrs = new Map();
    for (const a of this.store.allAttrs()) {
      const list = this.attrs.get(a.nodeId) ?? [];
      list.push(a);
      this.attrs.set(a.nodeId, list);
    }
    this.nameToId = new Map([...this.nodes.values()].map((n) => [n.hostname, n.id]));
    this.byNodeKey = new Map([...this.nodes.values()].map((n) => [n.nodeKey, n.id]));
    const p = this.store.activePolicy();
    if (p) this.policy = p;
    this.rebuildCompiler();
  }

  private attrsOf = (nodeId: number): readonly AttrRow[] => this.attrs.get(nodeId) ?? [];

  /**
   * A fresh compiler over the active policy and every active node; marks every node dirty. Public for the
   * benchmark's baseline (what a join would cost without incremental updates).
   */
  rebuildCompiler(): void {
    const now = this.now();
    const tailnet = tailnetOf(this.users.values(), this.nodes.values(), this.attrsOf, now);
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
    for (const n of this.nodes.values()) if (isNodeActive(n, now)) this.compiled.set(n.id, n.hostname);
    this.stats.fullRebuilds++;
    this.cache.allChanged();
    this.markAllDirty();
  }

  // ---------------------------------------------------------------- policy

  /** Validates (including `tests`) against the current tailnet; on success stores and activates it. */
  setPolicy(text: string, file: string): SetPolicyResult {
    const tailnet = tailnetOf(this.users.values(), this.nodes.values(), this.attrsOf, this.now());
    const check = this.engine.check(text, file, tailnet);
    if (!check.ok) return { ok: false, diagnostics: check.diagnostics };
    const row = this.store.addPolicy(file, text, this.now());
    this.policy = row;
    this.rebuildCompiler();
    this.scheduleExpiry();
    this.log.log('info', 'policy activated', { version: row.id, file });
    if (this.tagRules.allowAll) this.log.log('warn', 'the active policy has neither grants nor acls: it ALLOWS ALL traffic (Tailscale compatibility)', { version: row.id });
    return { ok: true, diagnostics: check.diagnostics, version: row.id };
  }

  // ---------------------------------------------------------------- registration and node changes

  register(input: RegisterInput): RegisterOutcome {
    const outcome = registerNode({ store: this.store, tagRules: this.tagRules, now: this.now(), nodeKeyExpiryMs: this.nodeKeyExpiryMs }, input);
    if (outcome.ok) this.refreshNode(outcome.node.id);
    return outcome;
  }

  /** In-memory lookup for the stream path (indexed: a reconnect storm must not scan every node per stream). */
  nodeByNodeKey(nodeKey: string): NodeRow | null {
    const id = this.byNodeKey.get(nodeKey);
    return id === undefined ? null : (this.nodes.get(id) ?? null);
  }

  node(id: number): NodeRow | null {
    return this.nodes.get(id) ?? null;
  }

  isActive(n: NodeRow): boolean {
    return isNodeActive(n, this.now());
  }

  /** Endpoints or hostinfo reported on a map stream. */
  updateFromAgent(nodeId: number, upd: { endpoints?: string[]; hostinfo?: Hostinfo }): void {
    const n = this.nodes.get(nodeId);
    if (!n) return;
    const fields: { endpoints?: string[]; hostinfo?: Hostinfo } = {};
    if (upd.endpoints && upd.endpoints.join(',') !== n.endpoints.join(',')) fields.endpoints = upd.endpoints;
    if (upd.hostinfo && JSON.stringify(upd.hostinfo) !== JSON.stringify(n.hostinfo)) fields.hostinfo = upd.hostinfo;
    if (Object.keys(fields).length === 0) return;
    this.store.updateNode(nodeId, fields);
    this.refreshNode(nodeId);
  }

  /** Logout: an ephemeral node is deleted at once; any other node's key is expired (it must register again). */
  logout(nodeId: number): void {
    const n = this.nodes.get(nodeId);
    if (!n) return;
    if (n.ephemeral) {
      this.store.deleteNode(nodeId);
    } else {
      this.store.updateNode(nodeId, { keyExpiry: this.now() });
    }
    this.log.log('info', 'node logged out', { node: n.hostname, id: nodeId, ephemeral: n.ephemeral });
    this.refreshNode(nodeId, 'logged out');
  }

  /** Re-reads one node (and its attributes) from the store and applies whatever changed. */
  refreshNode(id: number, goneReason = 'node deleted'): void {
    const before = this.nodes.get(id) ?? null;
    const beforeAttrs = JSON.stringify(this.attrs.get(id) ?? []);
    const after = this.store.node(id);
    const now = this.now();
    if (after) {
      if (!this.users.has(after.userId)) {
        const u = this.store.userById(after.userId);
        if (u) this.users.set(u.id, u);
      }
      this.nodes.set(id, after);
      this.attrs.set(id, this.store.attrsOf(id));
    } else {
      this.nodes.delete(id);
      this.attrs.delete(id);
      this.clearEphemeralTimer(id);
    }
    if (before && (!after || before.hostname !== after.hostname)) this.nameToId.delete(before.hostname);
    if (after) this.nameToId.set(after.hostname, id);
    if (before && (!after || before.nodeKey !== after.nodeKey)) this.byNodeKey.delete(before.nodeKey);
    if (after) this.byNodeKey.set(after.nodeKey, id);
    const same = before && after && JSON.stringify({ ...before, lastSeen: 0 }) === JSON.stringify({ ...after, lastSeen: 0 }) && beforeAttrs === JSON.stringify(this.attrs.get(id) ?? []);
    if (same && this.compiled.has(id) === isNodeActive(after, now)) {
      this.markDirty([id]);
      return;
    }
    this.applyToCompiler(before, after, now);
    this.cache.nodeChanged(id, after === null);
    this.markAllDirty();
    if (!after || !isNodeActive(after, now)) this.kickSessions(id, after ? 'node_key_expired' : 'unknown_node', after ? `node key expired (${goneReason})` : goneReason);
    this.scheduleExpiry();
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
      const t = tailnetNodeOf(after, this.users.get(after.userId), this.attrsOf(after.id), now);
      for (const n of this.compiler.upsertNode(t)) touched.add(n);
      this.compiled.set(after.id, after.hostname);
      touched.add(after.hostname);
    }
    this.invalidateFilters(touched);
  }

  private invalidateFilters(names: Iterable<string>): void {
    for (const name of names) {
      const id = this.nameToId.get(name);
      if (id !== undefined) {
        this.cache.filterChanged(id);
        this.dirty.add(id);
      }
    }
    this.scheduleFlush();
  }

  // ---------------------------------------------------------------- change feed (admin commands)

  /** Picks up changes other processes committed. Cheap when nothing changed (one PRAGMA). */
  poll(): void {
    if (this.stopped) return;
    const dv = this.store.dataVersion();
    if (dv === this.lastDataVersion) return;
    this.lastDataVersion = dv;
    const changes = this.store.changesSince(this.lastSeq);
    if (changes.length === 0) return;
    this.lastSeq = changes[changes.length - 1].seq;
    let rebuild = false;
    const nodeIds = new Set<number>();
    const userIds = new Set<number>();
    for (const c of changes) {
      if (c.origin === this.store.origin) continue;
      this.stats.externalChanges++;
      if (c.kind === 'user') userIds.add(c.ref);
      else if (c.kind === 'policy') rebuild = true;
      else if (c.kind === 'node' || c.kind === 'attr') nodeIds.add(c.ref);
    }
    if (this.reloadUsers(userIds)) rebuild = true;
    if (rebuild) {
      const p = this.store.activePolicy();
      const changedPolicy = p !== null && p.id !== this.policy.id;
      if (changedPolicy) this.log.log('info', 'policy activated', { version: p.id, file: p.file });
      this.loadAll();
      if (changedPolicy && this.tagRules.allowAll) {
        this.log.log('warn', 'the active policy has neither grants nor acls: it ALLOWS ALL traffic (Tailscale compatibility)', { version: p.id });
      }
      for (const id of [...this.sessions.keys()]) {
        const n = this.nodes.get(id);
        if (!n) this.kickSessions(id, 'unknown_node', 'node deleted');
      }
    } else {
      for (const id of nodeIds) this.refreshNode(id);
    }
    this.scheduleExpiry();
    if (this.lastSeq > 10_000) this.store.pruneChanges(this.lastSeq - 1000);
  }

  /**
   * Re-reads users; true when the compiler must be rebuilt. A new member without devices changes no netmap;
   * only an admin (autogroup:admin) or a user who owns nodes needs a fresh compiler, so adding users to a
   * 10,000-node tailnet costs nothing.
   */
  private reloadUsers(ids: Iterable<number>): boolean {
    let rebuild = false;
    for (const uid of ids) {
      const before = this.users.get(uid);
      const after = this.store.userById(uid);
      if (after) this.users.set(uid, after);
      else this.users.delete(uid);
      let owns = false;
      for (const n of this.nodes.values()) if (n.userId === uid) owns = true;
      if (owns || before?.role === 'admin' || after?.role === 'admin') rebuild = true;
    }
    return rebuild;
  }

  /** Users changed through this process's own store (admin API). */
  refreshUsers(ids: Iterable<number>): void {
    if (this.reloadUsers(ids)) {
      this.loadAll();
      this.scheduleExpiry();
    }
  }

  // ---------------------------------------------------------------- expiry

  private scheduleExpiry(): void {
    if (this.stopped) return;
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    const now = this.now();
    let next = this.compiler?.nextExpiry() ?? Infinity;
    for (const list of this.attrs.values()) for (const a of list) if (a.expires !== null && a.expires < next) next = a.expires;
    for (const n of this.nodes.values()) if (n.keyExpiry !== null && n.keyExpiry > now && n.keyExpiry < next) next = n.keyExpiry;
    if (next === Infinity) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, next - now));
    this.expiryTimer = setTimeout(() => this.onExpiry(), delay);
    this.expiryTimer.unref();
  }

  private onExpiry(): void {
    this.expiryTimer = null;
    const now = this.now();
    for (const id of this.store.deleteExpiredAttrs(now)) this.refreshNode(id);
    if (this.compiler) this.invalidateFilters(this.compiler.setNow(now));
    for (const [id, name] of [...this.compiled]) {
      const n = this.nodes.get(id);
      if (n && !isNodeActive(n, now)) {
        this.log.log('info', 'node key expired', { node: name, id });
        this.refreshNode(id, 'expired');
      }
    }
    this.scheduleExpiry();
  }

  // ---------------------------------------------------------------- streams

  /** Registers a live stream; the first netmap follows shortly. Returns the function that ends it. */
  openStream(nodeId: number, sub: MapSubscriber): () => void {
    let set = this.sessions.get(nodeId);
    const wasOnline = set !== undefined && set.size > 0;
    if (!set) {
      set = new Set();
      this.sessions.set(nodeId, set);
    }
    set.add(sub);
    this.clearEphemeralTimer(nodeId);
    this.store.updateNode(nodeId, { lastSeen: this.now() }, false);
    if (!wasOnline) this.onlineChanged(nodeId);
    this.dirty.add(nodeId);
    this.scheduleFlush();
    let open = true;
    return () => {
      if (!open || this.stopped) return;
      open = false;
      const s = this.sessions.get(nodeId);
      if (!s) return;
      s.delete(sub);
      if (s.size > 0) return;
      this.sessions.delete(nodeId);
      const n = this.nodes.get(nodeId);
      if (!n) return;
      this.store.updateNode(nodeId, { lastSeen: this.now() }, false);
      this.onlineChanged(nodeId);
      if (n.ephemeral) this.scheduleEphemeralDelete(nodeId, this.ephemeralTimeoutMs);
    };
  }

  /** Nodes with at least one live map stream. */
  get streamCount(): number {
    return this.sessions.size;
  }

  isOnline(nodeId: number): boolean {
    return (this.sessions.get(nodeId)?.size ?? 0) > 0;
  }

  private onlineChanged(nodeId: number): void {
    this.cache.onlineChanged(nodeId);
    this.markAllDirty();
  }

  private kickSessions(nodeId: number, code: string, message: string): void {
    const s = this.sessions.get(nodeId);
    if (!s) return;
    this.sessions.delete(nodeId);
    for (const sub of s) sub.kick(code, message);
  }

  private scheduleEphemeralDelete(nodeId: number, delayMs: number): void {
    this.clearEphemeralTimer(nodeId);
    const t = setTimeout(() => {
      this.ephemeralTimers.delete(nodeId);
      if (this.isOnline(nodeId) || !this.nodes.has(nodeId)) return;
      this.log.log('info', 'ephemeral node removed after its stream ended', { id: nodeId, node: this.nodes.get(nodeId)?.hostname });
      this.store.deleteNode(nodeId);
      this.refreshNode(nodeId);
    }, delayMs);
    t.unref();
    this.ephemeralTimers.set(nodeId, t);
  }

  private clearEphemeralTimer(nodeId: number): void {
    const t = this.ephemeralTimers.get(nodeId);
    if (t) clearTimeout(t);
    this.ephemeralTimers.delete(nodeId);
  }

  // ---------------------------------------------------------------- netmaps

  private markDirty(ids: Iterable<number>): void {
    for (const id of ids) this.dirty.add(id);
    this.scheduleFlush();
  }

  /** O(1): 10,000 streams reconnecting must not cost 10,000² set insertions. */
  private markAllDirty(): void {
    this.allDirty = true;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer || this.stopped || (this.dirty.size === 0 && !this.allDirty)) return;
    // Never spend more than about half the time flushing: wait at least as long as the last flush took.
    this.flushTimer = setTimeout(() => this.flush(), Math.max(this.flushDelayMs, this.lastFlushMs));
    this.flushTimer.unref();
  }

  /**
   * Rebuilds the netmap parts of every dirty node that has a live stream and sends each stream either its
   * first full netmap or a delta against what it was last sent.
   */
  flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    const started = performance.now();
    const ids = this.allDirty ? [...this.sessions.keys()] : [...this.dirty];
    this.dirty.clear();
    this.allDirty = false;
    const now = this.now();
    const peers = this.cache.nextPeers(now);
    // Streams that were current after the previous flush all hold peers.prev: diff it once for all of them.
    const shared = peers.prev ? diffPeers(peers.prev, peers.cur) : undefined;
    for (const id of ids) {
      const subs = this.sessions.get(id);
      if (!subs || subs.size === 0) continue;
      const parts = this.cache.parts(id, peers.cur, now);
      if (parts === null) continue;
      for (const sub of subs) {
        const msg = sub.sent ? deltaMessage(sub.sent, parts, shared) : fullMessage(parts);
        sub.sent = parts;
        if (msg === null) continue;
        sub.send(msg);
        this.stats.netmapsSent++;
      }
    }
    this.lastFlushMs = performance.now() - started;
  }

  /** Bench/test helper: treat every live stream as having been sent its current netmap (nothing pending). */
  markStreamsCurrent(): void {
    const now = this.now();
    const peers = this.cache.nextPeers(now).cur;
    for (const [id, subs] of this.sessions) {
      const parts = this.cache.parts(id, peers, now);
      for (const sub of subs) sub.sent = parts ?? undefined;
    }
    this.dirty.clear();
    this.allDirty = false;
  }

  /** Computes (and caches) every active node's netmap parts: the "full netmap computation". Returns how many. */
  precomputeAll(): number {
    const now = this.now();
    const peers = this.cache.peerParts(now);
    let n = 0;
    for (const id of this.nodes.keys()) if (this.cache.parts(id, peers, now)) n++;
    return n;
  }

  /** The full netmap of one node as control would send it now (tests, admin API); null if it has none. */
  netmapMessage(id: number): string | null {
    const now = this.now();
    const parts = this.cache.parts(id, this.cache.peerParts(now), now);
    return parts && fullMessage(parts);
  }
}
