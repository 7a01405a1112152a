// Control's in-memory view of the tailnet's rows: users, nodes, each node's attributes, and the indexes the
// hot paths need (hostname → id for the compiler's answers, node key → id for the stream path). A cache of
// the Store, never ahead of it: every change is written to the Store first and then re-read here.
//
// The maps are replaced wholesale by load(); holders must read them through this object, not keep them.
// Not concurrency-safe; one per coordinator.
import type { Tailnet, TailnetNode } from '../types/tailnet.js';
import type { AttrRow, NodeRow, Store, UserRow } from './store.js';
import { tailnetNodeOf, tailnetOf } from './views.js';

/** What refreshNode found: the row before and after, and whether anything but lastSeen changed. */
export interface NodeRefresh {
  before: NodeRow | null;
  after: NodeRow | null;
  /** Neither the row (lastSeen aside) nor its attributes changed. */
  same: boolean;
}

export class StateView {
  private usersById = new Map<number, UserRow>();
  private nodesById = new Map<number, NodeRow>();
  private attrsByNode = new Map<number, AttrRow[]>();
  private nameToId = new Map<string, number>();
  private byNodeKey = new Map<string, number>();

  constructor(private readonly store: Store) {}

  get users(): ReadonlyMap<number, UserRow> {
    return this.usersById;
  }

  get nodes(): ReadonlyMap<number, NodeRow> {
    return this.nodesById;
  }

  /** Replaces everything with the Store's rows. */
  load(): void {
    this.usersById = new Map(this.store.listUsers().map((u) => [u.id, u]));
    this.nodesById = new Map(this.store.listNodes().map((n) => [n.id, n]));
    this.attrsByNode = new Map();
    for (const a of this.store.allAttrs()) {
      const list = this.attrsByNode.get(a.nodeId) ?? [];
      list.push(a);
      this.attrsByNode.set(a.nodeId, list);
    }
    this.nameToId = new Map([...this.nodesById.values()].map((n) => [n.hostname, n.id]));
    this.byNodeKey = new Map([...this.nodesById.values()].map((n) => [n.nodeKey, n.id]));
  }

  readonly attrsOf = (nodeId: number): readonly AttrRow[] => this.attrsByNode.get(nodeId) ?? [];

  node(id: number): NodeRow | null {
    return this.nodesById.get(id) ?? null;
  }

  /** Indexed: a reconnect storm must not scan every node per stream. */
  nodeByNodeKey(nodeKey: string): NodeRow | null {
    const id = this.byNodeKey.get(nodeKey);
    return id === undefined ? null : (this.nodesById.get(id) ?? null);
  }

  idByName(hostname: string): number | undefined {
    return this.nameToId.get(hostname);
  }

  /** The policy engine's view of every active node. */
  tailnet(now: number): Tailnet {
    return tailnetOf(this.usersById.values(), this.nodesById.values(), this.attrsOf, now);
  }

  tailnetNode(n: NodeRow, now: number): TailnetNode {
    return tailnetNodeOf(n, this.usersById.get(n.userId), this.attrsOf(n.id), now);
  }

  /** Re-reads one node (and its attributes, and its owner if unknown) from the Store. */
  refreshNode(id: number): NodeRefresh {
    const before = this.nodesById.get(id) ?? null;
    const beforeAttrs = JSON.stringify(this.attrsByNode.get(id) ?? []);
    const after = this.store.node(id);
    if (after) {
      if (!this.usersById.has(after.userId)) {
        const u = this.store.userById(after.userId);
        if (u) this.usersById.set(u.id, u);
      }
      this.nodesById.set(id, after);
      this.attrsByNode.set(id, this.store.attrsOf(id));
    } else {
      this.nodesById.delete(id);
      this.attrsByNode.delete(id);
    }
    if (before && (!after || before.hostname !== after.hostname)) this.nameToId.delete(before.hostname);
    if (after) this.nameToId.set(after.hostname, id);
    if (before && (!after || before.nodeKey !== after.nodeKey)) this.byNodeKey.delete(before.nodeKey);
    if (after) this.byNodeKey.set(after.nodeKey, id);
    const same =
      before !== null &&
      after !== null &&
      JSON.stringify({ ...before, lastSeen: 0 }) === JSON.stringify({ ...after, lastSeen: 0 }) &&
      beforeAttrs === JSON.stringify(this.attrsByNode.get(id) ?? []);
    return { before, after, same };
  }

  /**
   * Re-reads users; true when the compiler must be rebuilt. A new member without devices changes no netmap;
   * only an admin (autogroup:admin) or a user who owns nodes needs a fresh compiler, so adding users to a
   * 10,000-node tailnet costs nothing.
   */
  reloadUsers(ids: Iterable<number>): boolean {
    let rebuild = false;
    for (const uid of ids) {
      const before = this.usersById.get(uid);
      const after = this.store.userById(uid);
      if (after) this.usersById.set(uid, after);
      else this.usersById.delete(uid);
      let owns = false;
      for (const n of this.nodesById.values()) if (n.userId === uid) owns = true;
      if (owns || before?.role === 'admin' || after?.role === 'admin') rebuild = true;
    }
    return rebuild;
  }

  /**
   * The earliest moment a row changes meaning on its own: an attribute expiring (even one already past, so
   * it gets deleted at once) or a node key expiring in the future. Infinity when none.
   */
  nextExpiry(now: number): number {
    let next = Infinity;
    for (const list of this.attrsByNode.values()) for (const a of list) if (a.expires !== null && a.expires < next) next = a.expires;
    for (const n of this.nodesById.values()) if (n.keyExpiry !== null && n.keyExpiry > now && n.keyExpiry < next) next = n.keyExpiry;
    return next;
  }
}
