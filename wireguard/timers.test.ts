// Timer sequences with a fake clock: LazyTimer semantics, then whole-device sequences over the fakes —
// retransmits and giving up, passive keepalive, new handshake after silence, rekey after time and
// after messages, REJECT_AFTER_TIME, zeroing keys, persistent keepalive, keypair rotation.
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from './clock.js';
import {
  KEEPALIVE_SIZE,
  MESSAGE_INITIATION_SIZE,
  REJECT_AFTER_TIME_MS,
  REKEY_TIMEOUT_MS,
  ZERO_KEY_MATERIAL_MS,
} from './constants.js';
import type { Device } from './device.js';
import { buildFillerPacket } from '../packet/build.js';
import { FakePairs } from './fake-pair.js';
import type { FakeNetwork } from '../net/fake-udp-bind.js';
import { LazyTimer } from './timers.js';

describe('LazyTimer', () => {
  it('fires once at the latest deadline after being pushed back, and not after del()', () => {
    const clock = new FakeClock(0);
    let fired = 0;
    const t = new LazyTimer(clock, () => fired++);
    t.mod(100);
    clock.advance(50);
    t.mod(100); // now due at 150
    clock.advance(60);
    expect(fired).toBe(0);
    clock.advance(40);
    expect(fired).toBe(1);
    expect(t.pending).toBe(false);
    t.mod(10);
    t.del();
    clock.advance(100);
    expect(fired).toBe(1);
    t.mod(100);
    t.mod(20); // earlier deadline re-schedules
    clock.advance(20);
    expect(fired).toBe(2);
    t.mod(5);
    t.stop();
    clock.advance(10);
    expect(fired).toBe(2);
    expect(clock.pending).toBe(0);
  });
});

const pairs = new FakePairs();
afterEach(() => pairs.closeAll());

/** Message types and sizes sent by `from` (an endpoint string) since index `since` in the log. */
function sent(net: FakeNetwork, from: string, since = 0): string[] {
  return net.log
    .slice(since)
    .filter((d) => net.describe(d).startsWith(from))
    .map((d) => (d.data[0] === 4 ? (d.data.length === KEEPALIVE_SIZE ? 'keepalive' : 'data') : ['', 'init', 'resp', 'cookie'][d.data[0]]));
}

