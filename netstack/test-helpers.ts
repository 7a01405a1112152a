// An in-memory link between two Netstacks for tests and the in-memory benchmark: packets are copied,
// then optionally dropped, duplicated, reordered or delayed by a seeded RNG, and delivered on a FakeClock
// (or the next microtask when no delay applies), so runs are deterministic per seed. Not for production.
import { createHash } from 'node:crypto';
import { seededRng } from '../types/seeded-rng.js';
import { FakeClock } from './fake-clock.js';
import { Netstack } from './netstack.js';
import type { NetstackLimits } from './api.js';

export interface LinkImpairment {
  loss?: number; // probability a packet is dropped
  /** Burst loss: with probability `p` a packet starts a run of `len` consecutive drops (itself included). */
  burst?: { p: number; len: number };
  duplicate?: number; // probability a packet is delivered twice
  reorder?: number; // probability a packet is held back by `reorderDelayMs`
  reorderDelayMs?: number;
  delayMs?: number; // one-way delay
  /** Rewrites a packet in place before the impairments (a middlebox: e.g. strip an option, fix the checksum). */
  rewrite?: (pkt: Uint8Array) => void;
  /** Drop packets whose bytes satisfy this (e.g. a specific segment), after the seeded impairments. */
  dropIf?: (pkt: Uint8Array) => boolean;
}

export interface LinkPair {
  clock: FakeClock;
  a: Netstack;
  b: Netstack;
  /** Packets sent each way (after impairment). */
  sent: { ab: number; ba: number };
  impair: { ab: LinkImpairment; ba: LinkImpairment };
  /** Runs the clock in `stepMs` steps until `done()` or `maxMs` of fake time pass; returns the fake ms used. */
  run(done: () => boolean, maxMs?: number, stepMs?: number): Promise<number>;
  /** Observe every packet a→b (before impairment). */
  tapAB: ((pkt: Uint8Array) => void) | null;
  tapBA: ((pkt: Uint8Array) => void) | null;
  /** Inject a raw packet into a or b. */
  inject(to: 'a' | 'b', pkt: Uint8Array): void;
}

export const ADDR_A4 = '192.0.2.1';
export const ADDR_B4 = '192.0.2.2';
export const ADDR_A6 = '2001:db8::1';
export const ADDR_B6 = '2001:db8::2';

export function linkPair(opts: { seed?: number; mtu?: number; limits?: NetstackLimits; ab?: LinkImpairment; ba?: LinkImpairment } = {}): LinkPair {
  const clock = new FakeClock();
  const rng = seededRng(opts.seed ?? 1);
  const mtu = opts.mtu ?? 1280;
  const impair = { ab: opts.ab ?? {}, ba: opts.ba ?? {} };
  const sent = { ab: 0, ba: 0 };
  const burstLeft = { ab: 0, ba: 0 };
  // deliveries queued at a time, flushed by run()
  const queue: { at: number; to: 'a' | 'b'; pkt: Uint8Array }[] = [];
  let pair: LinkPair;
  const send = (dir: 'ab' | 'ba', packet: Uint8Array, len: number): void => {
    const pkt = packet.slice(0, len);
    const tap = dir === 'ab' ? pair.tapAB : pair.tapBA;
    tap?.(pkt);
    const im = impair[dir];
    im.rewrite?.(pkt);
    if (im.loss && rng() < im.loss) return;
    if (burstLeft[dir] > 0) {
      burstLeft[dir]--;
      return;
    }
    if (im.burst && rng() < im.burst.p) {
      burstLeft[dir] = im.burst.len - 1;
      return;
    }
    if (im.dropIf && im.dropIf(pkt)) return;
    const to = dir === 'ab' ? 'b' : 'a';
    let at = clock.now() + (im.delayMs ?? 0);
    if (im.reorder && rng() < im.reorder) at += im.reorderDelayMs ?? 5;
    sent[dir]++;
    queue.push({ at, to, pkt });
    if (im.duplicate && rng() < im.duplicate) queue.push({ at: at + 1, to, pkt });
  };
  const a = new Netstack({ addresses: [ADDR_A4, ADDR_A6], mtu, clock, limits: opts.limits, random: seededRng((opts.seed ?? 1) * 7 + 1), output: (p, l) => send('ab', p, l) });
  const b = new Netstack({ addresses: [ADDR_B4, ADDR_B6], mtu, clock, limits: opts.limits, random: seededRng((opts.seed ?? 1) * 7 + 2), output: (p, l) => send('ba', p, l) });
  const flush = (): boolean => {
    let any = false;
    for (;;) {
      let best = -1;
      for (let i = 0; i < queue.length; i++) if (queue[i].at <= clock.now() && (best < 0 || queue[i].at < queue[best].at)) best = i;
      if (best < 0) return any;
      const [q] = queue.splice(best, 1);
      any = true;
      (q.to === 'a' ? a : b).input(q.pkt, 0, q.pkt.length);
    }
  };
  pair = {
    clock,
    a,
    b,
    sent,
    impair,
    tapAB: null,
    tapBA: null,
    inject(to, pkt) {
      (to === 'a' ? a : b).input(pkt, 0, pkt.length);
    },
    async run(done, maxMs = 600_000, stepMs = 1) {
      const start = clock.now();
      for (;;) {
        // let stream callbacks (writes, pipes) run between packet bursts
        for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
        let moved = flush();
        if (done()) return clock.now() - start;
        if (!moved) {
          if (clock.now() - start >= maxMs) return clock.now() - start;
          // jump to the next event: a queued packet or a timer
          let next = clock.now() + stepMs;
          let soonest = Infinity;
          for (const q of queue) soonest = Math.min(soonest, q.at);
          const t = clock.nextDeadline();
          if (t !== null) soonest = Math.min(soonest, t);
          if (soonest === Infinity) next = clock.now() + 100;
          else if (soonest > next) next = soonest;
          clock.advance(Math.max(next - clock.now(), 0));
          moved = flush();
        }
      }
    },
  };
  return pair;
}

/** SHA-256 in hex: transfers are checked byte-exact by digest. */
export const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** `n` seeded pseudo-random bytes (the payload of a test transfer). */
export function pattern(n: number, seed: number): Buffer {
  const r = seededRng(seed);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}
