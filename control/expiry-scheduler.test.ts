import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ExpiryScheduler, MAX_TIMER_MS } from './expiry-scheduler.js';

describe('ExpiryScheduler', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000);
  });
  afterEach(() => vi.useRealTimers());

  it.each([
    // next deadline relative to now → when onDue fires (ms from now; null: never)
    { name: 'nothing expires', next: Infinity, firesAt: null },
    { name: 'a deadline in 5 s', next: 5_000, firesAt: 5_000 },
    { name: 'a deadline already past fires at once', next: -60_000, firesAt: 0 },
    { name: 'a far deadline is cut to MAX_TIMER_MS', next: 3 * MAX_TIMER_MS, firesAt: MAX_TIMER_MS },
  ])('$name', ({ next, firesAt }) => {
    const onDue = vi.fn();
    const s = new ExpiryScheduler({ next: (now) => now + next, onDue, now: Date.now });
    s.schedule();
    if (firesAt === null) {
      vi.advanceTimersByTime(10 * MAX_TIMER_MS);
      expect(onDue).not.toHaveBeenCalled();
      return;
    }
    if (firesAt > 0) {
      vi.advanceTimersByTime(firesAt - 1);
      expect(onDue).not.toHaveBeenCalled();
    }
    vi.advanceTimersByTime(1);
    expect(onDue).toHaveBeenCalledTimes(1);
  });

  it('schedule() re-arms for the new earliest deadline instead of adding a timer', () => {
    let deadline = Date.now() + 10_000;
    const onDue = vi.fn();
    const s = new ExpiryScheduler({ next: () => deadline, onDue, now: Date.now });
    s.schedule();
    deadline = Date.now() + 2_000;
    s.schedule();
    vi.advanceTimersByTime(2_000);
    expect(onDue).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(20_000);
    expect(onDue).toHaveBeenCalledTimes(1);
  });

  it('stop() cancels the timer and later schedule() calls', () => {
    const onDue = vi.fn();
    const s = new ExpiryScheduler({ next: (now) => now + 1_000, onDue, now: Date.now });
    s.schedule();
    s.stop();
    s.schedule();
    vi.advanceTimersByTime(5_000);
    expect(onDue).not.toHaveBeenCalled();
  });
});
