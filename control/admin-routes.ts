// The admin API's subnet-route endpoints (routes.ts does the work; admin-api.ts dispatches here):
//   GET  /api/v1/routes                       every node with advertised / approved / primary routes
//   GET  /api/v1/nodes/{id|name}/routes       one node's
//   POST /api/v1/nodes/{id|name}/routes       body {"approve"?: ["10.0.0.0/24"], "unapprove"?: [...]}
// The coordinator applies the change at once (netmaps follow within the flush delay).
import type { Coordinator } from './coordinator.js';
import { approveRoutes, routeSummaries, unapproveRoutes, type NodeRoutes } from './routes.js';
import { requireNode } from './admin-ops.js';

export interface RoutesApiAnswer {
  status: number;
  body: unknown;
}

/** Null when the path is not a routes endpoint. Throws GrantwireError (ERR_CONTROL_*) on bad input. */
export function routesApi(coordinator: Coordinator, method: string, path: readonly string[], body: Record<string, unknown> | null): RoutesApiAnswer | null {
  const store = coordinator.store;
  if (path.length === 1 && path[0] === 'routes' && method === 'GET') return { status: 200, body: { nodes: routeSummaries(store) } };
  if (path.length !== 3 || path[0] !== 'nodes' || path[2] !== 'routes') return null;
  const n = requireNode(store, path[1]);
  const empty: NodeRoutes = { id: n.id, name: n.hostname, advertised: [], approved: [], autoApproved: [], effective: [], primary: [] };
  if (method === 'GET') return { status: 200, body: routeSummaries(store).find((s) => s.id === n.id) ?? empty };
  if (method !== 'POST') return null;
  const list = (k: string): string[] | null | undefined => {
    const v = body?.[k];
    if (v === undefined) return undefined;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : null;
  };
  const approve = list('approve');
  const unapprove = list('unapprove');
  if (!body || approve === null || unapprove === null || (approve === undefined && unapprove === undefined)) {
    return { status: 400, body: { error: 'body must be {"approve"?: ["CIDR", …], "unapprove"?: ["CIDR", …]}', code: 'bad_request' } };
  }
  let out = empty;
  if (approve) out = approveRoutes(store, String(n.id), approve);
  if (unapprove) out = unapproveRoutes(store, String(n.id), unapprove);
  coordinator.refreshNode(n.id);
  return { status: 200, body: routeSummaries(store).find((s) => s.id === n.id) ?? out };
}
