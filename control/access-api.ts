// The admin API's access-request, audit and webhook routes (issue 15). The caller is the API token's user
// (admin-api.ts authenticates); every change runs as that user (audit actor, via `api`).
//
//   (GET /api/v1/me → {login, role, nodes} is admin-api.ts's)
//   GET    /api/v1/access/requests[?state=S&requester=L] → {requests: AccessRequest[]} newest first; a member
//                                                          sees their own and those they may approve
//   POST   /api/v1/access/requests                      body {attr, value, for: "1h", reason, node?}
//                                                        → 200 {request}: requester = the caller
//   GET    /api/v1/access/requests/{id}                 → {request}
//   POST   /api/v1/access/requests/{id}/approve         → {request}
//   POST   /api/v1/access/requests/{id}/deny            body {reason} → {request}
//   POST   /api/v1/access/requests/{id}/cancel          → {request}
//   POST   /api/v1/access/requests/{id}/revoke          → {request}
//   GET    /api/v1/access/approvers                     → {approvers: [{attr, approvers, maxMs}]}
//   PUT    /api/v1/access/approvers/{custom:x}          body {approvers: [...], max?: "8h"} (admin) → {attr, approvers, maxMs}
//   GET    /api/v1/audit[?since=MS|ISO&actor=L&action=A&limit=N]  (admin) → {entries: AuditEntry[]} oldest first
//   GET    /api/v1/webhook                              (admin) → {url|null, queued}
//   PUT    /api/v1/webhook                              body {url, secret} (admin) → {url}
//   DELETE /api/v1/webhook                              (admin) → {cleared: bool}
//
// Errors: {error, code}: 400 bad input (ERR_CONTROL_*), 403 `forbidden` (not allowed: own request, not an
// approver, member on an admin route), 404 `not_found`, 409 `bad_transition` (e.g. approving a denied request).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseDuration } from '../cli/args.js';
import type { PostureValue } from '../types/tailnet.js';
import type { ApiCaller } from './api-caller.js';
import { isAccessState } from './access-machine.js';
import {
  accessActor,
  accessConfig,
  approveRequest,
  cancelRequest,
  createRequest,
  denyRequest,
  getRequest,
  listAccessConfigs,
  listRequests,
  revokeRequest,
  setApprovers,
  type TransitionResult,
} from './access-requests.js';
import { listAudit } from './audit-log.js';
import type { Coordinator } from './coordinator.js';
import { readJson, send } from './http-json.js';
import { clearWebhook, setWebhook } from './webhook-admin.js';
import { outboxSize, webhookConfig } from './webhook-outbox.js';

export type { ApiCaller } from './api-caller.js';

export interface AccessApiContext {
  coordinator: Coordinator;
  /** Called after a change that queued webhook events in this process. */
  onEvent?: () => void;
}

/** True for the routes a member token may call (everything else needs an admin). */
export function memberRoute(path: readonly string[]): boolean {
  return path[0] === 'me' || (path[0] === 'access' && path[1] === 'requests') || (path[0] === 'access' && path[1] === 'approvers' && path.length === 2);
}

