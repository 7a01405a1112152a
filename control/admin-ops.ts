// Admin operations shared by the host commands (control/cli/*) and the admin HTTP API: each validates its
// input, writes the Store (which records the change for a running server), and returns plain data.
// Secrets appear only in the return value of the call that creates them. Every call that changes
// something writes exactly one audit entry in the same transaction (audit-log.ts; the actor is the
// ambient one: the API token's user, or the OS user of a host command); a call that changes nothing
// (revoking a revoked key, setting the role a user has) writes none.
import { GrantwireError } from '../types/errors.js';
import type { PostureValue, UserRole } from '../types/tailnet.js';
import { recordAudit } from './audit-log.js';
import { isTag } from './protocol.js';
import { newSecret } from './secrets.js';
import { policyTags } from './policy-tags.js';
import type { AuthKeyRow, NodeRow, Store, UserRow } from './store.js';

export interface NodeSummary {
  id: number;
  stableId: string;
  name: string;
  user: string;
  tags: string[];
  addresses: string[];
  endpoints: string[];
  os: string;
  agentVersion?: string;
  /** Subnet routes: what the node advertises, what an admin approved, and what it serves (control/routes.ts). */
  advertisedRoutes: string[];
  approvedRoutes: string[];
  routes: string[];
  ephemeral: boolean;
  created: number;
  lastSeen: number | null;
  keyExpiry: number | null;
  expired: boolean;
  nodeKey: string;
  attrs: Record<string, { value: PostureValue; expires: number | null }>;
}

export function nodeSummaries(store: Store, now = Date.now()): NodeSummary[] {
  const users = new Map(store.listUsers().map((u) => [u.id, u]));
  const attrs = new Map<number, NodeSummary['attrs']>();
  for (const a of store.allAttrs()) {
    if (a.expires !== null && a.expires <= now) continue;
    const m = attrs.get(a.nodeId) ?? {};
    m[a.name] = { value: a.value, expires: a.expires };
    attrs.set(a.nodeId, m);
  }
  return store.listNodes().map((n) => summary(n, users.get(n.userId), attrs.get(n.id) ?? {}, now));
}

function summary(n: NodeRow, u: UserRow | undefined, attrs: NodeSummary['attrs'], now: number): NodeSummary {
  const s: NodeSummary = {
    id: n.id,
    stableId: n.stableId,
    name: n.hostname,
    user: u?.login ?? '?',
    tags: n.tags,
    addresses: [n.v4, n.v6],
    endpoints: n.endpoints,
    os: n.hostinfo.os,
    ephemeral: n.ephemeral,
    created: n.created,
    lastSeen: n.lastSeen,
    keyExpiry: n.keyExpiry,
    expired: n.keyExpiry !== null && n.keyExpiry <= now,
    nodeKey: n.nodeKey,
    attrs,
    advertisedRoutes: n.advertisedRoutes,
    approvedRoutes: n.approvedRoutes,
    routes: n.routes,
  };
  if (n.hostinfo.agentVersion !== undefined) s.agentVersion = n.hostinfo.agentVersion;
  return s;
}

export interface KeySummary {
  id: string;
  user: string;
  reusable: boolean;
  ephemeral: boolean;
  tags: string[];
  created: number;
  expires: number | null;
  revoked: number | null;
  uses: number;
  lastUsed: number | null;
  state: 'valid' | 'expired' | 'revoked' | 'used';
}

export function keySummaries(store: Store, now = Date.now()): KeySummary[] {
  const users = new Map(store.listUsers().map((u) => [u.id, u]));
  return store.listAuthKeys().map((k: AuthKeyRow) => ({
    id: k.id,
    user: users.get(k.userId)?.login ?? '?',
    reusable: k.reusable,
    ephemeral: k.ephemeral,
    tags: k.tags,
    created: k.created,
    expires: k.expires,
    revoked: k.revoked,
    uses: k.uses,
    lastUsed: k.lastUsed,
    state: k.revoked !== null ? 'revoked' : k.expires !== null && k.expires <= now ? 'expired' : !k.reusable && k.uses > 0 ? 'used' : 'valid',
  }));
}

const LOGIN_RE = /^[^\s@]+@[^\s@]+$/;

export function addUser(store: Store, login: string, role: UserRole, name?: string): UserRow {
  if (!LOGIN_RE.test(login) || login.length > 256) throw new GrantwireError('ERR_CONTROL_BAD_LOGIN', `invalid login ${JSON.stringify(login)}: expected user@domain`);
  return store.tx(() => {
    const u = store.addUser(login, name ?? login.split('@')[0], role);
    recordAudit(store.db, { action: 'user.add', target: u.login, summary: `added user ${u.login} (${u.role})`, after: { login: u.login, name: u.name, role: u.role } });
    return u;
  });
}

