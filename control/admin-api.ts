// The admin HTTP API (`/api/v1/…`). Every request needs `Authorization: Bearer gwapi-…`, a token created
// on the host (`control users token create LOGIN [--expiry D]`); only its hash is stored. A revoked or
// expired token, or one whose user is gone, gets 401. An admin's token reaches every route; a member's
// only their own access requests (access-api.ts; 403 elsewhere). Each request runs as the token's user,
// the actor of the audit entries its changes write. Without TLS the
// server answers only loopback callers (server.ts). Responses never carry secrets: keys are listed by id
// and state.
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
//   GET    /api/v1/stats                      live streams and netmap counters
//   GET    /api/v1/policy                     active policy {version, file, text}
//   POST   /api/v1/policy                     body = policy text; 400 with diagnostics when invalid
//   /api/v1/me, /api/v1/access/…, /api/v1/audit, /api/v1/webhook: access-api.ts
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseDuration } from '../cli/args.js';
import { accessErrorStatus, handleAccessApi, memberRoute, type ApiCaller } from './access-api.js';
import { withActor } from './audit-log.js';
import { readBody, readJson, send } from './http-json.js';
import { formatDiagnostic } from '../types/errors.js';
import type { PostureValue } from '../types/tailnet.js';
import { addUser, createAuthKey, deleteNode, keySummaries, nodeSummaries, removeAttr, requireNode, revokeAuthKey, setAttr, setNodeTags } from './admin-ops.js';
import type { Coordinator } from './coordinator.js';
import type { Logger } from './logger.js';
import { parseSecret, secretMatches } from './secrets.js';

export interface AdminApiContext {
  coordinator: Coordinator;
  logger: Logger;
  /** Called after a change that queued webhook events (the server's dispatcher delivers them). */
  onEvent?: () => void;
}

/** The token's user, or null. */
function authenticate(req: IncomingMessage, ctx: AdminApiContext): ApiCaller | null {
  const h = req.headers.authorization ?? '';
  const m = /^Bearer (\S+)$/.exec(h);
  if (!m) return null;
  const parsed = parseSecret(m[1], 'gwapi');
  if (!parsed) return null;
  const store = ctx.coordinator.store;
  const row = store.apiToken(parsed.id);
  if (!row || row.revoked !== null || !secretMatches(parsed.secret, row.hash)) return null;
  if (row.expires !== null && row.expires <= Date.now()) return null;
  const user = store.userById(row.userId);
  if (!user) return null;
  store.touchApiToken(row.id);
  return { login: user.login, role: user.role };
}

export async function handleAdminApi(req: IncomingMessage, res: ServerResponse, url: URL, ctx: AdminApiContext): Promise<void> {
  const caller = authenticate(req, ctx);
  if (!caller) return send(res, 401, { error: 'missing or invalid API token', code: 'unauthorized' });
  return withActor({ actor: caller.login, via: 'api' }, () => route(req, res, url, ctx, caller));
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
    if (await handleAccessApi(req, res, url, path, caller, ctx)) return;
    if (caller.role !== 'admin') {
      const error = memberRoute(path) ? 'not found' : `${who} is not an admin`;
      return send(res, memberRoute(path) ? 404 : 403, { error, code: memberRoute(path) ? 'not_found' : 'forbidden' });
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