describe('device timers (fake clock)', () => {
  it('retransmits the initiation every REKEY_TIMEOUT + jitter, 20 tries, then drops staged packets', async () => {
    const { net, a, run } = pairs.clocked();
    net.taps.push((d) => d.data[0] !== 1); // B never sees an initiation
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await run(1000);
    expect(sent(net, '192.0.2.1')).toEqual(['init']);
    await run(REKEY_TIMEOUT_MS + 400);
    expect(sent(net, '192.0.2.1')).toEqual(['init', 'init']);
    await run(120_000, 1000);
    const inits = sent(net, '192.0.2.1').filter((x) => x === 'init').length;
    expect(inits).toBe(20);
    expect(a.device.counters().drop_staged_expired).toBe(1);
    expect(a.logs.some((l) => l.includes('giving up'))).toBe(true);
  });

  it('sends a passive keepalive 10 s after receiving data it did not answer', async () => {
    const { net, a, b, run } = pairs.clocked();
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await run(500);
    expect(b.tun.received.length).toBe(1);
    const mark = net.log.length;
    await run(9_000);
    expect(sent(net, '192.0.2.2', mark)).toEqual([]);
    await run(1_500);
    expect(sent(net, '192.0.2.2', mark)).toEqual(['keepalive']);
    await run(30_000, 1000);
    expect(sent(net, '192.0.2.2', mark)).toEqual(['keepalive']); // only one
  });

  it('initiates a new handshake 15 s + jitter after sending data that got no answer', async () => {
    const { net, a, b, run } = pairs.clocked();
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await run(500);
    expect(b.tun.received.length).toBe(1);
    // From now on B's transport packets are lost (one-way failure).
    net.taps.push((d) => !(d.data[0] === 4 && net.describe(d).startsWith('192.0.2.2')));
    const mark = net.log.length;
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await run(14_500);
    expect(sent(net, '192.0.2.1', mark)).toEqual(['data']);
    await run(1_500);
    // The response gets through (only B's transport packets are lost), so A confirms with a keepalive.
    expect(sent(net, '192.0.2.1', mark)).toEqual(['data', 'init', 'keepalive']);
    expect(a.logs.some((l) => l.includes('stopped hearing back'))).toBe(true);
  });

  it('rekeys after the (shortened) REKEY_AFTER_TIME on send, and rotates keypairs on both sides', async () => {
    const { net, a, b, run } = pairs.clocked({ a: { rekeyAfterTimeMs: 3_000 } });
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await run(500);
    expect(a.device.counters().handshakes_completed).toBe(1);
    // Past the shortened rekey time, and past REKEY_TIMEOUT since the last initiation.
    await run(REKEY_TIMEOUT_MS + 500);
    const mark = net.log.length;
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2', 1));
    await run(500);
    // The packet goes out on the old keypair, then a new handshake starts; A confirms with a keepalive.
    expect(sent(net, '192.0.2.1', mark)).toEqual(['data', 'init', 'keepalive']);
    expect(b.tun.received.length).toBe(2);
    expect(a.device.counters().handshakes_completed).toBe(2);
    expect(b.device.counters().handshakes_completed).toBe(2);
    // B sends on the new keypair; A still accepts a packet B had sealed on the old one (previous).
    b.tun.inject(buildFillerPacket('10.0.0.2', '10.0.0.1'));
    await run(500);
    expect(a.tun.received.length).toBe(1);
    expect(a.device.indexCount).toBe(2); // current + previous
    expect(b.device.indexCount).toBe(2);
  });

  it('rekeys after the (shortened) REKEY_AFTER_MESSAGES', async () => {
    const { net, a, run } = pairs.clocked({ a: { rekeyAfterMessages: 5 } });
    for (let i = 0; i < 8; i++) a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await run(500);
    // Over the message limit, but re-initiation waits for REKEY_TIMEOUT after the first initiation.
    expect(sent(net, '192.0.2.1').filter((x) => x === 'init').length).toBe(1);
    await run(REKEY_TIMEOUT_MS);
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await run(500);
    expect(sent(net, '192.0.2.1').filter((x) => x === 'init').length).toBe(2);
    expect(a.device.counters().handshakes_completed).toBe(2);
  });

  it('responder only initiates after REJECT_AFTER_TIME when the initiator stays silent', async () => {
    const { net, a, b, run } = pairs.clocked();
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await run(500);
    // B (responder) answers traffic for a long time without rekeying: the initiator rekeys.
    await run(REJECT_AFTER_TIME_MS, 5_000);
    const mark = net.log.length;
    b.tun.inject(buildFillerPacket('10.0.0.2', '10.0.0.1'));
    await run(500);
    // The keypair is past REJECT_AFTER_TIME: B stages the packet and handshakes first.
    expect(sent(net, '192.0.2.2', mark)[0]).toBe('init');
    expect(a.tun.received.length).toBe(1);
  });

  it('wipes all keys 3 × REJECT_AFTER_TIME after the last session', async () => {
    const { a, b, run } = pairs.clocked();
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await run(500);
    expect(a.device.indexCount).toBe(1);
    await run(ZERO_KEY_MATERIAL_MS + 1_000, 10_000);
    expect(a.device.indexCount).toBe(0);
    expect(b.device.indexCount).toBe(0);
    expect(a.logs.some((l) => l.includes('removing all keys'))).toBe(true);
  });

  it('persistent keepalive every N seconds of silence', async () => {
    const { net, a, run } = pairs.clocked();
    a.device.upsertPeer({ publicKey: b_pub(net, a), allowedIPs: [], persistentKeepaliveSec: 25 });
    await run(500);
    const mark = net.log.length;
    await run(100_000, 1000);
    const ka = sent(net, '192.0.2.1', mark).filter((x) => x === 'keepalive').length;
    expect(ka).toBeGreaterThanOrEqual(3);
    expect(ka).toBeLessThanOrEqual(5);
  });

  it('handshake initiation is held off for REKEY_TIMEOUT (no storm on many packets)', async () => {
    const { net, a, run } = pairs.clocked();
    net.taps.push((d) => d.data[0] !== 1);
    for (let i = 0; i < 200; i++) a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await run(1000);
    expect(net.log.filter((d) => d.data.length === MESSAGE_INITIATION_SIZE).length).toBe(1);
    expect(a.device.counters().drop_staged_overflow).toBe(200 - 128);
  });
});

function b_pub(_net: FakeNetwork, a: { device: Device }): Uint8Array {
  return a.device.peers()[0].publicKey;
}