function requireUser(store: Store, login: string): UserRow {
  const u = store.userByLogin(login);
  if (!u) throw new GrantwireError('ERR_CONTROL_NO_USER', `no such user: ${login} (add it with 'control users add')`);
  return u;
}

/** Tags must be well-formed and, when a policy is active, declared in its tagOwners. */
export function checkTags(store: Store, tags: readonly string[]): void {
  const bad = tags.filter((t) => !isTag(t));
  if (bad.length > 0) throw new GrantwireError('ERR_CONTROL_BAD_TAG', `invalid tag ${JSON.stringify(bad[0])}: expected tag:name`);
  const policy = store.activePolicy();
  if (!policy) return;
  const rules = policyTags(policy.text, policy.file);
  const undeclared = tags.filter((t) => !rules.declares(t));
  if (undeclared.length > 0) {
    throw new GrantwireError('ERR_CONTROL_UNDECLARED_TAG', `tag ${undeclared[0]} is not declared in the active policy's tagOwners`);
  }
}

export interface CreateKeyOptions {
  user: string;
  reusable?: boolean;
  ephemeral?: boolean;
  tags?: string[];
  expiresInMs?: number | null;
}

/** Creates an auth key; the returned text is the only time the secret exists outside the caller's hands. */
export function createAuthKey(store: Store, o: CreateKeyOptions, now = Date.now()): { id: string; key: string } {
  const user = requireUser(store, o.user);
  const tags = [...new Set(o.tags ?? [])].sort();
  checkTags(store, tags);
  const s = newSecret('gwkey');
  const row = {
    id: s.id,
    hash: s.hash,
    userId: user.id,
    reusable: o.reusable ?? false,
    ephemeral: o.ephemeral ?? false,
    tags,
    created: now,
    expires: o.expiresInMs === undefined || o.expiresInMs === null ? null : now + o.expiresInMs,
  };
  store.tx(() => {
    store.insertAuthKey(row);
    const kind = [row.reusable ? 'reusable' : 'one-off', row.ephemeral ? 'ephemeral' : ''].filter(Boolean).join(' ');
    recordAudit(store.db, {
      action: 'key.create',
      target: s.id,
      summary: `${kind} auth key ${s.id} for ${user.login}${tags.length > 0 ? ` tags ${tags.join(',')}` : ''}`,
      after: { user: user.login, reusable: row.reusable, ephemeral: row.ephemeral, tags, expires: row.expires },
    });
  });
  return { id: s.id, key: s.text };
}

/**
 * Creates an API token for a user; `expiresInMs` null: until revoked. An admin's token reaches the whole
 * admin API; a member's only their own access requests (access-api.ts). The role is read at each use.
 */
export function createApiToken(store: Store, login: string, now = Date.now(), expiresInMs: number | null = null): { id: string; token: string } {
  const user = requireUser(store, login);
  const s = newSecret('gwapi');
  const expires = expiresInMs === null ? null : now + expiresInMs;
  store.tx(() => {
    store.insertApiToken({ id: s.id, hash: s.hash, userId: user.id, created: now, expires });
    recordAudit(store.db, { action: 'token.create', target: s.id, summary: `API token ${s.id} for ${user.login} (${user.role})`, after: { user: user.login, expires } });
  });
  return { id: s.id, token: s.text };
}

export interface TokenSummary {
  id: string;
  user: string;
  created: number;
  expires: number | null;
  lastUsed: number | null;
  state: 'valid' | 'expired' | 'revoked';
}

export function tokenSummaries(store: Store, now = Date.now()): TokenSummary[] {
  const users = new Map(store.listUsers().map((u) => [u.id, u]));
  return store.listApiTokens().map((t) => ({
    id: t.id,
    user: users.get(t.userId)?.login ?? '?',
    created: t.created,
    expires: t.expires,
    lastUsed: t.lastUsed,
    state: t.revoked !== null ? 'revoked' : t.expires !== null && t.expires <= now ? 'expired' : 'valid',
  }));
}

/** Revokes an API token by id; false when it was already revoked. */
export function revokeApiToken(store: Store, id: string): boolean {
  if (!store.apiToken(id)) throw new GrantwireError('ERR_CONTROL_NO_TOKEN', `no such API token: ${id}`);
  return store.tx(() => {
    const done = store.revokeApiToken(id);
    if (done) recordAudit(store.db, { action: 'token.revoke', target: id, summary: `API token ${id} revoked` });
    return done;
  });
}

