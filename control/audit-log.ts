// The audit log (issue 15): one append-only row per change to the tailnet, whatever path made it (host
// commands, the admin API and the console on top of it, registration, expiry, the ephemeral reaper).
// Each row: time, actor, how the actor came in (`via`), action, target, a one-line summary, and optional
// before/after snapshots (small JSON). SQLite triggers (schema 3) refuse UPDATE and DELETE, so nothing in
// control can rewrite history; the admin API only lists.
//
// Who acts: callers that know it pass `actor`; otherwise the ambient actor of the current async context
// (withActor: the admin API runs each request inside the token user's context, the coordinator runs its
// timers as `system`), else the OS user running this process (a host command). Events that subscribers
// care about (access.*, policy.*) are also queued for the tailnet's webhook in the same transaction.
//
// Synchronous; call it inside the transaction of the change it describes.
import { AsyncLocalStorage } from 'node:async_hooks';
import { userInfo } from 'node:os';
import type Database from 'better-sqlite3';
import { enqueueWebhookEvent, isWebhookAction } from './webhook-outbox.js';

export interface Actor {
  /** A login (the token's user, `--as`), the OS user of a host command, or `system`. */
  actor: string;
  /** How it came in: `api`, `cli` (`cli:OSUSER` when `--as` named someone else), `registration`, `expiry`, … */
  via: string;
}

export interface AuditInput {
  action: string;
  target: string;
  summary: string;
  before?: unknown;
  after?: unknown;
  actor?: string;
  via?: string;
  time?: number;
}

export interface AuditEntry {
  id: number;
  time: number;
  actor: string;
  via: string;
  action: string;
  target: string;
  summary: string;
  before: unknown;
  after: unknown;
}

const actorContext = new AsyncLocalStorage<Actor>();

/** The OS user running this process; `unknown` when the platform cannot say. */
export function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/** Runs fn (and everything it awaits) as `actor`. */
export function withActor<T>(actor: Actor, fn: () => T): T {
  return actorContext.run(actor, fn);
}

/** The acting identity here: the innermost withActor, else the OS user of a host command. */
export function currentActor(): Actor {
  return actorContext.getStore() ?? { actor: osUser(), via: 'cli' };
}

/** The identity of a host command: `--as LOGIN` when given (recorded with the OS user), else the OS user. */
export function cliActor(as: string | undefined): Actor {
  const os = osUser();
  return as === undefined ? { actor: os, via: 'cli' } : { actor: as, via: `cli:${os}` };
}

const MAX_SNAPSHOT = 4096;

function snapshot(v: unknown): string | null {
  if (v === undefined) return null;
  const text = JSON.stringify(v);
  return text.length <= MAX_SNAPSHOT ? text : JSON.stringify({ truncated: true, bytes: text.length });
}

/** Appends one entry (and the matching webhook event); returns its id. */
export function recordAudit(db: Database.Database, e: AuditInput): number {
  const who = currentActor();
  const entry = {
    time: e.time ?? Date.now(),
    actor: e.actor ?? who.actor,
    via: e.via ?? who.via,
    action: e.action,
    target: e.target,
    summary: e.summary,
  };
  const info = db
    .prepare('INSERT INTO audit_log (time, actor, via, action, target, summary, before, after) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
    .run(entry.time, entry.actor, entry.via, entry.action, entry.target, entry.summary, snapshot(e.before), snapshot(e.after));
  const id = Number(info.lastInsertRowid);
  if (isWebhookAction(entry.action)) {
    const { action, ...rest } = entry;
    enqueueWebhookEvent(db, { id, type: action, ...rest, data: e.after ?? null }, entry.time);
  }
  return id;
}

export interface AuditQuery {
  since?: number;
  actor?: string;
  action?: string;
  limit?: number;
}

type Raw = Record<string, unknown>;

/** Entries oldest first (the most recent `limit` of them). */
export function listAudit(db: Database.Database, q: AuditQuery = {}): AuditEntry[] {
  const where: string[] = [];
  const args: unknown[] = [];
  if (q.since !== undefined) {
    where.push('time >= ?');
    args.push(q.since);
  }
  if (q.actor !== undefined) {
    where.push('actor = ?');
    args.push(q.actor);
  }
  if (q.action !== undefined) {
    where.push('(action = ? OR action LIKE ?)');
    args.push(q.action, `${q.action}.%`);
  }
  const limit = Math.max(1, Math.min(q.limit ?? 1000, 10_000));
  const sql = `SELECT * FROM (SELECT * FROM audit_log ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${limit}) ORDER BY id`;
  return (db.prepare(sql).all(...args) as Raw[]).map((r) => ({
    id: r.id as number,
    time: r.time as number,
    actor: r.actor as string,
    via: r.via as string,
    action: r.action as string,
    target: r.target as string,
    summary: r.summary as string,
    before: r.before === null ? null : (JSON.parse(r.before as string) as unknown),
    after: r.after === null ? null : (JSON.parse(r.after as string) as unknown),
  }));
}

/** Lines above which the diff summary only compares lengths (the LCS table is lines × lines). */
const MAX_DIFF_LINES = 2000;

/** `+A -R lines` between two policy texts (a line-level LCS), for the policy.set summary. */
export function lineDiffSummary(before: string, after: string): string {
  const a = before.split('\n');
  const b = after.split('\n');
  if (a.length > MAX_DIFF_LINES || b.length > MAX_DIFF_LINES) return `${a.length} → ${b.length} lines`;
  // Two rows of the LCS table are enough for its length.
  let prev = new Uint32Array(b.length + 1);
  let cur = new Uint32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
    [prev, cur] = [cur, prev];
  }
  const common = prev[b.length];
  return `+${b.length - common} -${a.length - common} lines`;
}
