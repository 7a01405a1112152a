// Two full Devices over in-memory UDP and packet devices: handshake, data both ways, PSK, wrong keys,
// padding on the wire, trimming, cryptokey routing and source checks, roaming, staged packets.
import { afterEach, describe, expect, it } from 'vitest';
import { MESSAGE_INITIATION_SIZE, MESSAGE_RESPONSE_SIZE, KEEPALIVE_SIZE } from './constants.js';
import { buildFillerPacket } from '../packet/build.js';
import { FakePairs } from './fake-pair.js';
import { generatePresharedKey, generatePrivateKey, publicKeyFromPrivate } from '../crypto/key.js';
import { GrantwireError } from '../types/errors.js';
import { parseEndpoint } from '../net/endpoint.js';

const pairs = new FakePairs();
afterEach(() => pairs.closeAll());

describe('Device over fakes', () => {
  it.each([
    ['node:crypto', 'node' as const],
    ['auto (native addon when built)', 'auto' as const],
  ])('handshakes on first packet and delivers data both ways (transport %s)', async (_n, transport) => {
    const { net, a, b } = pairs.pair({ common: { transport } });
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2', 100));
    await net.settle();
    expect(b.tun.received.length).toBe(1);
    expect(b.tun.received[0].length).toBe(120);
    b.tun.inject(buildFillerPacket('10.0.0.2', '10.0.0.1', 1));
    await net.settle();
    expect(a.tun.received.length).toBe(1);
    expect(a.tun.received[0].length).toBe(21);
    const types = net.log.map((d) => [d.data[0], d.data.length]);
    expect(types[0]).toEqual([1, MESSAGE_INITIATION_SIZE]);
    expect(types[1]).toEqual([2, MESSAGE_RESPONSE_SIZE]);
    // Staged packet confirms the keys (no separate keepalive); 120 bytes → padded to 128 + 32.
    expect(types[2]).toEqual([4, 160]);
    // 21 bytes → 32 + 32.
    expect(types[3]).toEqual([4, 64]);
    expect(a.device.counters().handshakes_completed).toBe(1);
    expect(b.device.counters().handshakes_completed).toBe(1);
    const pa = a.device.peers()[0];
    expect(pa.endpoint).toBe('192.0.2.2:51821');
    expect(pa.allowedIPs).toEqual(['10.0.0.2/32']);
    expect(pa.lastHandshakeMs).toBeGreaterThan(0);
    expect(pa.txBytes).toBeGreaterThan(0);
    expect(pa.rxBytes).toBeGreaterThan(0);
  });

  it('works with a preshared key and logs key-log lines', async () => {
    const psk = generatePresharedKey();
    const { net, a, b } = pairs.pair({ psk });
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2', 40));
    await net.settle();
    expect(b.tun.received.length).toBe(1);
    expect(a.keyLog.some((l) => l.startsWith('LOCAL_STATIC_PRIVATE_KEY = '))).toBe(true);
    expect(a.keyLog.some((l) => l.startsWith('LOCAL_EPHEMERAL_PRIVATE_KEY = '))).toBe(true);
    expect(b.keyLog.some((l) => l.startsWith('LOCAL_EPHEMERAL_PRIVATE_KEY = '))).toBe(true);
    expect(a.keyLog).toContain(`PRESHARED_KEY = ${Buffer.from(psk).toString('base64')}`);
    expect(a.device.peers()[0].presharedKey).toEqual(psk);
  });

  it('fails the handshake on a psk mismatch', async () => {
    const { net, a, b } = pairs.pair();
    b.device.upsertPeer({ publicKey: a.publicKey, presharedKey: generatePresharedKey(), allowedIPs: [] });
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2', 40));
    await net.settle();
    expect(b.tun.received.length).toBe(0);
    expect(a.device.counters().drop_handshake_decrypt_failed).toBe(1);
  });

  it('drops initiations from unknown keys and with a wrong responder key (bad mac1)', async () => {
    const { net, a, b } = pairs.pair();
    // B does not know A any more.
    b.device.removePeer(a.publicKey);
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await net.settle();
    expect(b.device.counters().drop_handshake_unknown_peer).toBe(1);
    // A believes B has another key: mac1 is computed over the wrong key.
    a.device.removePeer(b.publicKey);
    a.device.upsertPeer({ publicKey: publicKeyFromPrivate(generatePrivateKey()), endpoint: b.endpoint, allowedIPs: ['10.0.0.2/32'] });
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await net.settle();
    expect(b.device.counters().drop_bad_mac1).toBe(1);
  });

  it('IPv6 packets, longest-prefix routing and no-route drops', async () => {
    const { net, a, b } = pairs.pair();
    a.device.upsertPeer({ publicKey: b.publicKey, allowedIPs: ['fd00::/64', '10.1.0.0/16'] });
    b.device.upsertPeer({ publicKey: a.publicKey, allowedIPs: ['fd00::1/128'] });
    a.tun.inject(buildFillerPacket('fd00::1', 'fd00::2', 10), buildFillerPacket('10.0.0.1', '10.1.2.3', 5), buildFillerPacket('10.0.0.1', '10.9.9.9', 5));
    await net.settle();
    expect(a.device.counters().drop_no_route).toBe(1);
    // 10.0.0.1 is allowed for A on B: both delivered.
    expect(b.tun.received.map((p) => p.length)).toEqual([50, 25]);
  });

  it('drops inbound packets whose inner source is not the peer (spoofed source)', async () => {
    const { net, a, b } = pairs.pair();
    a.tun.inject(buildFillerPacket('10.66.0.1', '10.0.0.2', 10));
    await net.settle();
    expect(b.tun.received.length).toBe(0);
    expect(b.device.counters().drop_spoofed_source).toBe(1);
  });

  it('calls the hook on outbound and inbound packets', async () => {
    const seen: string[] = [];
    const { net, a, b } = pairs.pair();
    a.device.setHook({ inbound: () => true, outbound: (_b, _o, len) => (seen.push(`out ${len}`), len !== 33) });
    b.device.setHook({
      inbound: (_buf, _o, len, key) => {
        seen.push(`in ${len} ${Buffer.from(key).equals(Buffer.from(a.publicKey))}`);
        return len !== 30;
      },
      outbound: () => true,
    });
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2', 10), buildFillerPacket('10.0.0.1', '10.0.0.2', 13), buildFillerPacket('10.0.0.1', '10.0.0.2', 20));
    await net.settle();
    expect(seen).toEqual(['out 30', 'out 33', 'out 40', 'in 30 true', 'in 40 true']);
    expect(b.tun.received.length).toBe(1);
    expect(a.device.counters().drop_filtered_outbound).toBe(1);
    expect(b.device.counters().drop_filtered_inbound).toBe(1);
  });

  it('roams: the endpoint follows the source of authenticated packets', async () => {
    const { net, a, b } = pairs.pair({ endpoints: 'a' });
    expect(b.device.peers()[0].endpoint).toBeNull();
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await net.settle();
    expect(b.device.peers()[0].endpoint).toBe('192.0.2.1:51820');
    net.rebind(a.bind, '198.51.100.7:40000');
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await net.settle();
    expect(b.device.peers()[0].endpoint).toBe('198.51.100.7:40000');
    b.tun.inject(buildFillerPacket('10.0.0.2', '10.0.0.1'));
    await net.settle();
    expect(a.tun.received.length).toBe(1);
  });

  it('caps padding at the MTU and trims by IP length', async () => {
    const { net, a, b } = pairs.pair();
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2', 0));
    await net.settle();
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2', 1392 - 20 + 28 - 8), buildFillerPacket('10.0.0.1', '10.0.0.2', 1400));
    await net.settle();
    const sizes = net.log.filter((d) => d.data[0] === 4).map((d) => d.data.length);
    // 20 B → 32 + 32; 1412 B → 1420 cap + 32; 1420 B → 1452.
    expect(sizes).toEqual([64, 1452, 1452]);
    expect(b.tun.received.map((p) => p.length)).toEqual([20, 1412, 1420]);
  });

  it('sends a keepalive to confirm keys when nothing is staged (responder promotes next)', async () => {
    const { net, a, b } = pairs.pair();
    // A keepalive-triggered handshake: persistent keepalive turns on and sends one at once.
    a.device.upsertPeer({ publicKey: b.publicKey, allowedIPs: [], persistentKeepaliveSec: 25 });
    await net.settle();
    const t = net.log.map((d) => d.data.length);
    expect(t.slice(0, 3)).toEqual([148, 92, KEEPALIVE_SIZE]);
    expect(b.device.counters().keepalives_received).toBe(1);
    expect(b.device.counters().handshakes_completed).toBe(1);
  });

  it('configuration: validation errors, replace/remove allowed IPs, clearing the endpoint, own key ignored', () => {
    const { a, b } = pairs.pair({ start: false });
    expect(() => a.device.upsertPeer({ publicKey: new Uint8Array(31), allowedIPs: [] })).toThrow(/expected 32 bytes/);
    expect(() => a.device.upsertPeer({ publicKey: b.publicKey, allowedIPs: ['10.0.0.0/99'] })).toThrow(GrantwireError);
    expect(() => a.device.upsertPeer({ publicKey: b.publicKey, endpoint: 'nope', allowedIPs: [] })).toThrow(/invalid endpoint/);
    expect(() => a.device.upsertPeer({ publicKey: b.publicKey, persistentKeepaliveSec: -1, allowedIPs: [] })).toThrow(GrantwireError);
    expect(() => a.device.upsertPeer({ publicKey: b.publicKey, presharedKey: new Uint8Array(5), allowedIPs: [] })).toThrow(GrantwireError);
    // A failed update changed nothing.
    expect(a.device.peers()[0].allowedIPs).toEqual(['10.0.0.2/32']);
    a.device.upsertPeer({ publicKey: b.publicKey, allowedIPs: ['10.2.0.0/16', 'fd00::/64'] });
    expect(a.device.peers()[0].allowedIPs).toEqual(['10.0.0.2/32', '10.2.0.0/16', 'fd00::/64']);
    a.device.upsertPeer({ publicKey: b.publicKey, allowedIPs: ['-10.2.0.0/16'] });
    expect(a.device.peers()[0].allowedIPs).toEqual(['10.0.0.2/32', 'fd00::/64']);
    a.device.upsertPeer({ publicKey: b.publicKey, allowedIPs: ['10.3.0.0/16'], replaceAllowedIPs: true, endpoint: null, persistentKeepaliveSec: 0 });
    const info = a.device.peers()[0];
    expect(info.allowedIPs).toEqual(['10.3.0.0/16']);
    expect(info.endpoint).toBeNull();
    expect(info.persistentKeepaliveSec).toBe(0);
    a.device.upsertPeer({ publicKey: b.publicKey, endpoint: { addr16: parseEndpointBytes('[2001:db8::9]:7'), port: 7 }, allowedIPs: [] });
    expect(a.device.peers()[0].endpoint).toBe('[2001:db8::9]:7');
    a.device.upsertPeer({ publicKey: a.publicKey, allowedIPs: ['10.9.0.0/16'] });
    expect(a.device.peers().length).toBe(1);
    // Moving a prefix from one peer to another.
    const c = publicKeyFromPrivate(generatePrivateKey());
    a.device.upsertPeer({ publicKey: c, allowedIPs: ['10.3.0.0/16'] });
    const byKey = new Map(a.device.peers().map((p) => [Buffer.from(p.publicKey).toString('hex'), p.allowedIPs]));
    expect(byKey.get(Buffer.from(b.publicKey).toString('hex'))).toEqual([]);
    expect(byKey.get(Buffer.from(c).toString('hex'))).toEqual(['10.3.0.0/16']);
    a.device.removeAllPeers();
    expect(a.device.peers()).toEqual([]);
  });

  it('removing a peer frees its indices; a new private key re-handshakes with peers that know it', async () => {
    const { net, a, b } = pairs.pair();
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await net.settle();
    expect(a.device.indexCount).toBe(1);
    a.device.removePeer(b.publicKey);
    expect(a.device.indexCount).toBe(0);
    a.device.upsertPeer({ publicKey: b.publicKey, endpoint: b.endpoint, allowedIPs: ['10.0.0.2/32'] });
    const k2 = generatePrivateKey();
    a.device.setPrivateKey(k2);
    expect(a.keyLog.filter((l) => l.startsWith('LOCAL_STATIC_PRIVATE_KEY')).length).toBe(2);
    b.device.removePeer(a.publicKey);
    b.device.upsertPeer({ publicKey: publicKeyFromPrivate(k2), allowedIPs: ['10.0.0.1/32'] });
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await net.settle();
    expect(b.tun.received.length).toBe(2);
    expect(Buffer.from(a.device.publicKey).equals(Buffer.from(publicKeyFromPrivate(k2)))).toBe(true);
  });

  it('drops inbound packets whose IP length exceeds what was decrypted, and non-IP payloads', async () => {
    const { net, a, b } = pairs.pair();
    const bad = buildFillerPacket('10.0.0.1', '10.0.0.2', 10);
    bad[3] = 200; // claims 200 bytes
    const junk = new Uint8Array(40).fill(0x11); // version 1
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await net.settle();
    // Bypass A's routing (which would also reject junk): route by hand through the peer.
    a.device.upsertPeer({ publicKey: b.publicKey, allowedIPs: ['16.0.0.0/8'] });
    const peer = (a.device as unknown as { config: { peerByKey(k: Uint8Array): { sendPacket(b: Uint8Array, o: number, l: number): void } } }).config.peerByKey(b.publicKey);
    peer.sendPacket(bad, 0, bad.length);
    peer.sendPacket(junk, 0, junk.length);
    await net.settle();
    expect(b.device.counters().drop_truncated).toBe(1);
    expect(b.device.counters().drop_invalid_ip).toBe(1);
    expect(b.tun.received.length).toBe(1);
  });
  it('crossing handshakes (both sides initiate at once) deliver the first packets without the 5 s retry', async () => {
    const { net, a, b } = pairs.pair();
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2', 10));
    b.tun.inject(buildFillerPacket('10.0.0.2', '10.0.0.1', 10));
    await net.settle();
    expect(a.tun.received.length).toBe(1);
    expect(b.tun.received.length).toBe(1);
    expect(net.log.filter((d) => d.data[0] === 1).length).toBe(2);
    expect(a.device.counters().drop_handshake_unexpected + a.device.counters().drop_invalid_index).toBe(0);
    // Traffic keeps flowing both ways afterwards.
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2', 10));
    b.tun.inject(buildFillerPacket('10.0.0.2', '10.0.0.1', 10));
    await net.settle();
    expect([a.tun.received.length, b.tun.received.length]).toEqual([2, 2]);
  });
});

function parseEndpointBytes(s: string): Uint8Array {
  return parseEndpoint(s).addr16;
}
