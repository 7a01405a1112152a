// Subnet route approval (issue 14). A node advertises routes (Hostinfo.routableIPs, stored in
// nodes.advertised_routes); an admin approves them (`control nodes routes approve`, nodes.approved_routes)
// or the policy's autoApprovers do (policy/auto-approvers.ts, evaluated against the active policy, never
// stored, so a policy change approves or withdraws at once). The effective routes, the only ones that
// reach netmaps and the policy compiler, are advertised ∩ (approved ∪ auto-approved), kept in nodes.routes.
// An approval of a route the node does not advertise is remembered and takes effect when it does.
//
// The coordinator reconciles nodes.routes after every node change and policy change; the admin commands
// reconcile the node they touched, so the listing is right even without a running server. An approval
// that changes something writes one audit entry (audit-log.ts) in the same transaction.
import { GrantwireError } from '../types/errors.js';
import { checkRoutes, sortRoutes } from '../types/route.js';
import type { TailnetNode, TailnetUser } from '../types/tailnet.js';
import { AutoApprover } from '../policy/auto-approvers.js';
import { recordAudit } from './audit-log.js';
import { parseStored } from './policy-tags.js';
import type { NodeRow, Store, UserRow } from './store.js';

/** Meta key under which the running coordinator records the primary router of each route. */
export const PRIMARY_ROUTES_META = 'primary_routes';

/** What the policy approves for a node without an admin. */
export interface RouteApprover {
  autoApproved(node: TailnetNode, advertised: readonly string[]): string[];
}

export const NO_AUTO_APPROVER: RouteApprover = { autoApproved: () => [] };

/** The approver of a stored (already validated) policy; users give autogroup:admin its members. */
export function routeApprover(text: string, file: string, users: readonly TailnetUser[]): RouteApprover {
  const auto = new AutoApprover(parseStored(text, file), [...users]);
  return { autoApproved: (node, advertised) => auto.approve(node, advertised) };
}

/** The identity facts autoApprovers look at. */
export function approvalSubject(n: NodeRow, owner: UserRow | undefined): TailnetNode {
  return { name: n.hostname, tags: [...n.tags], ips: [n.v4, n.v6], ...(owner ? { user: owner.login } : {}) };
}

/** advertised ∩ (approved ∪ auto-approved), sorted. */
export function effectiveRoutes(n: NodeRow, autoApproved: readonly string[]): string[] {
  return sortRoutes(n.advertisedRoutes.filter((r) => n.approvedRoutes.includes(r) || autoApproved.includes(r)));
}

/** Writes nodes.routes when it differs from what approval says; true when it changed. */
export function reconcileRoutes(store: Store, approver: RouteApprover, n: NodeRow, owner: UserRow | undefined, record: boolean): boolean {
  const auto = n.advertisedRoutes.length === 0 ? [] : approver.autoApproved(approvalSubject(n, owner), n.advertisedRoutes);
  const eff = effectiveRoutes(n, auto);
  if (eff.join() === n.routes.join()) return false;
  store.updateNode(n.id, { routes: eff }, record);
  return true;
}

/** The active policy's approver, for admin commands (deny-all policies approve nothing). */
export function storedApprover(store: Store): RouteApprover {
  const p = store.activePolicy();
  if (!p) return NO_AUTO_APPROVER;
  return routeApprover(p.text, p.file, store.listUsers().map((u) => ({ login: u.login, role: u.role })));
}

export interface NodeRoutes {
  id: number;
  name: string;
  advertised: string[];
  /** Approved by an admin (whether advertised or not). */
  approved: string[];
  /** Approved by the policy's autoApprovers. */
  autoApproved: string[];
  /** Served: advertised and approved. */
  effective: string[];
  /** Effective routes this node is the primary router for (exit routes are never elected). */
  primary: string[];
}

/** Every node that advertises or has approved routes. */
export function routeSummaries(store: Store): NodeRoutes[] {
  const approver = storedApprover(store);
  const users = new Map(store.listUsers().map((u) => [u.id, u]));
  let primaries: Record<string, number> = {};
  try {
    primaries = JSON.parse(store.getMeta(PRIMARY_ROUTES_META) ?? '{}') as Record<string, number>;
  } catch {
    // a damaged meta row only loses the primary column
  }
  const out: NodeRoutes[] = [];
  for (const n of store.listNodes()) {
    if (n.advertisedRoutes.length === 0 && n.approvedRoutes.length === 0 && n.routes.length === 0) continue;
    const auto = approver.autoApproved(approvalSubject(n, users.get(n.userId)), n.advertisedRoutes);
    const effective = effectiveRoutes(n, auto);
    out.push({
      id: n.id,
      name: n.hostname,
      advertised: n.advertisedRoutes,
      approved: n.approvedRoutes,
      autoApproved: auto,
      effective,
      primary: effective.filter((r) => primaries[r] === n.id),
    });
  }
  return out;
}

function routeArgs(prefixes: readonly string[]): string[] {
  if (prefixes.length === 0) throw new GrantwireError('ERR_CONTROL_BAD_ROUTE', 'give at least one route (e.g. 10.0.0.0/24, or 0.0.0.0/0 ::/0 for an exit node)');
  const { routes, problems } = checkRoutes(prefixes);
  if (problems.length > 0) throw new GrantwireError('ERR_CONTROL_BAD_ROUTE', problems.join('; '));
  return routes;
}

function findNode(store: Store, ref: string): NodeRow {
  const n = store.findNode(ref);
  if (!n) throw new GrantwireError('ERR_CONTROL_NO_NODE', `no such node: ${ref}`);
  return n;
}

/** Approves routes for a node (approving a route it does not advertise takes effect once it does). */
export function approveRoutes(store: Store, nodeRef: string, prefixes: readonly string[]): NodeRoutes {
  return changeApproval(store, nodeRef, prefixes, true);
}

export function unapproveRoutes(store: Store, nodeRef: string, prefixes: readonly string[]): NodeRoutes {
  return changeApproval(store, nodeRef, prefixes, false);
}

function changeApproval(store: Store, nodeRef: string, prefixes: readonly string[], approve: boolean): NodeRoutes {
  const routes = routeArgs(prefixes);
  const n = findNode(store, nodeRef);
  const approved = approve ? sortRoutes([...new Set([...n.approvedRoutes, ...routes])]) : n.approvedRoutes.filter((r) => !routes.includes(r));
  store.tx(() => {
    store.updateNode(n.id, { approvedRoutes: approved });
    if (approved.join() !== n.approvedRoutes.join()) {
      recordAudit(store.db, { action: approve ? 'node.routes.approve' : 'node.routes.unapprove', target: n.hostname, summary: `${n.hostname}: ${approve ? 'approved' : 'unapproved'} ${routes.join(', ')}`, before: { approved: n.approvedRoutes }, after: { approved } });
    }
    const after = store.node(n.id)!;
    reconcileRoutes(store, storedApprover(store), after, store.userById(after.userId) ?? undefined, true);
  });
  return routeSummaries(store).find((s) => s.id === n.id) ?? { id: n.id, name: n.hostname, advertised: [], approved: [], autoApproved: [], effective: [], primary: [] };
}
