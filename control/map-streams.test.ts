import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MapStreams, type MapSubscriber } from './map-streams.js';
import type { NetmapCache } from './netmap-cache.js';

/** A cache with no netmaps: flushes happen (counted) but send nothing. */
function fakeCache(): { cache: NetmapCache; flushes: () => number; built: number[] } {
  let flushes = 0;
  const built: number[] = [];
  const cache = {
    sync: () => {},
    takeVisibilityChanges: () => [],
    nextPeers: () => {
      flushes++;
      return { prev: null, cur: new Map() };
    },
    parts: (id: number) => {
      built.push(id);
      return null;
    },
  } as unknown as NetmapCache;
  return { cache, flushes: () => flushes, built };
}

function sub(): MapSubscriber & { kicks: string[] } {
  const kicks: string[] = [];
  return { kicks, send: () => {}, kick: (code) => kicks.push(code) };
}

describe('MapStreams', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const make = () => {
    const f = fakeCache();
    const s = new MapStreams({ cache: f.cache, now: Date.now, flushDelayMs: 20, stats: { netmapsSent: 0 } });
    return { s, ...f };
  };

  it('a node is online from its first stream to its last; a kick ends all of them', () => {
    const { s } = make();
    const a = sub();
    const b = sub();
    expect(s.add(1, a)).toBe(true); // came online
    expect(s.add(1, b)).toBe(false);
    expect([s.isOnline(1), s.count]).toEqual([true, 1]);
    expect(s.remove(1, a)).toBe(false);
    expect(s.remove(1, b)).toBe(true); // went offline
    expect([s.isOnline(1), s.count]).toEqual([false, 0]);
    s.add(2, a);
    s.add(2, b);
    s.kick(2, 'unknown_node', 'node deleted');
    expect([a.kicks, b.kicks]).toEqual([['unknown_node'], ['unknown_node']]);
    expect(s.isOnline(2)).toBe(false);
    expect(s.remove(2, a)).toBe(false); // the stream closing after a kick is not another offline event
  });

  it('coalesces dirty marks into one flush after the delay, only for nodes with streams', () => {
    const { s, flushes, built } = make();
    s.add(1, sub());
    s.add(2, sub());
    s.markDirty([1]);
    s.markDirty([1, 3]);
    vi.advanceTimersByTime(19);
    expect(flushes()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(flushes()).toBe(1);
    expect(built).toEqual([1]); // 3 has no stream, 2 was not dirty
    s.markAllDirty();
    vi.advanceTimersByTime(20);
    expect(flushes()).toBe(2);
    expect(built.slice(1).sort()).toEqual([1, 2]);
    vi.advanceTimersByTime(1_000);
    expect(flushes()).toBe(2); // nothing dirty, no timer
  });

  it('stop() cancels a pending flush and ignores later marks', () => {
    const { s, flushes } = make();
    s.add(1, sub());
    s.markDirty([1]);
    s.stop();
    s.markAllDirty();
    vi.advanceTimersByTime(1_000);
    expect(flushes()).toBe(0);
  });
});
