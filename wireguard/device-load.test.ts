// Cookies under load and fuzzing, device level: forced and detected cookie mode, legitimate peers still
// connecting through a flood, per-source rate limiting, replayed and garbage datagrams, random input.
import { afterEach, describe, expect, it } from 'vitest';
import { writeU32LE } from './bytes.js';
import { MESSAGE_COOKIE_REPLY_SIZE, MESSAGE_INITIATION_SIZE, REKEY_TIMEOUT_MS } from './constants.js';
import { CookieGenerator } from './cookie.js';
import { defaultCrypto } from '../crypto/backend.js';
import { buildFillerPacket } from '../packet/build.js';
import { FakePairs } from './fake-pair.js';
import { seededRng } from '../types/seeded-rng.js';
import type { FakeDatagram } from '../net/fake-udp-bind.js';

const pairs = new FakePairs();
afterEach(() => pairs.closeAll());

/** A junk initiation with a valid mac1 for `responderPub` (passes the cheap check, fails decryption). */
function junkInitiation(gen: CookieGenerator, seed: number, now: number): Uint8Array {
  const m = new Uint8Array(MESSAGE_INITIATION_SIZE);
  for (let i = 4; i < m.length; i++) m[i] = (seed * 31 + i * 7) & 0xff;
  writeU32LE(m, 0, 1);
  gen.addMacs(m, now);
  return m;
}

describe('cookie mode', () => {
  it('forced under load: the responder answers with a cookie reply, the initiator retries with mac2 and connects', async () => {
    const { net, a, b, run } = pairs.clocked({ b: { underLoad: true } });
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await run(500);
    expect(b.device.counters().cookie_replies_sent).toBe(1);
    expect(a.device.counters().cookie_replies_received).toBe(1);
    expect(net.log.some((d) => d.data.length === MESSAGE_COOKIE_REPLY_SIZE && d.data[0] === 3)).toBe(true);
    expect(b.tun.received.length).toBe(0);
    await run(REKEY_TIMEOUT_MS + 500);
    expect(b.tun.received.length).toBe(1);
    expect(b.device.counters().handshakes_completed).toBe(1);
    // Cookie replies do not move the endpoint (roaming needs an authenticated packet).
    expect(a.device.peers()[0].endpoint).toBe('192.0.2.2:51821');
  });

  it('detects load from the queue depth; a legitimate peer still connects during a flood', async () => {
    const { net, a, b, run, clock } = pairs.clocked();
    const attacker = net.bind('198.51.100.66:6666');
    const replies: FakeDatagram[] = [];
    attacker.start((batch) => {
      for (let i = 0; i < batch.count; i++) replies.push({ data: batch.bufs[i].slice(0, batch.lens[i]) } as FakeDatagram);
    });
    const gen = new CookieGenerator(defaultCrypto(), b.publicKey);
    const flood = (n: number): void => {
      for (let i = 0; i < n; i++) {
        const m = junkInitiation(gen, i + clock.now(), clock.now());
        attacker.send(m, 0, m.length, b.bind.addr16, b.bind.port);
      }
    };
    flood(400);
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    // Keep flooding for 7 s of fake time, 150 initiations every 250 ms; A's retry lands at ~5 s.
    for (let t = 0; t < 7_000; t += 250) {
      flood(150);
      await run(250);
    }
    const c = b.device.counters();
    expect(c.under_load_events).toBeGreaterThanOrEqual(1);
    expect(c.cookie_replies_sent).toBeGreaterThan(100);
    expect(replies.length).toBe(c.cookie_replies_sent - a.device.counters().cookie_replies_received);
    expect(a.device.counters().cookie_replies_received).toBe(1);
    expect(b.device.counters().handshakes_completed).toBe(1);
    expect(b.tun.received.length).toBe(1);
  });

  it('rate-limits a source that holds a valid cookie to the 20/s, burst 5 budget', async () => {
    const { net, b, run, clock } = pairs.clocked({ b: { underLoad: true } });
    const attacker = net.bind('198.51.100.66:6666');
    const gen = new CookieGenerator(defaultCrypto(), b.publicKey);
    attacker.start((batch) => {
      for (let i = 0; i < batch.count; i++) gen.consumeReply(batch.bufs[i].subarray(0, batch.lens[i]), clock.now());
    });
    const first = junkInitiation(gen, 1, clock.now());
    attacker.send(first, 0, first.length, b.bind.addr16, b.bind.port);
    await run(250);
    expect(gen.hasCookie(clock.now())).toBe(true);
    for (let i = 0; i < 50; i++) {
      const m = junkInitiation(gen, 100 + i, clock.now());
      attacker.send(m, 0, m.length, b.bind.addr16, b.bind.port);
    }
    await run(250);
    const c = b.device.counters();
    // 5 (burst) pass the limiter and then fail decryption; the rest are rate-limited.
    expect(c.drop_ratelimited).toBe(45);
    expect(c.drop_handshake_decrypt_failed).toBe(5);
  });
});

