// The tailnet's webhook (issue 15): one URL and secret, kept in the state file's meta table, and an outbox
// of signed JSON events. Any process that changes state (a host command, the server) appends the event in
// the same transaction as the change; only the running server delivers them (webhook-dispatcher.ts), so a
// slow or dead receiver never blocks a change. The outbox is bounded: past MAX_OUTBOX events the oldest are
// dropped (a receiver down for that long has lost them anyway; the audit log keeps the record).
//
// Signature: `grantwire-signature: t=UNIX_SECONDS,v1=HEX` where HEX is HMAC-SHA256(secret, `${t}.${body}`):
// the timestamp is signed with the body so a captured delivery cannot be replayed later with a fresh one.
// Receivers check it with verifyWebhookSignature (constant-time) and reject old timestamps.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type Database from 'better-sqlite3';
import { GrantwireError } from '../types/errors.js';

export const SIGNATURE_HEADER = 'grantwire-signature';
export const EVENT_HEADER = 'grantwire-event';
/** Oldest events are dropped beyond this many undelivered ones. */
export const MAX_OUTBOX = 1000;
/** A receiver should refuse deliveries whose timestamp is further than this from its clock. */
export const SIGNATURE_TOLERANCE_S = 300;

export interface WebhookConfig {
  url: string;
  secret: string;
}

export interface WebhookEvent {
  /** The audit entry's id: unique per event, so receivers can drop a redelivery. */
  id: number;
  /** The audit action: `access.approve`, `policy.set`, … */
  type: string;
  time: number;
  actor: string;
  via: string;
  target: string;
  summary: string;
  data: unknown;
}

/** Actions that become webhook events: request state changes and policy changes. */
export function isWebhookAction(action: string): boolean {
  return action.startsWith('access.') || action.startsWith('policy.');
}

function getMeta(db: Database.Database, key: string): string | null {
  const r = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
  return r?.value ?? null;
}

export function webhookConfig(db: Database.Database): WebhookConfig | null {
  const url = getMeta(db, 'webhook_url');
  const secret = getMeta(db, 'webhook_secret');
  return url !== null && secret !== null && url !== '' ? { url, secret } : null;
}

/** Checks the URL (http or https, no credentials) and secret; throws a GrantwireError when unusable. */
export function validateWebhook(url: string, secret: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new GrantwireError('ERR_CONTROL_BAD_WEBHOOK', `invalid webhook URL ${JSON.stringify(url)}: expected http(s)://host/path`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new GrantwireError('ERR_CONTROL_BAD_WEBHOOK', `webhook URL must be http or https, got ${u.protocol}`);
  if (u.username !== '' || u.password !== '') throw new GrantwireError('ERR_CONTROL_BAD_WEBHOOK', 'webhook URL must not carry credentials; use --secret');
  if (secret.length < 16) throw new GrantwireError('ERR_CONTROL_BAD_WEBHOOK', `webhook secret too short: ${secret.length} characters, at least 16 expected`);
}

/** Sets (or with url '' clears) the tailnet's webhook. Call inside the caller's transaction. */
export function writeWebhookConfig(db: Database.Database, url: string, secret: string): void {
  const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
  put.run('webhook_url', url);
  put.run('webhook_secret', secret);
}

/** Queues an event when a webhook is configured (a no-op otherwise); drops the oldest beyond MAX_OUTBOX. */
export function enqueueWebhookEvent(db: Database.Database, event: WebhookEvent, now: number): void {
  if (!webhookConfig(db)) return;
  db.prepare('INSERT INTO webhook_outbox (body, next_attempt, created) VALUES (?, ?, ?)').run(JSON.stringify(event), now, now);
  db.prepare('DELETE FROM webhook_outbox WHERE id <= (SELECT MAX(id) FROM webhook_outbox) - ?').run(MAX_OUTBOX);
}

export interface OutboxRow {
  id: number;
  body: string;
  attempts: number;
  nextAttempt: number;
}

/** The oldest undelivered event (delivery is strictly in order), or null. */
export function headEvent(db: Database.Database): OutboxRow | null {
  return (db.prepare('SELECT id, body, attempts, next_attempt AS nextAttempt FROM webhook_outbox ORDER BY id LIMIT 1').get() as OutboxRow | undefined) ?? null;
}

export function outboxSize(db: Database.Database): number {
  return (db.prepare('SELECT COUNT(*) AS n FROM webhook_outbox').get() as { n: number }).n;
}

export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** True when `header` is a valid signature of `body` by `secret`, made within the tolerance of `nowS`. */
export function verifyWebhookSignature(secret: string, body: string, header: string | undefined, nowS = Math.floor(Date.now() / 1000)): boolean {
  if (header === undefined) return false;
  const m = /^t=([0-9]{1,12}),v1=([0-9a-f]{64})$/.exec(header);
  if (!m) return false;
  const t = Number(m[1]);
  if (Math.abs(nowS - t) > SIGNATURE_TOLERANCE_S) return false;
  const want = Buffer.from(createHmac('sha256', secret).update(`${t}.${body}`).digest('hex'));
  return timingSafeEqual(want, Buffer.from(m[2]));
}
