// One timer for "the next moment something expires on its own": a node key, a custom attribute, a
// just-in-time grant in the compiled policy. Whoever changes state calls schedule() again; the timer always
// points at the earliest deadline the `next` function reports. Long waits are cut to MAX_TIMER_MS and simply
// re-evaluated, so a clock jump or a far deadline never leaves a stale multi-day timer behind.
//
// Not concurrency-safe; one per coordinator. The timer is unref'd.

/** Longest single wait; the deadline is recomputed when it fires. */
export const MAX_TIMER_MS = 60 * 60_000;

export interface ExpirySchedulerOptions {
  /** The earliest deadline (ms since the epoch) at `now`, or Infinity when nothing will expire. */
  next: (now: number) => number;
  /** Called once the deadline is reached (or MAX_TIMER_MS passed); it should end with schedule(). */
  onDue: () => void;
  now: () => number;
}

export class ExpiryScheduler {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly opts: ExpirySchedulerOptions) {}

  /** Re-arms the timer for the current earliest deadline (none when there is nothing to wait for). */
  schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const now = this.opts.now();
    const next = this.opts.next(now);
    if (next === Infinity) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, next - now));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.opts.onDue();
    }, delay);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
