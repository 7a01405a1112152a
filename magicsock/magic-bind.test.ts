// MagicBind on a fake clock over the in-memory UDP network (no relay): an idle peer's confirmed direct
// path lives on low-rate keepalives (one ping per interval, to that path only) so its next packet goes
// direct; a path that stops answering still lapses within the pong timeout, idle or active.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { generatePrivateKey, publicKeyFromPrivate } from '../crypto/key.js';
import { formatEndpoint, parseEndpoint } from '../net/endpoint.js';
import { FakeNetwork, type FakeUdpBind } from '../net/fake-udp-bind.js';
import type { DatagramBatch } from '../net/io.js';
import { DISCO_PING, DiscoBox, isDiscoMessage } from './disco.js';
import { ACTIVE_WINDOW_MS, DEFAULT_KEEPALIVE_INTERVAL_MS, MagicBind } from './magic-bind.js';

const A_EP = '192.0.2.1:41641';
const B_EP = '203.0.113.2:41641';
/** A candidate of b's that never answers: idle keepalives must not go there. */
const B_DEAD = '198.51.100.99:4000';
const PROBE_MS = 5_000;

interface Side {
  bind: MagicBind;
  inner: FakeUdpBind;
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

function side(ep: string, onUp: (b: DatagramBatch) => void = () => {}): Side {
  const key = generatePrivateKey();
  const pub = publicKeyFromPrivate(key);
  const disco = new DiscoBox();
  const inner = net.bind(ep);
  const bind = new MagicBind({ inner, nodePrivate: key, nodePublic: pub, disco, probeIntervalMs: PROBE_MS, now: () => clock, wallNow: () => 1_700_000_000_000 + clock });
  bind.start(onUp);
  binds.push(bind);
  return { bind, inner, pub, disco };
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

  it('an idle peer that roams behind a stateful firewall: its new endpoint from the netmap is probed at once, back to direct', async () => {
    const { a, b } = await directPair();
    await advance(ACTIVE_WINDOW_MS + 5_000); // idle, on keepalives
    // a's side filters like a NAT: only sources a has sent to may reach it.
    const opened = new Set<string>();
    net.taps.push((d) => {
      const from = formatEndpoint(d.fromAddr16, d.fromPort);
      const to = formatEndpoint(d.toAddr16, d.toPort);
      if (from === A_EP) opened.add(to);
      return to !== A_EP || opened.has(from);
    });
    const B_NEW = '203.0.113.2:5000';
    net.rebind(b.inner, B_NEW);
    await advance(DEFAULT_KEEPALIVE_INTERVAL_MS + 2 * PROBE_MS + 2_000); // a's old path lapsed
    expect(a.bind.peerPath(b.pub)?.direct).toBe(false);
    // Control tells a about b's new endpoint.
    a.bind.upsertPeer({ nodeKey: b.pub, discoKey: b.disco.publicKey, homeRelay: null, endpoints: [B_NEW] });
    await advance(1_000);
    expect(a.bind.peerPath(b.pub)).toMatchObject({ curAddr: B_NEW, direct: true });
    expect(b.bind.peerPath(a.pub)).toMatchObject({ curAddr: A_EP, direct: true });
  }, 30_000);

  it('hole punching: both sides behind stateful firewalls go direct within a second, not a probe interval', async () => {
    const a = side(A_EP);
    const b = side(B_EP);
    // Each side filters like a NAT: only sources it has sent to may reach it.
    const opened = new Set<string>();
    net.taps.push((d) => {
      const from = formatEndpoint(d.fromAddr16, d.fromPort);
      const to = formatEndpoint(d.toAddr16, d.toPort);
      opened.add(`${from}>${to}`);
      return opened.has(`${to}>${from}`);
    });
    const toB = a.bind.upsertPeer({ nodeKey: b.pub, discoKey: b.disco.publicKey, homeRelay: null, endpoints: [B_EP] });
    const toA = b.bind.upsertPeer({ nodeKey: a.pub, discoKey: a.disco.publicKey, homeRelay: null, endpoints: [A_EP] });
    sendWg(a, toB); // a's probe dies at b's firewall, but opens a's for b
    await advance(500);
    expect(a.bind.peerPath(b.pub)?.direct).toBe(false);
    sendWg(b, toA); // b's probe gets through; a answers, and pings again on the path its first ping died on
    await advance(1_000);
    expect(b.bind.peerPath(a.pub)).toMatchObject({ curAddr: A_EP, direct: true });
    expect(a.bind.peerPath(b.pub)).toMatchObject({ curAddr: B_EP, direct: true });
    // and the ping-backs stop once answered: a few pings, not a storm
    const pings = countPings(b);
    await advance(2_000);
    expect(pings.get(B_EP) ?? 0).toBeLessThanOrEqual(2);
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

describe('MagicBind: the path of each WireGuard datagram handed up', () => {
  /** b answers on two addresses of its own (a NAT with two mappings): a confirms both as direct paths. */
  const B_EP2 = '203.0.113.3:41641';

  it('splits a batch where one peer\'s datagrams change path, so each is read with its own path', async () => {
    const batches: { count: number; via: (string | null)[] }[] = [];
    let a: Side | null = null;
    a = side(A_EP, (batch) => {
      const via: (string | null)[] = [];
      for (let i = 0; i < batch.count; i++) {
        const p = a!.bind.pathOfSource(batch.addrs.subarray(16 * i, 16 * i + 16), batch.ports[i]);
        via.push(p === null ? null : p.relay ? `relay ${p.relay}` : p.endpoint);
      }
      batches.push({ count: batch.count, via });
    });
    const b = side(B_EP);
    const c = side('198.51.100.5:41641');
    net.taps.push((d) => {
      if (Buffer.from(d.toAddr16.subarray(12)).equals(Buffer.from([203, 0, 113, 3]))) d.toAddr16 = parseEndpoint(B_EP).addr16;
      return true;
    });
    const toB = a.bind.upsertPeer({ nodeKey: b.pub, discoKey: b.disco.publicKey, homeRelay: null, endpoints: [B_EP, B_EP2] });
    const toC = a.bind.upsertPeer({ nodeKey: c.pub, discoKey: c.disco.publicKey, homeRelay: null, endpoints: ['198.51.100.5:41641'] });
    b.bind.upsertPeer({ nodeKey: a.pub, discoKey: a.disco.publicKey, homeRelay: null, endpoints: [A_EP] });
    c.bind.upsertPeer({ nodeKey: a.pub, discoKey: a.disco.publicKey, homeRelay: null, endpoints: [A_EP] });
    sendWg(a, toB);
    sendWg(a, toC);
    await advance(1_000);
    expect(a.bind.peerPath(b.pub)?.direct).toBe(true);
    expect(a.bind.peerPath(c.pub)?.direct).toBe(true);
    batches.length = 0;
    // One socket read: b via its first address, c, b via its second address, b again via the second, c.
    const from = [B_EP, '198.51.100.5:41641', B_EP2, B_EP2, '198.51.100.5:41641'];
    const batch: DatagramBatch = { count: from.length, bufs: from.map(() => WG), lens: Uint32Array.from(from.map(() => WG.length)), addrs: new Uint8Array(16 * from.length), ports: new Uint16Array(from.length) };
    from.forEach((f, i) => {
      const e = parseEndpoint(f);
      batch.addrs.set(e.addr16, 16 * i);
      batch.ports[i] = e.port;
    });
    a.inner.receiveBatch(batch);
    // Split only where b's path changes; c rides along.
    expect(batches).toEqual([
      { count: 2, via: [B_EP, '198.51.100.5:41641'] },
      { count: 3, via: [B_EP2, B_EP2, '198.51.100.5:41641'] },
    ]);
  });

  it('a datagram from an address disco never confirmed goes up unchanged: its path is that address', () => {
    const a = side(A_EP);
    expect(a.bind.pathOfSource(parseEndpoint('198.51.100.9:1234').addr16, 1234)).toEqual({ endpoint: '198.51.100.9:1234', relay: '' });
    const b = side(B_EP);
    const vep = parseEndpoint(a.bind.upsertPeer({ nodeKey: b.pub, discoKey: b.disco.publicKey, homeRelay: null, endpoints: [B_EP] }));
    expect(a.bind.pathOfSource(vep.addr16, vep.port), 'nothing received from b yet').toBeNull();
  });
});
