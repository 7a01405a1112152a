// Rate limit for `update` messages on a map stream (issue 10 item 5). Each applied update costs a store
// write, a netmap recompile for the peers that see the node and a flush to every stream, so one node may
// not apply them faster than a token bucket allows. Updates over the limit are not lost: they are merged
// (the newest endpoints and hostinfo win) and applied when the next token is due, so the node's final
// state is always what it last reported. One per stream; not concurrency-safe (event loop only).

export interface UpdateRate {
  /** Updates applied back to back before the limit starts. */
  burst: number;
  /** One more update every intervalMs after that. */
  intervalMs: number;
}

export const DEFAULT_UPDATE_RATE: UpdateRate = { burst: 10, intervalMs: 1000 };

export class UpdateLimiter<T extends object> {
  private tokens: number;
  private last: number;
  private pending: T | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Updates merged into a later one instead of being applied on their own. */
  coalesced = 0;

  constructor(
    private readonly apply: (update: T) => void,
    private readonly rate: UpdateRate = DEFAULT_UPDATE_RATE,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = rate.burst;
    this.last = now();
  }

  offer(update: T): void {
    this.refill();
    if (this.pending === null && this.tokens >= 1) {
      this.tokens--;
      this.apply(update);
      return;
    }
    if (this.pending !== null) this.coalesced++;
    this.pending = { ...(this.pending ?? {}), ...stripUndefined(update) } as T;
    this.schedule();
  }

  /** Drops what is pending (the stream ended). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = null;
  }

  private refill(): void {
    const t = this.now();
    const earned = (t - this.last) / this.rate.intervalMs;
    if (earned > 0) {
      this.tokens = Math.min(this.rate.burst, this.tokens + earned);
      this.last = t;
    }
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(0, Math.ceil((1 - this.tokens) * this.rate.intervalMs));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.refill();
      if (this.pending === null) return;
      if (this.tokens < 1) return this.schedule();
      this.tokens--;
      const u = this.pending;
      this.pending = null;
      this.apply(u);
    }, wait);
    this.timer.unref();
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
