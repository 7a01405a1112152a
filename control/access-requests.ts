// Just-in-time access requests in the state file (issue 15): a user asks for a custom attribute (e.g.
// `custom:jit-prod = true`) for a while, with a reason, on one of their nodes or on all of them; an approver
// says yes and the attribute is set on those nodes with the access's end as its expiry. From then on the
// ordinary machinery takes over: the coordinator's expiry scheduler removes the attribute at the deadline,
// the affected filters are recompiled and established flows cut. Without a node the request covers every
// device of the requester, including devices registered while it is approved (grantToNewNode).
//
// Each transition (access-machine.ts) is one IMMEDIATE transaction that updates the request, the attributes
// and writes exactly one audit entry (which also queues the webhook event). Every function takes `now` so
// tests drive time directly; expireDue moves requests whose deadlines passed (the coordinator's scheduler
// calls it, and listing calls it so a host command never shows a stale state).
import { GrantwireError } from '../types/errors.js';
import type { PostureValue, UserRole } from '../types/tailnet.js';
import { refusal, nextState, type AccessActor, type AccessEvent, type AccessState } from './access-machine.js';
import { currentActor, recordAudit } from './audit-log.js';
import { policyGroups } from './policy-tags.js';
import type { NodeRow, Store } from './store.js';

/** Longest access when the attribute has no configured maximum. */
export const DEFAULT_MAX_ACCESS_MS = 24 * 3_600_000;
/** A pending request nobody decided on within this long expires. */
export const DEFAULT_PENDING_TTL_MS = 24 * 3_600_000;
const MAX_REASON = 1000;
const ATTR_RE = /^custom:[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export interface AccessConfig {
  attr: string;
  /** Logins and policy groups (`group:x`) who may approve, besides admins. */
  approvers: string[];
  maxMs: number;
}

/** A request as the CLI (--json) and the admin API show it. Times are ms since the epoch. */
export interface AccessRequest {
  id: number;
  state: AccessState;
  requester: string;
  attribute: string;
  value: PostureValue;
  durationMs: number;
  reason: string;
  /** The node asked for; null: every device of the requester. */
  node: string | null;
  /** The nodes the attribute was set on (empty until approved). */
  nodes: string[];
  created: number;
  /** A pending request expires at this time. */
  pendingUntil: number;
  /** Who approved or denied it, and when. */
  approver: string | null;
  decided: number | null;
  /** The deny reason. */
  decisionReason: string | null;
  /** When approved: the moment access ends. */
  expires: number | null;
  /** When it left pending/approved for good (cancelled, expired, ended, revoked), and who did it. */
  closed: number | null;
  closedBy: string | null;
}

type Raw = Record<string, unknown>;

function fail(code: `ERR_${string}`, message: string): never {
  throw new GrantwireError(code, message);
}

// ------------------------------------------------------------------ configuration

export function accessConfig(store: Store, attr: string): AccessConfig {
  const r = store.db.prepare('SELECT approvers, max_ms FROM access_attrs WHERE attr = ?').get(attr) as Raw | undefined;
  return {
    attr,
    approvers: r ? (JSON.parse(r.approvers as string) as string[]) : [],
    maxMs: (r?.max_ms as number | null | undefined) ?? DEFAULT_MAX_ACCESS_MS,
  };
}

export function listAccessConfigs(store: Store): AccessConfig[] {
  const rows = store.db.prepare('SELECT attr FROM access_attrs ORDER BY attr').all() as { attr: string }[];
  return rows.map((r) => accessConfig(store, r.attr));
}

function activeGroups(store: Store): ReadonlyMap<string, readonly string[]> {
  const p = store.activePolicy();
  return p ? policyGroups(p.text, p.file) : new Map();
}

/**
 * Sets who may approve requests for `attr` (logins of existing users, or groups the active policy
 * defines; an empty list: admins only) and, when given, the longest access one request may ask for.
 */
export function setApprovers(store: Store, attr: string, approvers: readonly string[], maxMs?: number | null): AccessConfig {
  if (!ATTR_RE.test(attr)) fail('ERR_CONTROL_BAD_ATTR', `invalid attribute ${JSON.stringify(attr)}: expected custom:name`);
  if (maxMs !== undefined && maxMs !== null && maxMs <= 0) fail('ERR_CONTROL_BAD_DURATION', 'the maximum access duration must be positive');
  const list = [...new Set(approvers)].sort();
  const groups = activeGroups(store);
  for (const a of list) {
    if (a.startsWith('group:')) {
      if (!groups.has(a)) fail('ERR_CONTROL_NO_GROUP', `approver ${a} is not a group of the active policy`);
    } else if (!store.userByLogin(a)) {
      fail('ERR_CONTROL_NO_USER', `approver ${a} is not a user (add it with 'control users add') or a group:name`);
    }
  }
  return store.tx(() => {
    const before = accessConfig(store, attr);
    const max = maxMs === undefined ? (before.maxMs === DEFAULT_MAX_ACCESS_MS ? null : before.maxMs) : maxMs;
    store.db
      .prepare('INSERT INTO access_attrs (attr, approvers, max_ms) VALUES (?, ?, ?) ON CONFLICT(attr) DO UPDATE SET approvers = excluded.approvers, max_ms = excluded.max_ms')
      .run(attr, JSON.stringify(list), max);
    const after = accessConfig(store, attr);
    recordAudit(store.db, {
      action: 'access.approvers',
      target: attr,
      summary: `approvers of ${attr}: ${list.join(', ') || 'admins only'}; max ${formatMs(after.maxMs)}`,
      before,
      after,
    });
    return after;
  });
}

// ------------------------------------------------------------------ reading

function nodeName(store: Store, id: number): string {
  return store.node(id)?.hostname ?? `#${id}`;
}

function fromRaw(store: Store, r: Raw): AccessRequest {
  return {
    id: r.id as number,
    state: r.state as AccessState,
    requester: r.requester as string,
    attribute: r.attr as string,
    value: JSON.parse(r.value as string) as PostureValue,
    durationMs: r.duration_ms as number,
    reason: r.reason as string,
    node: (r.node_name as string | null) ?? null,
    nodes: (JSON.parse(r.nodes as string) as number[]).map((id) => nodeName(store, id)),
    created: r.created as number,
    pendingUntil: r.pending_until as number,
    approver: (r.decided_by as string | null) ?? null,
    decided: (r.decided as number | null) ?? null,
    decisionReason: (r.decision_reason as string | null) ?? null,
    expires: (r.approved_until as number | null) ?? null,
    closed: (r.closed as number | null) ?? null,
    closedBy: (r.closed_by as string | null) ?? null,
  };
}

function rawRequest(store: Store, id: number): Raw {
  const r = store.db.prepare('SELECT * FROM access_requests WHERE id = ?').get(id) as Raw | undefined;
  if (!r) fail('ERR_CONTROL_NO_REQUEST', `no such access request: ${id}`);
  return r;
}

export function getRequest(store: Store, id: number): AccessRequest {
  return fromRaw(store, rawRequest(store, id));
}

export interface RequestQuery {
  state?: AccessState;
  requester?: string;
}

/** Requests, newest first (after moving any whose deadline passed). */
export function listRequests(store: Store, q: RequestQuery = {}, now = Date.now()): AccessRequest[] {
  expireDue(store, now);
  const where: string[] = [];
  const args: unknown[] = [];
  if (q.state !== undefined) {
    where.push('state = ?');
    args.push(q.state);
  }
  if (q.requester !== undefined) {
    where.push('requester = ?');
    args.push(q.requester);
  }
  const rows = store.db.prepare(`SELECT * FROM access_requests ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC`).all(...args) as Raw[];
  return rows.map((r) => fromRaw(store, r));
}

// ------------------------------------------------------------------ actors

/** The access actor for a login (it must be a user), or the host itself (null: admin, no identity). */
export function accessActor(store: Store, login: string | null): AccessActor {
  if (login === null) return { login: null, role: 'admin', inGroup: () => false };
  const u = store.userByLogin(login);
  if (!u) fail('ERR_CONTROL_NO_USER', `no such user: ${login}`);
  const groups = activeGroups(store);
  return { login: u.login, role: u.role as UserRole, inGroup: (g) => groups.get(g)?.includes(u.login) ?? false };
}

function describeActor(who: AccessActor): string {
  return who.login ?? currentActor().actor;
}

// ------------------------------------------------------------------ transitions

export interface NewRequest {
  requester: string;
  attr: string;
  value: PostureValue;
  durationMs: number;
  reason: string;
  /** A node of the requester (id, stable id or hostname); omitted: all their devices. */
  node?: string;
  pendingTtlMs?: number;
}

export function createRequest(store: Store, r: NewRequest, now = Date.now()): AccessRequest {
  const user = store.userByLogin(r.requester);
  if (!user) fail('ERR_CONTROL_NO_USER', `no such user: ${r.requester}`);
  if (!ATTR_RE.test(r.attr)) fail('ERR_CONTROL_BAD_ATTR', `invalid attribute ${JSON.stringify(r.attr)}: expected custom:name`);
  const reason = r.reason.trim();
  if (reason === '') fail('ERR_CONTROL_NO_REASON', 'an access request needs a reason');
  if (reason.length > MAX_REASON) fail('ERR_CONTROL_NO_REASON', `reason too long: ${reason.length} characters, at most ${MAX_REASON}`);
  const cfg = accessConfig(store, r.attr);
  if (!Number.isFinite(r.durationMs) || r.durationMs <= 0) fail('ERR_CONTROL_BAD_DURATION', 'the access duration must be positive');
  if (r.durationMs > cfg.maxMs) {
    fail('ERR_CONTROL_BAD_DURATION', `${r.attr} may be requested for at most ${formatMs(cfg.maxMs)}, asked for ${formatMs(r.durationMs)}`);
  }
  let node: NodeRow | null = null;
  if (r.node !== undefined) {
    node = store.findNode(r.node);
    if (!node) fail('ERR_CONTROL_NO_NODE', `no such node: ${r.node}`);
    if (node.userId !== user.id) fail('ERR_CONTROL_NOT_OWNER', `node ${node.hostname} does not belong to ${user.login}`);
  }
  return store.tx(() => {
    const info = store.db
      .prepare(
        `INSERT INTO access_requests (requester, attr, value, duration_ms, reason, node_id, node_name, state, created, pending_until)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)`,
      )
      .run(user.login, r.attr, JSON.stringify(r.value), r.durationMs, reason, node?.id ?? null, node?.hostname ?? null, now, now + (r.pendingTtlMs ?? DEFAULT_PENDING_TTL_MS));
    const req = getRequest(store, Number(info.lastInsertRowid));
    // A new deadline: a server reading the change feed re-arms its expiry timer (change-feed.ts).
    store.db.prepare("INSERT INTO changes (origin, kind, ref) VALUES (?, 'access', ?)").run(store.origin, req.id);
    recordAudit(store.db, {
      action: 'access.request',
      target: `request ${req.id}`,
      summary: `${req.requester} requests ${req.attribute}=${JSON.stringify(req.value)} for ${formatMs(req.durationMs)} on ${req.node ?? 'all devices'}: ${reason}`,
      after: req,
      actor: req.requester,
      time: now,
    });
    return req;
  });
}

/** The nodes a request covers now: the named one, else every untagged node of the requester. */
function coveredNodes(store: Store, raw: Raw): NodeRow[] {
  if (raw.node_id !== null) {
    const n = store.node(raw.node_id as number);
    return n ? [n] : [];
  }
  const user = store.userByLogin(raw.requester as string);
  if (!user) return [];
  return store.listNodes().filter((n) => n.userId === user.id && n.tags.length === 0);
}

/** Sets the attribute on a node unless an equal value already lasts at least as long. */
function grantOn(store: Store, nodeId: number, attr: string, value: PostureValue, until: number): void {
  const cur = store.attrsOf(nodeId).find((a) => a.name === attr);
  if (cur && JSON.stringify(cur.value) === JSON.stringify(value) && (cur.expires === null || cur.expires >= until)) return;
  store.setAttr(nodeId, attr, value, until);
}

function transition(store: Store, id: number, event: AccessEvent, who: AccessActor, now: number, apply: (raw: Raw, next: AccessState) => { summary: string; nodes: number[] }): { request: AccessRequest; nodes: number[] } {
  // Deadlines first, in their own transaction: a stale request stays expired even when this call fails.
  expireDue(store, now);
  return store.tx(() => {
    const raw = rawRequest(store, id);
    const state = raw.state as AccessState;
    const next = nextState(state, event);
    if (next === null) fail('ERR_CONTROL_BAD_TRANSITION', `request ${id} is ${state}; it cannot be ${pastTense(event)}`);
    const why = refusal(event, who, raw.requester as string, accessConfig(store, raw.attr as string).approvers);
    if (why !== null) fail('ERR_CONTROL_FORBIDDEN', why);
    const before = fromRaw(store, raw);
    const { summary, nodes } = apply(raw, next);
    const after = getRequest(store, id);
    recordAudit(store.db, { action: `access.${event}`, target: `request ${id}`, summary, before, after, time: now, ...(who.login !== null ? { actor: who.login } : {}) });
    return { request: after, nodes };
  });
}

export interface TransitionResult {
  request: AccessRequest;
  /** Nodes whose attributes changed: the caller refreshes them in a running coordinator. */
  nodes: number[];
}

export function approveRequest(store: Store, id: number, who: AccessActor, now = Date.now()): TransitionResult {
  return transition(store, id, 'approve', who, now, (raw) => {
    const until = now + (raw.duration_ms as number);
    const nodes = coveredNodes(store, raw);
    const value = JSON.parse(raw.value as string) as PostureValue;
    for (const n of nodes) grantOn(store, n.id, raw.attr as string, value, until);
    store.db
      .prepare("UPDATE access_requests SET state = 'approved', decided = ?, decided_by = ?, approved_until = ?, nodes = ? WHERE id = ?")
      .run(now, describeActor(who), until, JSON.stringify(nodes.map((n) => n.id)), id);
    return {
      summary: `${describeActor(who)} approved ${raw.requester}'s ${raw.attr} until ${new Date(until).toISOString()} on ${nodes.map((n) => n.hostname).join(', ') || 'no devices yet'}`,
      nodes: nodes.map((n) => n.id),
    };
  });
}

export function denyRequest(store: Store, id: number, who: AccessActor, reason: string, now = Date.now()): TransitionResult {
  const why = reason.trim();
  if (why === '') fail('ERR_CONTROL_NO_REASON', 'denying a request needs a reason');
  return transition(store, id, 'deny', who, now, (raw) => {
    store.db.prepare("UPDATE access_requests SET state = 'denied', decided = ?, decided_by = ?, decision_reason = ?, closed = ?, closed_by = ? WHERE id = ?")
      .run(now, describeActor(who), why.slice(0, MAX_REASON), now, describeActor(who), id);
    return { summary: `${describeActor(who)} denied ${raw.requester}'s ${raw.attr}: ${why}`, nodes: [] };
  });
}

export function cancelRequest(store: Store, id: number, who: AccessActor, now = Date.now()): TransitionResult {
  return transition(store, id, 'cancel', who, now, (raw) => {
    store.db.prepare("UPDATE access_requests SET state = 'cancelled', closed = ?, closed_by = ? WHERE id = ?").run(now, describeActor(who), id);
    return { summary: `${describeActor(who)} cancelled ${raw.requester}'s request for ${raw.attr}`, nodes: [] };
  });
}

/**
 * Ends approved access early: the attribute is removed from the request's nodes unless another approved
 * request still covers them (then it lasts until that one ends).
 */
export function revokeRequest(store: Store, id: number, who: AccessActor, now = Date.now()): TransitionResult {
  return transition(store, id, 'revoke', who, now, (raw) => {
    store.db.prepare("UPDATE access_requests SET state = 'revoked', closed = ?, closed_by = ? WHERE id = ?").run(now, describeActor(who), id);
    const nodes = withdraw(store, raw, now);
    return { summary: `${describeActor(who)} revoked ${raw.requester}'s ${raw.attr} on ${nodes.map((n) => nodeName(store, n)).join(', ') || 'no devices'}`, nodes };
  });
}

/** Removes (or shortens to what other approved requests still grant) the attribute a closed request set. */
function withdraw(store: Store, raw: Raw, now: number): number[] {
  const attr = raw.attr as string;
  const ids = JSON.parse(raw.nodes as string) as number[];
  const others = (store.db.prepare("SELECT * FROM access_requests WHERE state = 'approved' AND attr = ? AND id != ? AND approved_until > ?").all(attr, raw.id, now) as Raw[]);
  const changed: number[] = [];
  for (const nodeId of ids) {
    const still = others.filter((o) => (JSON.parse(o.nodes as string) as number[]).includes(nodeId));
    if (still.length === 0) {
      if (store.removeAttr(nodeId, attr)) changed.push(nodeId);
      continue;
    }
    const last = still.reduce((a, b) => ((a.approved_until as number) >= (b.approved_until as number) ? a : b));
    store.setAttr(nodeId, attr, JSON.parse(last.value as string) as PostureValue, last.approved_until as number);
    changed.push(nodeId);
  }
  return changed;
}

/**
 * Moves requests whose deadline passed: pending → expired, approved → ended (the attribute itself expires on
 * its own at the same moment). One audit entry each, as `system` via `expiry`. Returns how many moved.
 */
export function expireDue(store: Store, now = Date.now()): number {
  return store.tx(() => {
    const due = store.db
      .prepare("SELECT * FROM access_requests WHERE (state = 'pending' AND pending_until <= ?) OR (state = 'approved' AND approved_until <= ?) ORDER BY id")
      .all(now, now) as Raw[];
    for (const raw of due) {
      const pending = raw.state === 'pending';
      const before = fromRaw(store, raw);
      store.db.prepare('UPDATE access_requests SET state = ?, closed = ?, closed_by = ? WHERE id = ?').run(pending ? 'expired' : 'ended', now, 'system', raw.id);
      const after = getRequest(store, raw.id as number);
      recordAudit(store.db, {
        action: pending ? 'access.expire' : 'access.end',
        target: `request ${String(raw.id)}`,
        summary: pending ? `${raw.requester}'s request for ${raw.attr} expired undecided` : `${raw.requester}'s ${raw.attr} access ended`,
        before,
        after,
        actor: 'system',
        via: 'expiry',
        time: now,
      });
    }
    return due.length;
  });
}

/** The earliest pending or approval deadline, or Infinity (for the coordinator's expiry scheduler). */
export function nextAccessDeadline(store: Store): number {
  const r = store.db
    .prepare("SELECT MIN(CASE state WHEN 'pending' THEN pending_until ELSE approved_until END) AS t FROM access_requests WHERE state IN ('pending', 'approved')")
    .get() as { t: number | null };
  return r.t ?? Infinity;
}

/**
 * A node registered by a user with approved all-devices access gets the attribute too (until the access
 * ends). Part of the registration, so no audit entry of its own. Returns true when it set anything.
 */
export function grantToNewNode(store: Store, node: NodeRow, now = Date.now()): boolean {
  if (node.tags.length > 0) return false;
  const owner = store.userById(node.userId);
  if (!owner) return false;
  const rows = store.db
    .prepare("SELECT * FROM access_requests WHERE state = 'approved' AND requester = ? AND node_id IS NULL AND approved_until > ?")
    .all(owner.login, now) as Raw[];
  if (rows.length === 0) return false;
  store.tx(() => {
    for (const raw of rows) {
      const ids = JSON.parse(raw.nodes as string) as number[];
      grantOn(store, node.id, raw.attr as string, JSON.parse(raw.value as string) as PostureValue, raw.approved_until as number);
      if (!ids.includes(node.id)) {
        ids.push(node.id);
        store.db.prepare('UPDATE access_requests SET nodes = ? WHERE id = ?').run(JSON.stringify(ids), raw.id);
      }
    }
  });
  return true;
}

// ------------------------------------------------------------------ text

export function formatMs(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function pastTense(e: AccessEvent): string {
  return { approve: 'approved', deny: 'denied', cancel: 'cancelled', expire: 'expired', end: 'ended', revoke: 'revoked' }[e];
}
