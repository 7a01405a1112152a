// The LocalAPI `ping` endpoint's limits (same reasoning as issue 10 item 12: the socket is world-writable,
// so one local user must not tie up the daemon). A ping holds an echo waiter and a timer for up to its
// timeout (at most MAX_PING_TIMEOUT_MS), so the pings in flight are capped (more get 503), and a ping whose
// HTTP client went away is stopped at once (its waiter and timer released) instead of running to its timeout.
// Not concurrency-safe beyond Node's single thread; one per server.
import type { ServerResponse } from 'node:http';
import { LocalApiFailure } from '../types/errors.js';

/** Implementation limits, not protocol constants. */
export const DEFAULT_MAX_PINGS = 16;
export const MAX_PING_TIMEOUT_MS = 60_000;
export const DEFAULT_PING_TIMEOUT_MS = 2000;

/** The `timeout` query parameter in ms: positive and at most MAX_PING_TIMEOUT_MS, else the default. */
export function pingTimeoutMs(text: string | null): number {
  const t = Number(text ?? DEFAULT_PING_TIMEOUT_MS);
  return Number.isFinite(t) && t > 0 && t <= MAX_PING_TIMEOUT_MS ? t : DEFAULT_PING_TIMEOUT_MS;
}

export class PingLimiter {
  private active = 0;

  constructor(private readonly max: number) {}

  /** Pings in flight now. */
  get inFlight(): number {
    return this.active;
  }

  /**
   * Runs one ping for the request answered by `res`: refused with 503 when `max` are in flight; `send`'s
   * signal aborts when the client closes the connection before the answer is written.
   */
  async run<T>(res: ServerResponse, send: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.active >= this.max) throw new LocalApiFailure(503, 'too_many_pings', `too many pings in flight (${this.active}); try again later`);
    this.active++;
    const ac = new AbortController();
    const onClose = (): void => {
      if (!res.writableFinished) ac.abort();
    };
    res.once('close', onClose);
    try {
      return await send(ac.signal);
    } finally {
      this.active--;
      res.off('close', onClose);
    }
  }
}
