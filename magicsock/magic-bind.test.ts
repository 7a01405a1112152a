// MagicBind on a fake clock over the in-memory UDP network (no relay): an idle peer's confirmed direct
// path lives on low-rate keepalives (one ping per interval, to that path only) so its next packet goes
// direct; a path that stops answering still lapses within the pong timeout, idle or active.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { generatePrivateKey, publicKeyFromPrivate } from '../crypto/key.js';
import { parseEndpoint } from '../net/endpoint.js';
import { FakeNetwork } from '../net/fake-udp-bind.js';
import { DISCO_PING, DiscoBox, isDiscoMessage } from './disco.js';
import { ACTIVE_WINDOW_MS, DEFAULT_KEEPALIVE_INTERVAL_MS, MagicBind } from './magic-bind.js';

const A_EP = '192.0.2.1:41641';
const B_EP = '203.0.113.2:41641';
/** A candidate of b's that never answers: idle keepalives must not go there. */
const B_DEAD = '198.51.100.99:4000';
const PROBE_MS = 5_000;

interface Side {
  bind: MagicBind;
  pub: Uint8Array;
  disco: DiscoBox;
}

let clock = 0;
let net: FakeNetwork;
let blocked = false;
const binds: MagicBind[] = [];

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
  clock = 1_000_000;
  blocked = false;
  net = new FakeNetwork();
  net.taps.push(() => !blocked);
});

afterEach(async () => {
  for (const b of binds.splice(0)) await b.close();
  vi.useRealTimers();
});

function side(ep: string): Side {
  const key = generatePrivateKey();
  const pub = publicKeyFromPrivate(key);
  const disco = new DiscoBox();
  const bind = new MagicBind({ inner: net.bind(ep), nodePrivate: key, nodePublic: pub, disco, probeIntervalMs: PROBE_MS, now: () => clock, wallNow: () => 1_700_000_000_000 + clock });
  bind.start(() => {});
  binds.push(bind);
  return { bind, pub, disco };
}

/** Advances the fake clock by `ms` in 500 ms steps, running the bind's timers and delivering datagrams. */
async function advance(ms: number, each?: () => void): Promise<void> {
  for (let t = 0; t < ms; t += 500) {
    clock += 500;
    vi.advanceTimersByTime(500);
    await net.settle();
    each?.();
  }
}

/** A WireGuard transport-shaped datagram (type 4): the bind routes it by the peer's current path. */
const WG = Uint8Array.from([4, 0, 0, 0, ...new Array<number>(28).fill(7)]);

function sendWg(from: Side, vep: string): void {
  const e = parseEndpoint(vep);
  from.bind.send(WG, 0, WG.length, e.addr16, e.port);
}

/** Two peers that talked (a sent to b) until both have a confirmed direct path. */
async function directPair(): Promise<{ a: Side; b: Side; toB: string }> {
  const a = side(A_EP);
  const b = side(B_EP);
  const toB = a.bind.upsertPeer({ nodeKey: b.pub, discoKey: b.disco.publicKey, homeRelay: null, endpoints: [B_EP, B_DEAD] });
  b.bind.upsertPeer({ nodeKey: a.pub, discoKey: a.disco.publicKey, homeRelay: null, endpoints: [A_EP] });
  sendWg(a, toB);
  await advance(1_000);
  expect(a.bind.peerPath(b.pub)).toMatchObject({ curAddr: B_EP, relay: '', direct: true });
  expect(b.bind.peerPath(a.pub)).toMatchObject({ curAddr: A_EP, relay: '', direct: true });
  return { a, b, toB };
}

/** Disco pings for `to` (sealed to its key), by destination `ip:port`, counted from now on. */
function countPings(to: Side): Map<string, number> {
  const seen = new Map<string, number>();
  net.taps.push((d) => {
    if (isDiscoMessage(d.data, d.data.length) && to.disco.open(d.data, d.data.length)?.type === DISCO_PING) {
      const k = `${d.toAddr16.subarray(12).join('.')}:${d.toPort}`;
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    return true;
  });
  return seen;
}

describe('MagicBind keepalives on an idle peer (fake clock)', () => {
  it('keeps the confirmed direct path through 10 idle minutes, so the next packet goes direct', async () => {
    const { a, b, toB } = await directPair();
    const pings = countPings(b);
    let lapsed = 0;
    const idleMs = 10 * 60_000;
    await advance(idleMs, () => {
      if (!a.bind.peerPath(b.pub)?.direct || !b.bind.peerPath(a.pub)?.direct) lapsed++;
    });
    expect(clock).toBeGreaterThan(ACTIVE_WINDOW_MS * 5);
    const before = { direct: a.bind.stats.wgDirect, fallback: a.bind.stats.wgFallback };
    sendWg(a, toB);
    expect(a.bind.stats.wgDirect - before.direct, 'the idle peer\'s next packet went direct').toBe(1);
    expect(a.bind.stats.wgFallback - before.fallback).toBe(0);
    expect(lapsed).toBe(0);
    // Cheap: after the active minute, one ping per interval to the direct path and none elsewhere.
    const idlePings = pings.get(B_EP) ?? 0;
    const activeProbes = Math.ceil(ACTIVE_WINDOW_MS / PROBE_MS) + 2;
    expect(idlePings).toBeLessThanOrEqual(activeProbes + Math.ceil((idleMs - ACTIVE_WINDOW_MS) / DEFAULT_KEEPALIVE_INTERVAL_MS) + 1);
    expect(idlePings).toBeGreaterThanOrEqual(Math.floor((idleMs - ACTIVE_WINDOW_MS) / DEFAULT_KEEPALIVE_INTERVAL_MS));
    expect(pings.get(B_DEAD) ?? 0, 'no keepalive to a candidate that never answered').toBeLessThanOrEqual(activeProbes);
  }, 30_000);

  it('an idle path that stops answering lapses within a keepalive interval plus the pong timeout', async () => {
    const { a, b, toB } = await directPair();
    await advance(ACTIVE_WINDOW_MS + 5_000); // idle now
    blocked = true;
    await advance(DEFAULT_KEEPALIVE_INTERVAL_MS + 2 * PROBE_MS + 1_000 + 1_000);
    const before = a.bind.stats.wgDirect;
    sendWg(a, toB);
    expect(a.bind.stats.wgDirect).toBe(before);
    expect(a.bind.stats.wgFallback).toBeGreaterThan(0);
    expect(a.bind.peerPath(b.pub)?.direct).toBe(false);
  }, 30_000);

  it('an active path that stops answering lapses within three probe intervals', async () => {
    const { a, b, toB } = await directPair();
    blocked = true;
    let at = -1;
    const t0 = clock;
    await advance(4 * PROBE_MS, () => {
      sendWg(a, toB); // keeps the peer active
      if (at < 0 && a.bind.stats.wgFallback > 0) at = clock - t0;
    });
    expect(at).toBeGreaterThan(0);
    expect(at).toBeLessThanOrEqual(3 * PROBE_MS + 1_000);
    expect(a.bind.peerPath(b.pub)?.direct).toBe(false);
  }, 30_000);
});
