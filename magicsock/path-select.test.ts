// Path choice: trusted direct paths only, lowest latency, hysteresis against flapping, relay otherwise.
import { describe, expect, it } from 'vitest';
import { selectPath, type PathSample } from './path-select.js';

const NOW = 100_000;
const TRUST = 5_000;
const PONG_TIMEOUT = 2_000;
const p = (id: string, latencyMs: number, agoMs = 0): PathSample => ({ id, latencyMs, lastPongMs: NOW - agoMs });

describe('selectPath', () => {
  it.each([
    { name: 'no paths: relay', paths: [], cur: null, want: null },
    { name: 'only unanswered paths: relay', paths: [{ id: 'x', latencyMs: NaN, lastPongMs: -Infinity }], cur: null, want: null },
    { name: 'a stale pong: relay', paths: [p('a', 1, TRUST + 1)], cur: 'a', want: null },
    { name: 'one trusted path', paths: [p('a', 20)], cur: null, want: 'a' },
    { name: 'lowest latency wins', paths: [p('a', 20), p('b', 5)], cur: null, want: 'b' },
    { name: 'keeps the current path when the other is barely faster', paths: [p('a', 10), p('b', 9)], cur: 'a', want: 'a' },
    { name: 'switches when the other is clearly faster', paths: [p('a', 10), p('b', 2)], cur: 'a', want: 'b' },
    { name: 'leaves a current path that went stale', paths: [p('a', 1, TRUST + 10), p('b', 30)], cur: 'a', want: 'b' },
    { name: 'ties break by id', paths: [p('b', 5), p('a', 5)], cur: null, want: 'a' },
    { name: 'ignores negative latencies', paths: [p('a', -1)], cur: null, want: null },
    { name: 'a ping unanswered within the pong timeout keeps the path', paths: [{ ...p('a', 5), unansweredSinceMs: NOW - PONG_TIMEOUT }], cur: 'a', want: 'a' },
    { name: 'a ping unanswered past the pong timeout drops it', paths: [{ ...p('a', 5), unansweredSinceMs: NOW - PONG_TIMEOUT - 1 }, p('b', 30)], cur: 'a', want: 'b' },
    { name: 'a ping unanswered past the pong timeout: relay', paths: [{ ...p('a', 5), unansweredSinceMs: NOW - PONG_TIMEOUT - 1 }], cur: 'a', want: null },
    { name: 'no ping outstanding (-1)', paths: [{ ...p('a', 5, TRUST), unansweredSinceMs: -1 }], cur: 'a', want: 'a' },
  ])('$name', ({ paths, cur, want }) => {
    expect(selectPath(paths, cur, NOW, TRUST, PONG_TIMEOUT)).toBe(want);
  });
});
