// The admin HTTP API (`/api/v1/…`). Every request needs `Authorization: Bearer gwapi-…`, a token created
// on the host (`control users token create LOGIN [--expiry D]`); only its hash is stored. A revoked or
// expired token, or one whose user is gone, gets 401. The console calls the same routes with its session
// cookie plus X-CSRF-Token instead (api-caller.ts; without the token: 403), as the signed-in user. An
// admin reaches every route; a member only GET /api/v1/me (their own devices) and their own access
// requests (access-api.ts; 403 elsewhere). Each request runs as its user, the actor of the audit entries
// its changes write (via `api` or `console`). Without TLS the server answers only loopback callers
// (server.ts). Responses never carry secrets (keys are listed by id and state) and are never cached.
//
//   GET    /api/v1/nodes                      nodes with owner, tags, addresses, online, attributes
//   DELETE /api/v1/nodes/{id|name}
//   PUT    /api/v1/nodes/{id|name}/attrs/{custom:x}   body {"value": …, "expiry"?: "1h"}
//   DELETE /api/v1/nodes/{id|name}/attrs/{custom:x}
//   PUT    /api/v1/nodes/{id|name}/tags          body {"tags": ["tag:a"]}
//   GET    /api/v1/keys
//   POST   /api/v1/keys                       body {"user", "reusable"?, "ephemeral"?, "tags"?, "expiry"?: "1h"}
//                                             → {"id", "key"}: the only response that ever carries a key
//   DELETE /api/v1/keys/{id}                  revoke
//   GET    /api/v1/users
//   POST   /api/v1/users                      body {"login", "role"?: "admin"|"member", "name"?}
//   PUT    /api/v1/users/{login}              body {"role": "admin"|"member"}
//   GET    /api/v1/me                         the caller {login, role, nodes: their own untagged nodes}; members too
//   GET    /api/v1/stats                      live streams and netmap counters
//   GET    /api/v1/policy                     active policy {version, file, text}
//   POST   /api/v1/policy                     body = policy text; 400 with diagnostics when invalid
//   POST   /api/v1/policy/check               body = policy text → {ok, diagnostics: [{line, col, message, code, text}]}
//   POST   /api/v1/policy/preview?node=N      body = policy text → {ok, diagnostics, draft, active}: who can reach
//                                             what for node N under the draft and the active policy (policy-preview.ts)
//   /api/v1/access/…, /api/v1/audit, /api/v1/webhook: access-api.ts
//   GET    /api/v1/routes, GET|POST /api/v1/nodes/{id|name}/routes   subnet routes (admin-routes.ts)
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseDuration } from '../cli/args.js';
import { formatDiagnostic, type Diagnostic } from '../types/errors.js';
import type { PostureValue } from '../types/tailnet.js';
import { accessErrorStatus, handleAccessApi, memberRoute } from './access-api.js';
import { addUser, createAuthKey, deleteNode, keySummaries, nodeSummaries, removeAttr, requireNode, revokeAuthKey, setAttr, setNodeTags, setUserRole } from './admin-ops.js';
import { resolveCaller, type ApiCaller } from './api-caller.js';
import { withActor } from './audit-log.js';
import type { ConsoleSessions } from './console/sessions.js';
import type { Coordinator } from './coordinator.js';
import { readBody, readJson, send } from './http-json.js';
import { routesApi } from './admin-routes.js';
import type { Logger } from './logger.js';
import { reachPreview } from './policy-preview.js';

export interface AdminApiContext {
  coordinator: Coordinator;
  logger: Logger;
  /** Called after a change that queued webhook events (the server's dispatcher delivers them). */
  onEvent?: () => void;
  /** The console's sessions: their cookie (with X-CSRF-Token) is accepted instead of a bearer token. */
  sessions?: ConsoleSessions;
  /** Whether the listener is TLS (the session cookie's name and the origin check depend on it). */
  tls?: boolean;
}

function diagnosticsJson(ds: readonly Diagnostic[]): { line: number; col: number; message: string; code: string; text: string }[] {
  return ds.map((d) => ({ line: d.line, col: d.col, message: d.message, code: d.code, text: formatDiagnostic(d) }));
}

export async function handleAdminApi(req: IncomingMessage, res: ServerResponse, url: URL, ctx: AdminApiContext): Promise<void> {
  const caller = resolveCaller(req, ctx.coordinator.store, ctx.sessions, ctx.tls === true);
  if (!('login' in caller)) return send(res, caller.status, { error: caller.error, code: caller.code });
  return withActor({ actor: caller.login, via: caller.via === 'session' ? 'console' : 'api' }, () => route(req, res, url, ctx, caller));
}

