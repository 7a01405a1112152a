import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EphemeralReaper } from './ephemeral-reaper.js';

describe('EphemeralReaper', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('fires once per node after its delay; schedule replaces, cancel and stop prevent', () => {
    const due: number[] = [];
    const r = new EphemeralReaper((id) => due.push(id));
    r.schedule(1, 1_000);
    r.schedule(2, 1_000);
    r.schedule(2, 3_000); // a second stream ended later: the later deadline wins
    r.schedule(3, 1_000);
    r.cancel(3); // it streams again
    vi.advanceTimersByTime(1_000);
    expect(due).toEqual([1]);
    vi.advanceTimersByTime(2_000);
    expect(due).toEqual([1, 2]);
    r.schedule(4, 1_000);
    r.stop();
    vi.advanceTimersByTime(5_000);
    expect(due).toEqual([1, 2]);
  });
});
