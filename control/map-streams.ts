// The live map streams and what they still owe: which nodes stream (and so are online), which of them are
// dirty, and the coalescing flush that rebuilds their netmap parts and sends each stream a full netmap or a
// delta against what it was last sent.
//
// Invariants
// - A node is online while it has at least one stream; its entry disappears with its last stream (or a kick).
// - Dirty marks coalesce: a burst of changes costs one flush after flushDelayMs, and a flush never starts
//   sooner than the last one took (so at most about half the time goes to flushing).
// - "Everything is dirty" is one flag, not a set insertion per stream: 10,000 reconnecting streams must not
//   cost 10,000² insertions.
//
// Not concurrency-safe; one per coordinator. The timer is unref'd.
import type { NetmapCache } from './netmap-cache.js';
import { deltaMessage, diffPeers, fullMessage, type NetmapParts } from './netmap-diff.js';

/** One live map stream. `send` receives a serialized netmap or delta message (netmap-diff.ts). */
export interface MapSubscriber {
  send(json: string): void;
  /** What this stream was last sent; maintained by MapStreams. */
  sent?: NetmapParts;
  /** The node can no longer stream (deleted, expired, logged out): send the reason and close. */
  kick(code: string, message: string): void;
}

export interface MapStreamsOptions {
  cache: NetmapCache;
  now: () => number;
  /** Delay before dirty netmaps are rebuilt, so a burst of changes costs one rebuild. */
  flushDelayMs: number;
  stats: { netmapsSent: number };
}

export class MapStreams {
  private readonly sessions = new Map<number, Set<MapSubscriber>>();
  private readonly dirty = new Set<number>();
  private allDirty = false;
  private flushTimer: NodeJS.Timeout | null = null;
  private lastFlushMs = 0;
  private stopped = false;

  constructor(private readonly opts: MapStreamsOptions) {}

  stop(): void {
    this.stopped = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
  }

  /** Adds a stream; true when it is the node's first (the node just came online). */
  add(nodeId: number, sub: MapSubscriber): boolean {
    let set = this.sessions.get(nodeId);
    const wasOnline = set !== undefined && set.size > 0;
    if (!set) {
      set = new Set();
      this.sessions.set(nodeId, set);
    }
    set.add(sub);
    return !wasOnline;
  }

  /** Removes a stream; true when it was the node's last (the node just went offline). False after a kick. */
  remove(nodeId: number, sub: MapSubscriber): boolean {
    const s = this.sessions.get(nodeId);
    if (!s) return false;
    s.delete(sub);
    if (s.size > 0) return false;
    this.sessions.delete(nodeId);
    return true;
  }

  /** Ends every stream of a node with control's reason; the node is offline afterwards. */
  kick(nodeId: number, code: string, message: string): void {
    const s = this.sessions.get(nodeId);
    if (!s) return;
    this.sessions.delete(nodeId);
    for (const sub of s) sub.kick(code, message);
  }

  /** Nodes with at least one live stream. */
  nodeIds(): IterableIterator<number> {
    return this.sessions.keys();
  }

  get count(): number {
    return this.sessions.size;
  }

  isOnline(nodeId: number): boolean {
    return (this.sessions.get(nodeId)?.size ?? 0) > 0;
  }

  markDirty(ids: Iterable<number>): void {
    for (const id of ids) this.dirty.add(id);
    this.scheduleFlush();
  }

  /** O(1): see the header. */
  markAllDirty(): void {
    this.allDirty = true;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer || this.stopped || (this.dirty.size === 0 && !this.allDirty)) return;
    // Never spend more than about half the time flushing: wait at least as long as the last flush took.
    this.flushTimer = setTimeout(() => this.flush(), Math.max(this.opts.flushDelayMs, this.lastFlushMs));
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
    const { cache } = this.opts;
    const now = this.opts.now();
    if (this.sessions.size === 0) {
      // Nobody to send to: the stale filters wait (a registration storm before any stream costs no compiles).
      this.dirty.clear();
      this.allDirty = false;
      return;
    }
    // Compiles stale filters and updates who sees whom; nodes whose visible peers changed owe a delta too.
    cache.sync(now);
    const moved = cache.takeVisibilityChanges();
    let ids: number[];
    if (this.allDirty) ids = [...this.sessions.keys()];
    else {
      for (const id of moved) this.dirty.add(id);
      ids = [...this.dirty];
    }
    this.dirty.clear();
    this.allDirty = false;
    const peers = cache.nextPeers(now);
    // Streams that were current after the previous flush all hold peers.prev: diff it once for all of them.
    const shared = peers.prev ? diffPeers(peers.prev, peers.cur) : undefined;
    for (const id of ids) {
      const subs = this.sessions.get(id);
      if (!subs || subs.size === 0) continue;
      const parts = cache.parts(id, peers.cur, now);
      if (parts === null) continue;
      for (const sub of subs) {
        const msg = sub.sent ? deltaMessage(sub.sent, parts, shared) : fullMessage(parts);
        sub.sent = parts;
        if (msg === null) continue;
        sub.send(msg);
        this.opts.stats.netmapsSent++;
      }
    }
    this.lastFlushMs = performance.now() - started;
  }

  /** Bench/test helper: treat every live stream as having been sent its current netmap (nothing pending). */
  markCurrent(): void {
    const { cache } = this.opts;
    const now = this.opts.now();
    cache.sync(now);
    cache.takeVisibilityChanges();
    const peers = cache.nextPeers(now).cur;
    for (const [id, subs] of this.sessions) {
      const parts = cache.parts(id, peers, now);
      for (const sub of subs) sub.sent = parts ?? undefined;
    }
    this.dirty.clear();
    this.allDirty = false;
  }
}