/** Handles the route and returns true, or returns false when it is not one of these routes. */
export async function handleAccessApi(req: IncomingMessage, res: ServerResponse, url: URL, path: string[], caller: ApiCaller, ctx: AccessApiContext): Promise<boolean> {
  const { coordinator } = ctx;
  const store = coordinator.store;
  const method = req.method ?? 'GET';
  const admin = caller.role === 'admin';
  const forbidden = (): true => {
    send(res, 403, { error: `${caller.login} is not an admin`, code: 'forbidden' });
    return true;
  };

  if (path[0] === 'access' && path[1] === 'requests') {
    if (path.length === 2 && method === 'GET') {
      const state = url.searchParams.get('state');
      if (state !== null && !isAccessState(state)) return bad(res, `state must be one of pending, approved, denied, cancelled, expired, ended, revoked`);
      const requester = url.searchParams.get('requester') ?? undefined;
      let rows = listRequests(store, { state: state ?? undefined, requester });
      if (!admin) {
        const me = accessActor(store, caller.login);
        const approves = (attr: string): boolean => accessConfig(store, attr).approvers.some((a) => a === me.login || (a.startsWith('group:') && me.inGroup(a)));
        rows = rows.filter((r) => r.requester === caller.login || approves(r.attribute));
      }
      send(res, 200, { requests: rows });
      return true;
    }
    if (path.length === 2 && method === 'POST') {
      const b = await readJson(req);
      const shape = 'body must be {"attr": "custom:x", "value": …, "for": "1h", "reason": "…", "node"?: NODE}';
      if (!b || typeof b.attr !== 'string' || typeof b.reason !== 'string' || typeof b.for !== 'string' || (b.node !== undefined && typeof b.node !== 'string')) return bad(res, shape);
      const v = b.value;
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return bad(res, 'value must be a string, number or boolean');
      const durationMs = parseDuration(b.for);
      if (durationMs === null || durationMs <= 0) return bad(res, 'for must be a duration like 30m, 2h');
      const r = createRequest(store, { requester: caller.login, attr: b.attr, value: v as PostureValue, durationMs, reason: b.reason, node: b.node as string | undefined });
      ctx.onEvent?.();
      send(res, 200, { request: r });
      return true;
    }
    const id = path[2] !== undefined && /^[0-9]{1,15}$/.test(path[2]) ? Number(path[2]) : null;
    if (id === null) return false;
    if (path.length === 3 && method === 'GET') {
      const r = getRequest(store, id);
      if (!admin && r.requester !== caller.login) {
        const me = accessActor(store, caller.login);
        if (!accessConfig(store, r.attribute).approvers.some((a) => a === me.login || (a.startsWith('group:') && me.inGroup(a)))) {
          send(res, 404, { error: `no such access request: ${id}`, code: 'not_found' });
          return true;
        }
      }
      send(res, 200, { request: r });
      return true;
    }
    if (path.length === 4 && method === 'POST' && ['approve', 'deny', 'cancel', 'revoke'].includes(path[3])) {
      const who = accessActor(store, caller.login);
      let result: TransitionResult;
      if (path[3] === 'deny') {
        const b = await readJson(req);
        if (!b || typeof b.reason !== 'string') return bad(res, 'body must be {"reason": "…"}');
        result = denyRequest(store, id, who, b.reason);
      } else {
        result = path[3] === 'approve' ? approveRequest(store, id, who) : path[3] === 'cancel' ? cancelRequest(store, id, who) : revokeRequest(store, id, who);
      }
      for (const n of result.nodes) coordinator.refreshNode(n);
      ctx.onEvent?.();
      send(res, 200, { request: result.request });
      return true;
    }
    return false;
  }

  if (path[0] === 'access' && path[1] === 'approvers') {
    if (path.length === 2 && method === 'GET') {
      send(res, 200, { approvers: listAccessConfigs(store) });
      return true;
    }
    if (path.length === 3 && method === 'PUT') {
      if (!admin) return forbidden();
      const b = await readJson(req);
      const list = b?.approvers;
      if (!b || !Array.isArray(list) || !list.every((a) => typeof a === 'string') || (b.max !== undefined && typeof b.max !== 'string')) {
        return bad(res, 'body must be {"approvers": ["user@domain" | "group:x", …], "max"?: "8h"}');
      }
      let maxMs: number | undefined;
      if (b.max !== undefined) {
        const d = parseDuration(b.max as string);
        if (d === null || d <= 0) return bad(res, 'max must be a duration like 8h');
        maxMs = d;
      }
      send(res, 200, setApprovers(store, path[2], list as string[], maxMs));
      return true;
    }
    return false;
  }

  if (path[0] === 'audit' && path.length === 1 && method === 'GET') {
    if (!admin) return forbidden();
    const q = url.searchParams;
    let since: number | undefined;
    const s = q.get('since');
    if (s !== null) {
      since = /^[0-9]{1,15}$/.test(s) ? Number(s) : Date.parse(s);
      if (Number.isNaN(since)) return bad(res, 'since must be ms since the epoch or an ISO time');
    }
    const limitText = q.get('limit');
    if (limitText !== null && !/^[1-9][0-9]{0,4}$/.test(limitText)) return bad(res, 'limit must be 1-99999');
    const entries = listAudit(store.db, { since, actor: q.get('actor') ?? undefined, action: q.get('action') ?? undefined, limit: limitText === null ? undefined : Number(limitText) });
    send(res, 200, { entries });
    return true;
  }

  if (path[0] === 'webhook' && path.length === 1) {
    if (!admin) return forbidden();
    if (method === 'GET') {
      send(res, 200, { url: webhookConfig(store.db)?.url ?? null, queued: outboxSize(store.db) });
      return true;
    }
    if (method === 'PUT') {
      const b = await readJson(req);
      if (!b || typeof b.url !== 'string' || typeof b.secret !== 'string') return bad(res, 'body must be {"url": "https://…", "secret": "…"}');
      setWebhook(store, b.url, b.secret);
      send(res, 200, { url: b.url });
      return true;
    }
    if (method === 'DELETE') {
      send(res, 200, { cleared: clearWebhook(store) });
      return true;
    }
  }
  return false;
}

function bad(res: ServerResponse, error: string): true {
  send(res, 400, { error, code: 'bad_request' });
  return true;
}

/** The HTTP status for a GrantwireError code thrown by the access routes (400 for the rest). */
export function accessErrorStatus(code: string): { status: number; code: string } {
  if (code === 'ERR_CONTROL_FORBIDDEN') return { status: 403, code: 'forbidden' };
  if (code === 'ERR_CONTROL_NO_REQUEST') return { status: 404, code: 'not_found' };
  if (code === 'ERR_CONTROL_BAD_TRANSITION') return { status: 409, code: 'bad_transition' };
  return { status: 400, code };
}