/** Revokes an auth key by id; false when it was already revoked. */
export function revokeAuthKey(store: Store, id: string): boolean {
  if (!store.authKey(id)) throw new GrantwireError('ERR_CONTROL_NO_KEY', `no such key: ${id}`);
  return store.tx(() => {
    const done = store.revokeAuthKey(id);
    if (done) recordAudit(store.db, { action: 'key.revoke', target: id, summary: `auth key ${id} revoked` });
    return done;
  });
}

export function setUserRole(store: Store, login: string, role: UserRole): UserRow {
  const u = requireUser(store, login);
  if (u.role === role) return u;
  store.tx(() => {
    store.setUserRole(u.id, role);
    recordAudit(store.db, { action: 'user.role', target: u.login, summary: `${u.login}: ${u.role} → ${role}`, before: { role: u.role }, after: { role } });
  });
  return { ...u, role };
}

/** Deletes a user, their nodes, auth keys and API tokens (Store.deleteUser); returns the removed node ids. */
export function deleteUser(store: Store, login: string): number[] {
  const u = requireUser(store, login);
  return store.tx(() => {
    const removed = store.deleteUser(u.id);
    recordAudit(store.db, {
      action: 'user.delete',
      target: u.login,
      summary: `deleted user ${u.login} with ${removed.length} node${removed.length === 1 ? '' : 's'}, their auth keys and API tokens`,
      before: { login: u.login, role: u.role, nodes: removed },
    });
    return removed;
  });
}

/** Deletes a node (and its attributes); returns the row it had. */
export function deleteNode(store: Store, ref: string): NodeRow {
  const n = requireNode(store, ref);
  store.tx(() => {
    store.deleteNode(n.id);
    recordAudit(store.db, { action: 'node.delete', target: n.hostname, summary: `deleted node ${n.hostname} (id ${n.id})`, before: { id: n.id, tags: n.tags, addresses: [n.v4, n.v6] } });
  });
  return n;
}

export function requireNode(store: Store, ref: string): NodeRow {
  const n = store.findNode(ref);
  if (!n) throw new GrantwireError('ERR_CONTROL_NO_NODE', `no such node: ${ref}`);
  return n;
}

const ATTR_RE = /^custom:[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** `attrs set` VALUE: JSON when it parses to a string, number or boolean, else the text itself. */
export function parseAttrValue(text: string): PostureValue {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) return v;
  } catch {
    // not JSON: a plain string
  }
  return text;
}

export function setAttr(store: Store, nodeRef: string, name: string, value: PostureValue, expiresInMs: number | null, now = Date.now()): NodeRow {
  if (!ATTR_RE.test(name)) throw new GrantwireError('ERR_CONTROL_BAD_ATTR', `invalid attribute ${JSON.stringify(name)}: expected custom:name`);
  const n = requireNode(store, nodeRef);
  const expires = expiresInMs === null ? null : now + expiresInMs;
  store.tx(() => {
    const before = store.attrsOf(n.id).find((a) => a.name === name);
    store.setAttr(n.id, name, value, expires);
    recordAudit(store.db, {
      action: 'attr.set',
      target: `${n.hostname} ${name}`,
      summary: `${n.hostname}: ${name} = ${JSON.stringify(value)}${expires === null ? '' : ` until ${new Date(expires).toISOString()}`}`,
      before: before && { value: before.value, expires: before.expires },
      after: { value, expires },
    });
  });
  return n;
}

export function removeAttr(store: Store, nodeRef: string, name: string): boolean {
  const n = requireNode(store, nodeRef);
  return store.tx(() => {
    const before = store.attrsOf(n.id).find((a) => a.name === name);
    const removed = store.removeAttr(n.id, name);
    if (removed) recordAudit(store.db, { action: 'attr.remove', target: `${n.hostname} ${name}`, summary: `${n.hostname}: ${name} removed`, before: before && { value: before.value, expires: before.expires } });
    return removed;
  });
}

export function setNodeTags(store: Store, nodeRef: string, tags: string[]): NodeRow {
  const n = requireNode(store, nodeRef);
  const sorted = [...new Set(tags)].sort();
  checkTags(store, sorted);
  store.tx(() => {
    store.updateNode(n.id, { tags: sorted });
    recordAudit(store.db, {
      action: 'node.tags',
      target: n.hostname,
      summary: `${n.hostname} tags: ${n.tags.join(',') || '(none)'} → ${sorted.join(',') || '(none)'}`,
      before: { tags: n.tags },
      after: { tags: sorted },
    });
  });
  return store.node(n.id) as NodeRow;
}