describe('robustness', () => {
  it('a replayed initiation and replayed transport packets are dropped without harm', async () => {
    const { net, a, b, run } = pairs.clocked();
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await run(500);
    const captured = net.log.map((d) => d.data.slice());
    for (const d of captured) net.inject(d, '192.0.2.1:51820', '192.0.2.2:51821');
    await run(500);
    const c = b.device.counters();
    expect(c.drop_handshake_replay).toBe(1);
    expect(c.drop_replay).toBe(1);
    expect(b.tun.received.length).toBe(1);
    // Replay from another address does not move B's endpoint for A.
    for (const d of captured) net.inject(d, '203.0.113.9:1', '192.0.2.2:51821');
    await run(500);
    expect(b.device.peers()[0].endpoint).toBe('192.0.2.1:51820');
    // The session still works both ways.
    b.tun.inject(buildFillerPacket('10.0.0.2', '10.0.0.1'));
    await run(500);
    expect(a.tun.received.length).toBe(1);
  });

  it('random, truncated and bit-flipped datagrams never throw and are counted', async () => {
    const { net, a, b, run } = pairs.clocked();
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await run(500);
    const valid = net.log.map((d) => d.data.slice());
    const r = seededRng(7);
    const rnd = (n: number): number => Math.floor(r() * n);
    const N = process.env.GRANTWIRE_LONG ? 200_000 : 5_000;
    for (let i = 0; i < N; i++) {
      let d: Uint8Array;
      const kind = rnd(4);
      if (kind === 0) {
        d = new Uint8Array(rnd(200));
        for (let j = 0; j < d.length; j++) d[j] = rnd(256);
        if (d.length >= 4) d[0] = 1 + rnd(4);
        if (d.length >= 4) d[1] = d[2] = d[3] = 0;
      } else if (kind === 1) {
        const v = valid[rnd(valid.length)];
        d = v.slice(0, rnd(v.length + 1));
      } else {
        d = valid[rnd(valid.length)].slice();
        const flips = 1 + rnd(4);
        for (let j = 0; j < flips; j++) d[rnd(d.length)] ^= 1 << rnd(8);
      }
      net.inject(d, `192.0.2.${1 + rnd(3)}:${1 + rnd(65535)}`, '192.0.2.2:51821');
      if (i % 500 === 0) await run(10, 10);
    }
    await run(500);
    const c = b.device.counters();
    const drops = Object.entries(c).filter(([k]) => k.startsWith('drop_')).reduce((s, [, v]) => s + v, 0);
    expect(drops).toBeGreaterThan(N / 2);
    // Still healthy afterwards.
    b.tun.inject(buildFillerPacket('10.0.0.2', '10.0.0.1'));
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await run(REKEY_TIMEOUT_MS * 2);
    expect(a.tun.received.length).toBeGreaterThanOrEqual(1);
    expect(b.tun.received.length).toBeGreaterThanOrEqual(2);
  });

  it('a datagram with a valid index but a wrong key fails decryption (wrong key)', async () => {
    const { net, a, b, run } = pairs.clocked();
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await run(500);
    const data = net.log.find((d) => d.data[0] === 4)!.data.slice();
    data[8] = 99; // another counter: the tag no longer matches
    net.inject(data, '192.0.2.1:51820', '192.0.2.2:51821');
    const bogus = new Uint8Array(64);
    writeU32LE(bogus, 0, 4);
    writeU32LE(bogus, 4, 0xdeadbeef);
    net.inject(bogus, '192.0.2.1:51820', '192.0.2.2:51821');
    await run(500);
    expect(b.device.counters().drop_decrypt_failed).toBe(1);
    expect(b.device.counters().drop_invalid_index).toBe(1);
  });

  it('a throwing hook or packet device is counted and logged, and the device keeps working', async () => {
    const { a, b, run } = pairs.clocked();
    let calls = 0;
    b.device.setHook({
      inbound: () => {
        calls++;
        if (calls === 1) throw new Error('hook exploded');
        return true;
      },
      outbound: () => true,
    });
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await run(500);
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2'));
    await run(500);
    expect(b.device.counters().internal_errors).toBe(1);
    expect(b.logs.some((l) => l.includes('hook exploded'))).toBe(true);
    expect(b.tun.received.length).toBe(1);
    // A timer whose send throws: the persistent-keepalive timer keeps running.
    const send = a.bind.send.bind(a.bind);
    let throwing = true;
    a.bind.send = (...args) => {
      if (throwing) throw new Error('socket gone');
      send(...args);
    };
    a.device.upsertPeer({ publicKey: b.publicKey, allowedIPs: [], persistentKeepaliveSec: 1 });
    await run(3_000);
    expect(a.device.counters().internal_errors).toBeGreaterThanOrEqual(1);
    throwing = false;
    await run(3_000);
    expect(b.device.counters().keepalives_received).toBeGreaterThanOrEqual(1);
  });
});
