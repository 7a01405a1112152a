// A manual clock for tests and in-memory benchmarks: time moves only when advance() is called, and timers
// fire in deadline order (ties in scheduling order) as it passes them. Not for production.
import type { NetstackClock } from './clock.js';

interface FakeTimer {
  at: number;
  seq: number;
  fn: () => void;
  live: boolean;
}

export class FakeClock implements NetstackClock {
  private t = 0;
  private seq = 0;
  private timers: FakeTimer[] = [];

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): unknown {
    const timer: FakeTimer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, live: true };
    this.timers.push(timer);
    return timer;
  }

  clearTimer(handle: unknown): void {
    if (handle) (handle as FakeTimer).live = false;
  }

  /** The earliest pending deadline, or null when no timer is armed. */
  nextDeadline(): number | null {
    let best: number | null = null;
    for (const x of this.timers) if (x.live && (best === null || x.at < best)) best = x.at;
    return best;
  }

  /** Moves time forward by `ms`, firing every timer whose deadline passes (and timers they arm). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: FakeTimer | null = null;
      for (const x of this.timers) if (x.live && x.at <= end && (next === null || x.at < next.at || (x.at === next.at && x.seq < next.seq))) next = x;
      if (next === null) break;
      this.t = Math.max(this.t, next.at);
      next.live = false;
      next.fn();
      if (this.timers.length > 64) this.timers = this.timers.filter((x) => x.live);
    }
    this.t = end;
  }
}
