// Two WireGuard devices on MagicBinds over the in-memory UDP network, with a real relay on loopback TCP:
// the first packets go through the relay, disco upgrades the path to direct without a new handshake,
// blocking UDP keeps them on the relay, and forged, replayed, unsealed and flooded probes are ignored.
import { afterEach, describe, expect, it } from 'vitest';
import { generatePrivateKey, NodePublic, publicKeyFromPrivate } from '../../crypto/key.js';
import { FakePacketDevice } from '../../net/fake-packet-device.js';
import { FakeNetwork, type FakeDatagram } from '../../net/fake-udp-bind.js';
import { buildFillerPacket } from '../../packet/build.js';
import { StandaloneRelay } from '../../relay/standalone.js';
import { Device } from '../../wireguard/device.js';
import { DiscoBox, isDiscoMessage, DISCO_PING } from '../../magicsock/disco.js';
import { MagicBind } from '../../magicsock/magic-bind.js';
import { waitFor } from '../netns.js';

interface Node {
  key: Uint8Array;
  pub: Uint8Array;
  disco: DiscoBox;
  bind: MagicBind;
  tun: FakePacketDevice;
  device: Device;
  ip: string;
  ep: string;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function relay(authorized: Set<string>): Promise<{ url: string; srv: StandaloneRelay }> {
  const srv = new StandaloneRelay({ authorize: (k) => authorized.has(k), recheckMs: 200 }, false);
  const a = await srv.listen('127.0.0.1', 0);
  cleanups.push(() => srv.close());
  return { url: `http://127.0.0.1:${a.port}`, srv };
}

function node(net: FakeNetwork, ep: string, ip: string): Node {
  const key = generatePrivateKey();
  const pub = publicKeyFromPrivate(key);
  const disco = new DiscoBox();
  const bind = new MagicBind({ inner: net.bind(ep), nodePrivate: key, nodePublic: pub, disco, probeIntervalMs: 300 });
  const tun = new FakePacketDevice(`t-${ip}`, 1420);
  const device = new Device({ privateKey: key, tun, bind });
  cleanups.push(() => device.close());
  return { key, pub, disco, bind, tun, device, ip, ep };
}

function connect(a: Node, b: Node, relayName: string | null): void {
  for (const [x, y] of [
    [a, b],
    [b, a],
  ] as const) {
    const vep = x.bind.upsertPeer({ nodeKey: y.pub, discoKey: y.disco.publicKey, homeRelay: relayName, endpoints: [y.ep] });
    x.device.upsertPeer({ publicKey: y.pub, endpoint: vep, allowedIPs: [`${y.ip}/32`] });
  }
}

const until = (pred: () => boolean, ms = 5000): Promise<boolean> => waitFor(pred, ms, 20);

async function pair(opts: { blockUdp: () => boolean }): Promise<{ net: FakeNetwork; a: Node; b: Node; url: string; srv: StandaloneRelay }> {
  const net = new FakeNetwork();
  const a = node(net, '192.0.2.1:41641', '100.64.0.1');
  const b = node(net, '203.0.113.2:41641', '100.64.0.2');
  const { url, srv } = await relay(new Set([NodePublic.text(a.pub), NodePublic.text(b.pub)]));
  net.taps.push(() => !opts.blockUdp());
  for (const n of [a, b]) {
    n.bind.setRelays([{ name: 'r1', url, publicKey: srv.relay.publicKey }], 'r1');
    n.device.start();
  }
  connect(a, b, 'r1');
  await until(() => a.bind.relayConnected('r1') && b.bind.relayConnected('r1'));
  return { net, a, b, url, srv };
}

function send(from: Node, to: Node, n = 1): void {
  for (let i = 0; i < n; i++) from.tun.inject(buildFillerPacket(from.ip, to.ip, 64));
}

describe('MagicBind: relay first, then a direct upgrade', () => {
  it('carries the first packet through the relay and upgrades to direct without a new handshake', async () => {
    let blocked = true;
    const { a, b } = await pair({ blockUdp: () => blocked });
    send(a, b);
    expect(await until(() => b.tun.received.length >= 1)).toBe(true);
    expect(a.bind.peerPath(b.pub)).toMatchObject({ curAddr: '', relay: 'r1' });
    expect(a.bind.stats.wgRelayed).toBeGreaterThan(0);
    const handshakes = a.device.counters().handshakes_completed ?? a.device.peers()[0].lastHandshakeMs;
    blocked = false;
    expect(await until(() => a.bind.peerPath(b.pub)?.curAddr === '203.0.113.2:41641' && b.bind.peerPath(a.pub)?.curAddr === '192.0.2.1:41641')).toBe(true);
    const before = b.tun.received.length;
    send(a, b, 5);
    send(b, a, 5);
    expect(await until(() => b.tun.received.length >= before + 5 && a.tun.received.length >= 5)).toBe(true);
    expect(a.bind.stats.wgDirect).toBeGreaterThan(0);
    expect(a.device.counters().handshakes_completed ?? a.device.peers()[0].lastHandshakeMs).toBe(handshakes);
  });

  it('stays on the relay while UDP is blocked and keeps working', async () => {
    const { a, b } = await pair({ blockUdp: () => true });
    send(a, b, 3);
    send(b, a, 3);
    expect(await until(() => b.tun.received.length >= 3 && a.tun.received.length >= 3)).toBe(true);
    await new Promise((r) => setTimeout(r, 800));
    expect(a.bind.peerPath(b.pub)).toMatchObject({ curAddr: '', relay: 'r1' });
    expect(a.bind.stats.wgDirect).toBe(0);
  });

  it('falls back to the relay when the direct path stops answering', async () => {
    let blocked = false;
    const { a, b } = await pair({ blockUdp: () => blocked });
    send(a, b);
    expect(await until(() => a.bind.peerPath(b.pub)?.curAddr === '203.0.113.2:41641')).toBe(true);
    blocked = true;
    expect(await until(() => a.bind.peerPath(b.pub)?.relay === 'r1', 8000)).toBe(true);
    const before = b.tun.received.length;
    send(a, b, 3);
    expect(await until(() => b.tun.received.length >= before + 3)).toBe(true);
  }, 15_000);
});

describe('MagicBind: the path each received packet came on', () => {
  it('a packet that came through the relay says relay; after the upgrade, one that came direct says direct', async () => {
    let blocked = true;
    const { a, b } = await pair({ blockUdp: () => blocked });
    // What the agent's filter hook reads while the device handles each packet (agent ping's replies).
    const seen: (string | null)[] = [];
    b.device.setHook({
      inbound: (_buf, _off, _len, peerKey) => {
        const ep = b.device.peerEndpoint(peerKey);
        const via = ep ? b.bind.pathOfSource(ep.addr16, ep.port) : null;
        seen.push(via === null ? null : via.relay ? `relay ${via.relay}` : `direct ${via.endpoint}`);
        return true;
      },
      outbound: () => true,
    });
    send(a, b);
    expect(await until(() => seen.length >= 1)).toBe(true);
    expect(seen).toEqual(['relay r1']);
    blocked = false;
    expect(await until(() => a.bind.peerPath(b.pub)?.direct === true && b.bind.peerPath(a.pub)?.direct === true)).toBe(true);
    seen.length = 0;
    send(a, b, 3);
    expect(await until(() => seen.length >= 3)).toBe(true);
    expect(seen).toEqual(['direct 192.0.2.1:41641', 'direct 192.0.2.1:41641', 'direct 192.0.2.1:41641']);
  });
});

describe('MagicBind: a plain WireGuard peer (no disco key, no home relay)', () => {
  it('gets the first packet on its endpoint even while a relay is connected (it is on no relay)', async () => {
    const net = new FakeNetwork();
    const a = node(net, '192.0.2.1:41641', '100.64.0.1');
    const { url, srv } = await relay(new Set([NodePublic.text(a.pub)]));
    a.bind.setRelays([{ name: 'r1', url, publicKey: srv.relay.publicKey }], 'r1');
    a.device.start();
    // b: a bare Device on a plain UDP bind, as wireguard-go is: it knows a's endpoint, a knows b's.
    const bKey = generatePrivateKey();
    const bPub = publicKeyFromPrivate(bKey);
    const bTun = new FakePacketDevice('t-plain', 1420);
    const b = new Device({ privateKey: bKey, tun: bTun, bind: net.bind('203.0.113.2:51820') });
    cleanups.push(() => b.close());
    b.upsertPeer({ publicKey: a.pub, endpoint: '192.0.2.1:41641', allowedIPs: ['100.64.0.1/32'] });
    b.start();
    const vep = a.bind.upsertPeer({ nodeKey: bPub, discoKey: null, homeRelay: null, endpoints: ['203.0.113.2:51820'] });
    a.device.upsertPeer({ publicKey: bPub, endpoint: vep, allowedIPs: ['100.64.0.2/32'] });
    await until(() => a.bind.relayConnected('r1'));
    a.tun.inject(buildFillerPacket('100.64.0.1', '100.64.0.2', 64)); // a initiates: nothing came from b yet
    expect(await until(() => bTun.received.length >= 1)).toBe(true);
    expect(a.bind.stats.wgRelayed).toBe(0);
    expect(a.bind.stats.wgFallback).toBeGreaterThan(0);
    expect(srv.relay.stats.forwardedPackets).toBe(0);
    bTun.inject(buildFillerPacket('100.64.0.2', '100.64.0.1', 64));
    expect(await until(() => a.tun.received.length >= 1)).toBe(true);
  });
});

describe('MagicBind: two relays', () => {
  it('peers with different home relays reach each other from the first packet', async () => {
    const net = new FakeNetwork();
    net.taps.push(() => false); // no UDP at all: relays only
    const a = node(net, '192.0.2.1:41641', '100.64.0.1');
    const b = node(net, '203.0.113.2:41641', '100.64.0.2');
    const allowed = new Set([NodePublic.text(a.pub), NodePublic.text(b.pub)]);
    const r1 = await relay(allowed);
    const r2 = await relay(allowed);
    const relays = [
      { name: 'r1', url: r1.url, publicKey: r1.srv.relay.publicKey },
      { name: 'r2', url: r2.url, publicKey: r2.srv.relay.publicKey },
    ];
    a.bind.setRelays(relays, 'r1');
    b.bind.setRelays(relays, 'r2');
    for (const [x, y, home] of [
      [a, b, 'r2'],
      [b, a, 'r1'],
    ] as const) {
      const vep = x.bind.upsertPeer({ nodeKey: y.pub, discoKey: y.disco.publicKey, homeRelay: home, endpoints: [y.ep] });
      x.device.upsertPeer({ publicKey: y.pub, endpoint: vep, allowedIPs: [`${y.ip}/32`] });
      x.device.start();
    }
    await until(() => ['r1', 'r2'].every((r) => a.bind.relayConnected(r) && b.bind.relayConnected(r)));
    send(a, b, 2);
    send(b, a, 2);
    expect(await until(() => b.tun.received.length >= 2 && a.tun.received.length >= 2)).toBe(true);
    expect(a.bind.peerPath(b.pub)).toMatchObject({ curAddr: '', relay: 'r2' });
    expect(r2.srv.relay.stats.forwardedPackets).toBeGreaterThan(0);
    expect(r1.srv.relay.stats.forwardedPackets).toBeGreaterThan(0);
  });
});

describe('MagicBind: relay key pinning', () => {
  // End to end through MagicBind: the refused relay is skipped and the other carries the traffic. (The
  // client-side refusal itself, against an impostor that accepts any client, is relay/handshake.test.ts.)
  it('a relay that cannot prove the pinned key gets no packet; traffic falls back to the other relay', async () => {
    const net = new FakeNetwork();
    net.taps.push(() => false); // no UDP at all: relays only
    const a = node(net, '192.0.2.1:41641', '100.64.0.1');
    const b = node(net, '203.0.113.2:41641', '100.64.0.2');
    const allowed = new Set([NodePublic.text(a.pub), NodePublic.text(b.pub)]);
    const impostor = await relay(allowed);
    const good = await relay(allowed);
    // The relay map pins another key for r1 than the relay at r1's URL holds (a hijacked name or address).
    const relays = [
      { name: 'r1', url: impostor.url, publicKey: publicKeyFromPrivate(generatePrivateKey()) },
      { name: 'r2', url: good.url, publicKey: good.srv.relay.publicKey },
    ];
    for (const n of [a, b]) n.bind.setRelays(relays, 'r1');
    connect(a, b, 'r1');
    for (const n of [a, b]) n.device.start();
    await until(() => a.bind.relayConnected('r2') && b.bind.relayConnected('r2'));
    send(a, b, 2);
    send(b, a, 2);
    expect(await until(() => b.tun.received.length >= 2 && a.tun.received.length >= 2)).toBe(true);
    expect(a.bind.relayConnected('r1')).toBe(false);
    // What `agent netcheck` shows beside r1's latency: the relay answers but is refused for its key.
    expect(a.bind.relayAuthError('r1')).toMatch(/^relay http:\/\/127\.0\.0\.1:[0-9]+ presented key relaykey:[0-9a-f]{64}, not the pinned relaykey:[0-9a-f]{64}: refused$/);
    expect(a.bind.relayAuthError('r2')).toBeNull();
    expect(impostor.srv.relay.stats).toMatchObject({ accepted: 0, forwardedPackets: 0 });
    expect(good.srv.relay.stats.forwardedPackets).toBeGreaterThan(0);
  });
});

describe('MagicBind: disco probes are authenticated', () => {
  it('ignores forged, unsealed, replayed and unknown-sender probes and rate-limits a flood', async () => {
    const captured: FakeDatagram[] = [];
    const { net, a, b } = await pair({ blockUdp: () => false });
    net.taps.push((d) => {
      if (isDiscoMessage(d.data, d.data.length)) captured.push({ ...d, data: Uint8Array.from(d.data) });
      return true;
    });
    send(a, b);
    expect(await until(() => captured.length >= 4 && a.bind.peerPath(b.pub)?.curAddr !== '')).toBe(true);
    const toB = captured.filter((d) => Buffer.from(d.toAddr16.subarray(12)).equals(Buffer.from([203, 0, 113, 2])));
    const ping = toB.find((d) => b.disco.open(d.data, d.data.length)?.type === DISCO_PING);
    if (!ping) throw new Error('no ping from a to b was captured');
    const rows: { name: string; data: Uint8Array; counter: keyof MagicBind['stats'] }[] = [];
    // Unsealed: the right header (known sender), garbage box.
    const garbage = Uint8Array.from(ping.data);
    for (let i = 62; i < garbage.length; i++) garbage[i] ^= 0x5a;
    rows.push({ name: 'unsealed', data: garbage, counter: 'drop_disco_unsealed' });
    // Forged: sealed by a key that is not a's disco key but claiming a's disco key.
    const forger = new DiscoBox();
    const forged = forger.seal(b.disco.publicKey, { type: DISCO_PING, txid: forger.randomTxid(), sentAtMs: Date.now(), nodeKey: a.pub }) as Uint8Array;
    forged.set(a.disco.publicKey, 6);
    rows.push({ name: 'forged', data: forged, counter: 'drop_disco_unsealed' });
    // Unknown sender key.
    rows.push({ name: 'unknown sender', data: forger.seal(b.disco.publicKey, { type: DISCO_PING, txid: forger.randomTxid(), sentAtMs: Date.now(), nodeKey: a.pub }) as Uint8Array, counter: 'drop_disco_unknown_sender' });
    // Replayed: a real ping or pong a already sent to b.
    rows.push({ name: 'replayed', data: ping.data, counter: 'drop_disco_replay' });
    for (const row of rows) {
      await new Promise((r) => setTimeout(r, 400)); // refill the per-peer bucket
      const before = b.bind.stats[row.counter];
      net.inject(row.data, '192.0.2.1:41641', '203.0.113.2:41641');
      await net.settle();
      expect(b.bind.stats[row.counter], row.name).toBe(before + 1);
    }
    // Flood: 2000 copies of a replayed probe; at most the bucket's burst gets as far as the AEAD.
    const opened = (): number => b.bind.stats.drop_disco_replay + b.bind.stats.drop_disco_unsealed + b.bind.stats.discoPingsRx + b.bind.stats.discoPongsRx;
    const o0 = opened();
    const r0 = b.bind.stats.drop_disco_rate;
    for (let i = 0; i < 2000; i++) net.inject(ping.data, '192.0.2.1:41641', '203.0.113.2:41641');
    await net.settle(2000);
    expect(b.bind.stats.drop_disco_rate - r0).toBeGreaterThan(1900);
    expect(opened() - o0).toBeLessThanOrEqual(60);
  });
});
