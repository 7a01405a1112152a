// Replay window: the kernel-style numbered edge cases (as in the kernel's and wireguard-go's replay
// tests), bulk fills at the window edge, and a seeded differential test against a naive set.
import { describe, expect, it } from 'vitest';
import { REPLAY_WINDOW_SIZE } from './constants.js';
import { ReplayWindow } from './replay-window.js';
import { seededRng } from '../types/seeded-rng.js';

// Limit stand-in for REJECT_AFTER_MESSAGES: the same code path, kept below 2^53 so doubles are exact.
const LIMIT = 2 ** 40;
const W = REPLAY_WINDOW_SIZE;
const T_LIM = W + 1;

describe('ReplayWindow', () => {
  it('window is 8128 counters', () => {
    expect(W).toBe(8128);
  });

  it.each([
    { name: 'in order', seq: [0, 1, 2, 3], outOfOrder: 0 },
    { name: 'two late ones', seq: [0, 1, 4, 2, 3, 5], outOfOrder: 2 },
    { name: 'a replayed late one is rejected, not counted', seq: [0, 3, 1, 1, 2], outOfOrder: 2 },
    { name: 'too old: rejected, not counted', seq: [0, W + 5, 1, W + 4], outOfOrder: 1 },
  ])('counts accepted out-of-order counters: $name', ({ seq, outOfOrder }) => {
    const r = new ReplayWindow();
    for (const c of seq) r.validateCounter(c, LIMIT);
    expect(r.outOfOrder).toBe(outOfOrder);
  });

  const steps: [number, number, boolean][] = [
    [1, 0, true],
    [2, 1, true],
    [3, 1, false],
    [4, 9, true],
    [5, 8, true],
    [6, 7, true],
    [7, 7, false],
    [8, T_LIM, true],
    [9, T_LIM - 1, true],
    [10, T_LIM - 1, false],
    [11, T_LIM - 2, true],
    [12, 2, true],
    [13, 2, false],
    [14, T_LIM + 16, true],
    [15, 3, false],
    [16, T_LIM + 16, false],
    [17, T_LIM * 4, true],
    [18, T_LIM * 4 - (T_LIM - 1), true],
    [19, 10, false],
    [20, T_LIM * 4 - T_LIM, false],
    [21, T_LIM * 4 - (T_LIM + 1), false],
    [22, T_LIM * 4 - (T_LIM - 2), true],
    [23, T_LIM * 4 + 1 - T_LIM, false],
    [24, 0, false],
    [25, LIMIT, false],
    [26, LIMIT - 1, true],
    [27, LIMIT, false],
    [28, LIMIT - 1, false],
    [29, LIMIT - 2, true],
    [30, LIMIT + 1, false],
    [31, LIMIT + 2, false],
    [32, LIMIT - 2, false],
    [33, LIMIT - 3, true],
    [34, 0, false],
  ];

  it('numbered edge cases, in sequence', () => {
    const w = new ReplayWindow();
    for (const [n, counter, want] of steps) {
      expect({ n, counter, ok: w.validateCounter(counter, LIMIT) }).toEqual({ n, counter, ok: want });
    }
  });

  const bulk: { name: string; run: (T: (c: number, want: boolean) => void) => void }[] = [
    {
      name: 'ascending 1..W, then 0 is still inside the window',
      run: (T) => {
        for (let i = 1; i <= W; i++) T(i, true);
        T(0, true);
        T(0, false);
      },
    },
    {
      name: 'ascending 2..W+1, then 1 is inside and 0 just outside',
      run: (T) => {
        for (let i = 2; i <= W + 1; i++) T(i, true);
        T(1, true);
        T(0, false);
      },
    },
    {
      name: 'descending W+1..1 all accepted',
      run: (T) => {
        for (let i = W + 1; i > 0; i--) T(i, true);
      },
    },
    {
      name: 'descending W+2..2, then 0 is outside',
      run: (T) => {
        for (let i = W + 2; i > 1; i--) T(i, true);
        T(0, false);
      },
    },
    {
      name: 'descending W..1 then every one of them again is a replay',
      run: (T) => {
        for (let i = W; i > 0; i--) T(i, true);
        T(W + 1, true);
        for (let i = W; i > 0; i--) T(i, false);
        T(0, false); // W + 1 behind the highest: outside the window
        T(W + 2, true);
      },
    },
    {
      name: 'a jump of more than the ring clears everything',
      run: (T) => {
        for (let i = 0; i < 200; i++) T(i, true);
        T(1_000_000, true);
        T(1_000_000 - W, true);
        T(1_000_000 - W - 1, false);
        T(199, false);
      },
    },
  ];

  it.each(bulk)('bulk: $name', ({ run }) => {
    const w = new ReplayWindow();
    run((c, want) => expect({ c, ok: w.validateCounter(c, LIMIT) }).toEqual({ c, ok: want }));
  });

  it('agrees with a naive reference on seeded random sequences', () => {
    const rnd = seededRng(12345);
    const mismatches: string[] = [];
    for (let run = 0; run < 20; run++) {
      const w = new ReplayWindow();
      const seen = new Set<number>();
      let last = 0;
      for (let i = 0; i < 5000; i++) {
        const r = rnd();
        let c: number;
        if (r < 0.5) c = last + Math.floor(rnd() * 70);
        else if (r < 0.9) c = Math.max(0, last - Math.floor(rnd() * (W + 200)));
        else c = last + Math.floor(rnd() * 3 * W);
        const want = c < LIMIT && !(c <= last && last - c > W) && !seen.has(c);
        if (want) {
          seen.add(c);
          if (c > last) last = c;
        }
        if (w.validateCounter(c, LIMIT) !== want && mismatches.length < 5) mismatches.push(`run ${run} step ${i} counter ${c}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('reset forgets everything', () => {
    const w = new ReplayWindow();
    expect(w.validateCounter(5, LIMIT)).toBe(true);
    w.reset();
    expect(w.validateCounter(5, LIMIT)).toBe(true);
  });
});
