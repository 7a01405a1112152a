// The netstack's only view of time: a millisecond clock and one-shot timers. The default is the process's
// monotonic clock (performance.now) and setTimeout; tests inject a FakeClock (./fake-clock.ts) and advance it
// by hand, so every retransmission, delayed ACK and TIME_WAIT runs deterministically without real waiting.

export interface NetstackClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Calls `fn` once, `ms` milliseconds from now; returns a handle for clearTimer. */
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: NetstackClock = {
  now: () => performance.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, Math.max(0, ms));
    // A timer of an idle connection (keepalive, TIME_WAIT) must not keep the process alive.
    t.unref();
    return t;
  },
  clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};
