// Live updates for open console pages: one Server-Sent Events stream per page (GET /admin/events). Every
// Store mutation, from any process (this server's API, `control` admin commands on the same state file,
// registration, expiry), appends to the `changes` table; a ticker that runs only while a page listens
// reads past the last row it saw and sends `event: change` with the kinds that changed (node, user,
// policy, attr, key, token, …), `audit` when the audit log grew (every change writes one entry, access
// requests included), and `online` when the number of live agent streams (online nodes) moves.
// The page then refetches what it shows. Reading `changes` here does not disturb the coordinator's own
// change feed (that one keeps its own position).
//
// Events carry kinds only, never data, so a member's page learns nothing it could not fetch.
import type { ServerResponse } from 'node:http';
import type { Store } from '../store.js';

export const LIVE_TICK_MS = 500;
const KEEPALIVE_MS = 15_000;
const MAX_LISTENERS = 256;

export interface LiveSource {
  store: Store;
  /** A number that moves whenever nodes come online or go offline. */
  onlineCount(): number;
}

export class LiveEvents {
  private readonly listeners = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | null = null;
  private lastSeq = 0;
  private lastOnline = -1;
  private lastAudit = 0;
  private lastSent = 0;

  constructor(private readonly src: LiveSource, private readonly tickMs = LIVE_TICK_MS) {}

  /** Streams change events to `res` until it closes; false when too many pages already listen. */
  add(res: ServerResponse): boolean {
    if (this.listeners.size >= MAX_LISTENERS) return false;
    if (this.listeners.size === 0) this.start();
    this.listeners.add(res);
    res.write('retry: 2000\n\n');
    res.on('close', () => {
      this.listeners.delete(res);
      if (this.listeners.size === 0) this.stop();
    });
    return true;
  }

  get count(): number {
    return this.listeners.size;
  }

  close(): void {
    for (const r of this.listeners) r.end();
    this.listeners.clear();
    this.stop();
  }

  private start(): void {
    this.lastSeq = this.src.store.lastChangeSeq();
    this.lastOnline = this.src.onlineCount();
    this.lastAudit = this.auditSeq();
    this.lastSent = Date.now();
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Public for tests: one poll of the change table and the online count. */
  tick(): void {
    const kinds = new Set<string>();
    const rows = this.src.store.changesSince(this.lastSeq);
    if (rows.length > 0) {
      this.lastSeq = rows[rows.length - 1].seq;
      for (const r of rows) kinds.add(r.kind);
    }
    const online = this.src.onlineCount();
    if (online !== this.lastOnline) {
      this.lastOnline = online;
      kinds.add('online');
    }
    const audit = this.auditSeq();
    if (audit !== this.lastAudit) {
      this.lastAudit = audit;
      kinds.add('audit');
    }
    const now = Date.now();
    if (kinds.size > 0) this.broadcast(`event: change\ndata: ${JSON.stringify({ kinds: [...kinds].sort() })}\n\n`, now);
    else if (now - this.lastSent >= KEEPALIVE_MS) this.broadcast(': keep-alive\n\n', now);
  }

  private auditSeq(): number {
    const r = this.src.store.db.prepare('SELECT MAX(id) AS id FROM audit_log').get() as { id: number | null };
    return r.id ?? 0;
  }

  private broadcast(text: string, now: number): void {
    this.lastSent = now;
    for (const r of this.listeners) r.write(text);
  }
}
