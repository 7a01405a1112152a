// Primary subnet routers (high availability): when several nodes serve the same approved subnet route,
// exactly one of them, the primary, gets it in the other nodes' allowed IPs (WireGuard's cryptokey routing
// can send a prefix to one peer only). The primary stays primary while its map stream is up, so a router
// coming back does not steal traffic; when the primary goes offline, the online router with the lowest
// node id takes over, and the coordinator pushes the new allowed IPs with the next flush. With no router
// online the route stays with the last primary (nothing else could carry it either).
//
// Exit routes (0.0.0.0/0, ::/0) are not elected: every approved exit node offers them and each client
// picks one (agent up --exit-node). Pure and deterministic; not concurrency-safe (one per coordinator).
import { isExitRoute, sortRoutes } from '../types/route.js';

export interface RouterState {
  id: number;
  /** Effective (approved and advertised) routes. */
  routes: readonly string[];
  online: boolean;
}

export class PrimaryRoutes {
  /** route → primary node id. */
  private primary = new Map<string, number>();
  /** node id → its primary routes (sorted as the node's routes are). */
  private byNode = new Map<number, string[]>();
  /** Routes served by more than one router → their ids (what `via` steering chooses among). */
  private shared = new Map<string, number[]>();

  /** Re-elects from the current routers; returns the ids whose primary routes changed. */
  update(routers: Iterable<RouterState>): number[] {
    const candidates = new Map<string, RouterState[]>();
    for (const r of routers) {
      for (const route of r.routes) {
        if (isExitRoute(route)) continue;
        let list = candidates.get(route);
        if (!list) candidates.set(route, (list = []));
        list.push(r);
      }
    }
    const next = new Map<string, number>();
    for (const [route, list] of candidates) {
      list.sort((a, b) => a.id - b.id);
      const current = list.find((r) => r.id === this.primary.get(route));
      const online = list.find((r) => r.online);
      if (current && (current.online || !online)) next.set(route, current.id);
      else next.set(route, (online ?? list[0]).id);
    }
    const byNode = new Map<number, string[]>();
    this.shared = new Map([...candidates].filter(([, l]) => l.length > 1).map(([route, l]) => [route, l.map((r) => r.id)]));
    for (const [route, id] of next) {
      let l = byNode.get(id);
      if (!l) byNode.set(id, (l = []));
      l.push(route);
    }
    const changed = new Set<number>();
    for (const [id, l] of byNode) if ((this.byNode.get(id) ?? []).join() !== sortRoutes(l).join()) changed.add(id);
    for (const id of this.byNode.keys()) if (!byNode.has(id)) changed.add(id);
    this.primary = next;
    this.byNode = byNode;
    return [...changed].sort((a, b) => a - b);
  }

  /** The node's primary routes (subnet routes only). */
  routesOf(id: number): readonly string[] {
    return this.byNode.get(id) ?? [];
  }

  sharedRoutes(): ReadonlyMap<string, readonly number[]> {
    return this.shared;
  }

  primaryOf(route: string): number | undefined {
    return this.primary.get(route);
  }

  /** route → primary id, for `control nodes routes` (persisted in meta by the coordinator). */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.primary].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
}