async function route(req: IncomingMessage, res: ServerResponse, url: URL, ctx: AdminApiContext, caller: ApiCaller): Promise<void> {
  const who = caller.login;
  const { coordinator } = ctx;
  const store = coordinator.store;
  let path: string[];
  try {
    path = url.pathname.slice('/api/v1/'.length).split('/').map(decodeURIComponent);
  } catch {
    return send(res, 400, { error: 'malformed percent-encoding in path', code: 'bad_request' });
  }
  const method = req.method ?? 'GET';
  try {
    if (path[0] === 'me' && path.length === 1 && method === 'GET') {
      const nodes = nodeSummaries(store)
        .filter((n) => n.user === who && n.tags.length === 0)
        .map((n) => ({ ...n, online: coordinator.isOnline(n.id) }));
      return send(res, 200, { login: who, role: caller.role, nodes });
    }
    if (await handleAccessApi(req, res, url, path, caller, ctx)) return;
    if (caller.role !== 'admin') {
      const error = memberRoute(path) ? 'not found' : `${who} is not an admin`;
      return send(res, memberRoute(path) ? 404 : 403, { error, code: memberRoute(path) ? 'not_found' : 'forbidden' });
    }
    if (path[0] === 'routes' || (path[0] === 'nodes' && path[2] === 'routes')) {
      const r = routesApi(coordinator, method, path, method === 'POST' ? await readJson(req) : null);
      if (r) return send(res, r.status, r.body);
    }
    if (path[0] === 'nodes' && path.length === 1 && method === 'GET') {
      const nodes = nodeSummaries(store).map((n) => ({ ...n, online: coordinator.isOnline(n.id) }));
      return send(res, 200, { nodes });
    }
    if (path[0] === 'nodes' && path.length === 2 && method === 'DELETE') {
      const n = deleteNode(store, path[1]);
      coordinator.refreshNode(n.id);
      ctx.logger.log('info', 'node deleted via API', { node: n.hostname, id: n.id, by: who });
      return send(res, 200, { deleted: n.id });
    }
    if (path[0] === 'nodes' && path.length === 4 && path[2] === 'attrs' && (method === 'PUT' || method === 'DELETE')) {
      if (method === 'DELETE') {
        const removed = removeAttr(store, path[1], path[3]);
        coordinator.refreshNode(requireNode(store, path[1]).id);
        return send(res, removed ? 200 : 404, removed ? { removed: path[3] } : { error: 'no such attribute', code: 'not_found' });
      }
      // readJson: any body that is not a JSON object (`null` too) is a 400, never a property read on null.
      const parsed = await readJson(req);
      if (!parsed) return send(res, 400, { error: 'body must be JSON {"value": …, "expiry"?: "1h"}', code: 'bad_request' });
      const v = parsed.value;
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
        return send(res, 400, { error: 'value must be a string, number or boolean', code: 'bad_request' });
      }
      let expiry: number | null = null;
      if (parsed.expiry !== undefined) {
        expiry = typeof parsed.expiry === 'string' ? parseDuration(parsed.expiry) : null;
        if (expiry === null) return send(res, 400, { error: 'expiry must be a duration like 30s, 5m, 1h', code: 'bad_request' });
      }
      const n = setAttr(store, path[1], path[3], v as PostureValue, expiry);
      coordinator.refreshNode(n.id);
      ctx.logger.log('info', 'attribute set via API', { node: n.hostname, attr: path[3], by: who });
      return send(res, 200, { node: n.id, attr: path[3], value: v });
    }
    if (path[0] === 'nodes' && path.length === 3 && path[2] === 'tags' && method === 'PUT') {
      const body = await readJson(req);
      const tags = body?.tags;
      if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) return send(res, 400, { error: 'body must be {"tags": ["tag:x", …]}', code: 'bad_request' });
      const n = setNodeTags(store, path[1], tags as string[]);
      coordinator.refreshNode(n.id);
      ctx.logger.log('info', 'node tags set via API', { node: n.hostname, tags: n.tags.join(','), by: who });
      return send(res, 200, { node: n.id, tags: n.tags });
    }
    if (path[0] === 'keys' && path.length === 1 && method === 'GET') return send(res, 200, { keys: keySummaries(store) });
    if (path[0] === 'keys' && path.length === 1 && method === 'POST') {
      const b = await readJson(req);
      if (!b || typeof b.user !== 'string') return send(res, 400, { error: 'body must be {"user": LOGIN, …}', code: 'bad_request' });
      let expiresInMs: number | null = null;
      if (b.expiry !== undefined) {
        expiresInMs = typeof b.expiry === 'string' ? parseDuration(b.expiry) : null;
        if (expiresInMs === null) return send(res, 400, { error: 'expiry must be a duration like 30s, 5m, 1h', code: 'bad_request' });
      }
      const tags = b.tags ?? [];
      if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) return send(res, 400, { error: 'tags must be a list of strings', code: 'bad_request' });
      const k = createAuthKey(store, { user: b.user, reusable: b.reusable === true, ephemeral: b.ephemeral === true, tags: tags as string[], expiresInMs });
      ctx.logger.log('info', 'auth key created via API', { key: k.id, user: b.user, by: who });
      return send(res, 200, { id: k.id, key: k.key });
    }
    if (path[0] === 'keys' && path.length === 2 && method === 'DELETE') {
      if (!store.authKey(path[1])) return send(res, 404, { error: 'no such key', code: 'not_found' });
      revokeAuthKey(store, path[1]);
      ctx.logger.log('info', 'auth key revoked via API', { key: path[1], by: who });
      return send(res, 200, { revoked: path[1] });
    }
    if (path[0] === 'users' && path.length === 1 && method === 'POST') {
      const b = await readJson(req);
      const role = b?.role ?? 'member';
      if (!b || typeof b.login !== 'string' || (role !== 'admin' && role !== 'member') || (b.name !== undefined && typeof b.name !== 'string')) {
        return send(res, 400, { error: 'body must be {"login": "user@domain", "role"?: "admin"|"member", "name"?}', code: 'bad_request' });
      }
      const u = addUser(store, b.login, role, b.name as string | undefined);
      coordinator.refreshUsers([u.id]);
      ctx.logger.log('info', 'user added via API', { user: u.login, role: u.role, by: who });
      return send(res, 200, { id: u.id, login: u.login, name: u.name, role: u.role });
    }
    if (path[0] === 'users' && path.length === 2 && method === 'PUT') {
      const b = await readJson(req);
      if (!b || (b.role !== 'admin' && b.role !== 'member')) return send(res, 400, { error: 'body must be {"role": "admin"|"member"}', code: 'bad_request' });
      const u = setUserRole(store, path[1], b.role);
      coordinator.refreshUsers([u.id]);
      ctx.logger.log('info', 'user role set via API', { user: u.login, role: u.role, by: who });
      return send(res, 200, { id: u.id, login: u.login, name: u.name, role: u.role });
    }
    if (path[0] === 'users' && path.length === 1 && method === 'GET') {
      return send(res, 200, { users: store.listUsers().map((u) => ({ id: u.id, login: u.login, name: u.name, role: u.role })) });
    }
    if (path[0] === 'stats' && path.length === 1 && method === 'GET') {
      return send(res, 200, { streams: coordinator.streamCount, policyVersion: coordinator.policyVersion, ...coordinator.stats });
    }
    if (path[0] === 'policy' && path.length === 1 && method === 'GET') {
      const p = coordinator.activePolicy;
      return send(res, 200, { version: p.id, file: p.file, created: p.created, text: p.text });
    }
    if (path[0] === 'policy' && path.length === 2 && (path[1] === 'check' || path[1] === 'preview') && method === 'POST') {
      const body = await readBody(req);
      if (body === null) return send(res, 413, { error: 'policy too large', code: 'too_large' });
      const file = url.searchParams.get('file') ?? 'policy.hujson';
      const d = coordinator.draft(body, file);
      const out = { ok: d.check.ok, diagnostics: diagnosticsJson(d.check.diagnostics) };
      if (path[1] === 'check') return send(res, 200, out);
      const node = url.searchParams.get('node') ?? '';
      const active = coordinator.draft(null, file);
      const before = active.compiler && reachPreview(active.compiler, active.tailnet, node);
      if (!d.tailnet.nodes.some((n) => n.name === node)) return send(res, 404, { error: `no such node: ${node}`, code: 'not_found' });
      return send(res, 200, { ...out, draft: d.compiler && reachPreview(d.compiler, d.tailnet, node), active: before });
    }
    if (path[0] === 'policy' && path.length === 1 && method === 'POST') {
      const body = await readBody(req);
      if (body === null) return send(res, 413, { error: 'policy too large', code: 'too_large' });
      const r = coordinator.setPolicy(body, url.searchParams.get('file') ?? 'policy.hujson');
      if (!r.ok) return send(res, 400, { error: 'policy rejected', code: 'policy_invalid', diagnostics: r.diagnostics.map(formatDiagnostic) });
      ctx.onEvent?.();
      ctx.logger.log('info', 'policy set via API', { version: r.version, by: who });
      return send(res, 200, { version: r.version });
    }
    return send(res, 404, { error: 'not found', code: 'not_found' });
  } catch (err) {
    const e = err as Error & { code?: string };
    if (typeof e.code === 'string' && e.code.startsWith('ERR_CONTROL_')) {
      const { status, code } = accessErrorStatus(e.code);
      return send(res, status, { error: e.message, code });
    }
    throw err;
  }
}
