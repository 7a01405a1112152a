// Delivers the webhook outbox (webhook-outbox.ts) from the running server: one event at a time, oldest
// first, each POST bounded by a timeout; a non-2xx answer or a network error reschedules the event with
// exponential backoff (base · 2^attempts, capped), and after maxAttempts it is dropped and logged. All of it
// runs off timers and promises: a receiver that hangs or fails never delays registration, map streams or
// the admin API. Events written by other processes (host commands) are found by polling.
//
// Not concurrency-safe; one per server. Timers are unref'd.
import type Database from 'better-sqlite3';
import type { Logger } from './logger.js';
import { EVENT_HEADER, headEvent, SIGNATURE_HEADER, signatureHeader, webhookConfig } from './webhook-outbox.js';

export interface WebhookDispatcherOptions {
  db: Database.Database;
  logger: Logger;
  now?: () => number;
  /** First retry delay; doubles per failed attempt (default 1 s). */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** Attempts before an event is dropped (default 10). */
  maxAttempts?: number;
  /** Per-delivery timeout (default 5 s). */
  timeoutMs?: number;
  /** How often the outbox is checked for events other processes queued (default 1 s). */
  pollMs?: number;
}

export class WebhookDispatcher {
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private poller: NodeJS.Timeout | null = null;
  private busy = false;
  private stopped = false;
  readonly stats = { delivered: 0, failedAttempts: 0, dropped: 0 };

  constructor(private readonly o: WebhookDispatcherOptions) {
    this.now = o.now ?? Date.now;
  }

  start(): void {
    this.poller = setInterval(() => this.kick(), this.o.pollMs ?? 1000);
    this.poller.unref();
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.poller) clearInterval(this.poller);
  }

  /** Delivers whatever is due soon (call after queueing an event in this process). */
  kick(): void {
    if (this.stopped || this.busy) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.pump(), 0);
    this.timer.unref();
  }

  private async pump(): Promise<void> {
    this.timer = null;
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      for (;;) {
        if (this.stopped) return;
        const cfg = webhookConfig(this.o.db);
        if (!cfg) return;
        // Strictly oldest first: a failing event holds back later ones until it is delivered or dropped.
        const ev = headEvent(this.o.db);
        if (!ev || ev.nextAttempt > this.now()) break;
        const ok = await this.deliver(cfg.url, cfg.secret, ev.body);
        if (this.stopped) return;
        if (ok) {
          this.o.db.prepare('DELETE FROM webhook_outbox WHERE id = ?').run(ev.id);
          this.stats.delivered++;
          continue;
        }
        this.stats.failedAttempts++;
        const attempts = ev.attempts + 1;
        if (attempts >= (this.o.maxAttempts ?? 10)) {
          this.o.db.prepare('DELETE FROM webhook_outbox WHERE id = ?').run(ev.id);
          this.stats.dropped++;
          this.o.logger.log('warn', 'webhook event dropped after retries', { id: ev.id, attempts });
          continue;
        }
        const delay = Math.min(this.o.maxBackoffMs ?? 5 * 60_000, (this.o.baseBackoffMs ?? 1000) * 2 ** ev.attempts);
        this.o.db.prepare('UPDATE webhook_outbox SET attempts = ?, next_attempt = ? WHERE id = ?').run(attempts, this.now() + delay, ev.id);
        break;
      }
    } catch (err) {
      this.o.logger.log('error', 'webhook outbox failure', { error: (err as Error).message });
    } finally {
      this.busy = false;
    }
    this.armForNext();
  }

  private armForNext(): void {
    if (this.stopped) return;
    const next = headEvent(this.o.db)?.nextAttempt ?? null;
    if (next === null) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.pump(), Math.max(0, next - this.now()));
    this.timer.unref();
  }

  private async deliver(url: string, secret: string, body: string): Promise<boolean> {
    const type = (JSON.parse(body) as { type: string }).type;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [SIGNATURE_HEADER]: signatureHeader(secret, body, Math.floor(this.now() / 1000)),
          [EVENT_HEADER]: type,
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 5000),
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.status >= 200 && res.status < 300;
    } catch (err) {
      this.o.logger.log('debug', 'webhook delivery failed', { error: (err as Error).message });
      return false;
    }
  }
}
