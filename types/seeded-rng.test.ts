import { describe, expect, it } from 'vitest';
import { seededRng } from './seeded-rng.js';

describe('seededRng', () => {
  // Pinned outputs: figures and failures recorded with a seed must keep reproducing.
  it.each([
    { seed: 1, first: [0.6270739405881613, 0.002735721180215478, 0.5274470399599522] },
    { seed: 0x5eed, first: [0.7100320369936526, 0.286336648510769, 0.9519026265479624] },
  ])('seed $seed is deterministic', ({ seed, first }) => {
    const a = seededRng(seed);
    const b = seededRng(seed);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(xs.slice(0, first.length)).toEqual(first);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });

  it('different seeds give different sequences, roughly uniform', () => {
    const a = seededRng(1);
    const b = seededRng(2);
    expect(a()).not.toBe(b());
    const r = seededRng(7);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) buckets[Math.floor(r() * 10)]++;
    for (const n of buckets) expect(Math.abs(n - 10_000)).toBeLessThan(500);
  });
});
