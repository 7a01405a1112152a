// Fuzzing the netstack's parsers and state machine (bounded by count): random and truncated packets never
// throw, random segments injected by a blind attacker (any flags, sequence numbers, windows and options,
// but not knowing the connection's ACK range) never corrupt an established stream, and duplicate ACKs
// with random SACK options (well formed or not, truthful or lying about what arrived) never corrupt one
// either: SACK information is advisory, and a timeout clears it (RFC 2018 §8).
import { describe, expect, it } from 'vitest';
import { buildPacket } from '../packet/build.js';
import { TCP_ACK, TCP_RST } from '../packet/headers.js';
import { seededRng } from '../types/seeded-rng.js';
import type { TcpSocket } from './api.js';
import { ADDR_A4, ADDR_A6, ADDR_B4, ADDR_B6, linkPair, sha } from './test-helpers.js';

describe('fuzz: input() never throws', () => {
  it.each([
    { name: 'random bytes', seed: 1 },
    { name: 'valid headers, random rest', seed: 2 },
    { name: 'truncated real packets', seed: 3 },
  ])('$name (20 000 packets)', ({ seed }) => {
    const L = linkPair({ seed });
    L.b.listenTcp(80, (s) => s.resume());
    L.b.bindUdp(53).on('message', () => {});
    const r = seededRng(seed);
    const real = [
      buildPacket({ src: ADDR_A4, dst: ADDR_B4, proto: 'tcp', sport: 1000, dport: 80 }),
      buildPacket({ src: ADDR_A6, dst: ADDR_B6, proto: 'tcp', sport: 1000, dport: 80, tcpOptions: Uint8Array.of(2, 4, 5, 0, 3, 3, 7, 4, 2, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8) }),
      buildPacket({ src: ADDR_A4, dst: ADDR_B4, proto: 'tcp', sport: 1000, dport: 80, tcpFlags: TCP_ACK, tcpOptions: Uint8Array.of(1, 1, 5, 18, 0, 0, 0, 1, 0, 0, 0, 9, 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 4) }),
      buildPacket({ src: ADDR_A4, dst: ADDR_B4, proto: 'udp', sport: 1000, dport: 53, payload: Buffer.from('q') }),
      buildPacket({ src: ADDR_A6, dst: ADDR_B6, proto: 'icmp' }),
    ];
    for (let i = 0; i < 20_000; i++) {
      let pkt: Uint8Array;
      if (seed === 1) {
        pkt = new Uint8Array((r() * 120) | 0);
        for (let j = 0; j < pkt.length; j++) pkt[j] = (r() * 256) | 0;
      } else if (seed === 2) {
        pkt = real[i % real.length].slice();
        for (let j = 0; j < 1 + ((r() * 6) | 0); j++) pkt[(r() * pkt.length) | 0] = (r() * 256) | 0;
      } else {
        const base = real[i % real.length];
        pkt = base.slice(0, (r() * base.length) | 0);
      }
      const off = (r() * 3) | 0;
      const buf = new Uint8Array(pkt.length + off + 2);
      buf.set(pkt, off);
      expect(() => L.b.input(buf, off, pkt.length)).not.toThrow();
      if (i % 500 === 0) L.clock.advance(100);
    }
    // and out-of-range offsets
    expect(() => L.b.input(new Uint8Array(10), 8, 40)).not.toThrow();
    expect(() => L.b.input(new Uint8Array(10), -1, 5)).not.toThrow();
    const st = L.b.stats();
    expect(st.dropMalformed + st.dropChecksum + st.dropNotForUs + st.tcpSegmentsIn + st.udpIn + st.icmpEchoIn + st.dropProtocol).toBeGreaterThan(0);
  });
});

/**
 * A 2 MiB transfer from a to b over a seeded link with `loss` on a → b, for fuzz to be injected into while
 * it runs: start() opens the connection and queues the data; finish() runs it to the end and checks that
 * the client saw no error and b received every byte, in order.
 */
function fuzzedTransfer(seed: number, family: 4 | 6, loss: number) {
  const L = linkPair({ seed, ab: { loss, delayMs: 5 }, ba: { delayMs: 5 } });
  let server: TcpSocket | null = null;
  const got: Buffer[] = [];
  let ended = false;
  L.b.listenTcp(5000, (s) => {
    server = s;
    s.on('data', (d: Buffer) => got.push(d));
    s.on('end', () => (ended = true));
  });
  const data = Buffer.alloc(2 << 20);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  let clientErr: Error | null = null;
  return {
    L,
    r: seededRng(seed * 31),
    server: (): TcpSocket | null => server,
    ended: (): boolean => ended,
    start(): TcpSocket {
      const client = L.a.connectTcp({ remoteAddress: family === 4 ? ADDR_B4 : ADDR_B6, remotePort: 5000 });
      client.on('error', (e: Error) => (clientErr = e));
      client.resume();
      client.end(data);
      return client;
    },
    async finish(): Promise<void> {
      await L.run(() => ended, 3_600_000);
      expect(clientErr).toBeNull();
      const all = Buffer.concat(got);
      expect(all.length).toBe(data.length);
      expect(sha(all)).toBe(sha(data));
    },
  };
}

describe('fuzz: blind segments never corrupt an established stream', () => {
  it.each([
    { name: 'IPv4', seed: 11, family: 4 as const },
    { name: 'IPv6', seed: 12, family: 6 as const },
  ])('$name: 3 000 random segments during a 2 MiB transfer', async ({ seed, family }) => {
    const h = fuzzedTransfer(seed, family, 0.01);
    const { L, r } = h;
    // follow the real sequence numbers so the fuzz lands around the windows
    let aNext = 0; // a's next sequence number as seen on the wire
    let bNext = 0;
    L.tapAB = (p) => {
      const t = family === 4 ? 20 : 40;
      aNext = (((p[t + 4] << 24) | (p[t + 5] << 16) | (p[t + 6] << 8) | p[t + 7]) >>> 0) + p.length - t - (p[t + 12] >> 4) * 4;
    };
    L.tapBA = (p) => {
      const t = family === 4 ? 20 : 40;
      bNext = ((p[t + 4] << 24) | (p[t + 5] << 16) | (p[t + 6] << 8) | p[t + 7]) >>> 0;
    };
    const client = h.start();
    await L.run(() => h.server() !== null);
    let sent = 0;
    const src = family === 4 ? ADDR_A4 : ADDR_A6;
    const dst = family === 4 ? ADDR_B4 : ADDR_B6;
    const fuzzOne = (toServer: boolean): Uint8Array => {
      let flags = (r() * 64) | 0;
      const near = toServer ? aNext : bNext;
      let seq = r() < 0.7 ? (near + (((r() * 2 - 1) * 0x20000) | 0)) >>> 0 : (r() * 0x100000000) >>> 0;
      // a blind attacker cannot hit the exact RST sequence number or the acceptable ACK range
      if (flags & TCP_RST && seq === near) seq = (seq + 1) >>> 0;
      const peerNext = toServer ? bNext : aNext;
      const ack = flags & TCP_ACK ? (peerNext + 0x40000000 + ((r() * 0x3fffffff) | 0)) >>> 0 : (r() * 0x100000000) >>> 0;
      const optLen = (r() * 12) | 0;
      const opts = new Uint8Array(optLen);
      for (let i = 0; i < optLen; i++) opts[i] = r() < 0.3 ? [0, 1, 2, 3, 4, 5, 8][(r() * 7) | 0] : (r() * 256) | 0;
      const payload = new Uint8Array(r() < 0.5 ? 0 : (r() * 600) | 0).fill(0xee);
      if (flags === 0) flags = TCP_ACK;
      return buildPacket({
        src: toServer ? src : dst,
        dst: toServer ? dst : src,
        proto: 'tcp',
        sport: toServer ? client.localPort : 5000,
        dport: toServer ? 5000 : client.localPort,
        tcpFlags: flags,
        seq,
        ack,
        window: (r() * 65536) | 0,
        tcpOptions: opts,
        payload,
      });
    };
    while (!h.ended() && sent < 3000) {
      for (let i = 0; i < 20; i++, sent++) {
        const toServer = r() < 0.5;
        L.inject(toServer ? 'b' : 'a', fuzzOne(toServer));
      }
      await L.run(() => true);
      L.clock.advance(1);
    }
    await h.finish();
    expect(sent).toBeGreaterThan(100);
    expect(L.a.stats().tcpChallengeAcks + L.b.stats().tcpChallengeAcks).toBeGreaterThan(0);
  }, 120_000);
});

/** A SACK option (after NOP NOP) with `n` blocks from `edge()`, its length byte sometimes wrong. */
function randomSackOption(r: () => number, edge: () => number): Uint8Array {
  const n = 1 + ((r() * 4) | 0);
  const o = new Uint8Array(4 + 8 * n);
  o[0] = 1;
  o[1] = 1;
  o[2] = 5;
  o[3] = r() < 0.8 ? 2 + 8 * n : (r() * 40) | 0; // malformed lengths now and then
  const dv = new DataView(o.buffer);
  for (let k = 0; k < n; k++) {
    const l = edge();
    dv.setUint32(4 + 8 * k, l);
    dv.setUint32(8 + 8 * k, r() < 0.8 ? (l + 1 + ((r() * 8000) | 0)) >>> 0 : edge());
  }
  return o;
}

describe('fuzz: random SACK options on in-window duplicate ACKs never corrupt an established stream', () => {
  it.each([
    { name: 'IPv4', seed: 21, family: 4 as const },
    { name: 'IPv6', seed: 22, family: 6 as const },
  ])('$name: 3 000 forged duplicate ACKs with SACK blocks during a 2 MiB transfer with 2% loss', async ({ seed, family }) => {
    const h = fuzzedTransfer(seed, family, 0.02);
    const { L, r } = h;
    // the receiver's real numbers: its sequence number, cumulative ACK and window field, from the wire
    const t = family === 4 ? 20 : 40;
    let bSeq = 0;
    let bAck = 0;
    let bWin = 0;
    L.tapBA = (p) => {
      bSeq = ((p[t + 4] << 24) | (p[t + 5] << 16) | (p[t + 6] << 8) | p[t + 7]) >>> 0;
      bAck = ((p[t + 8] << 24) | (p[t + 9] << 16) | (p[t + 10] << 8) | p[t + 11]) >>> 0;
      bWin = (p[t + 14] << 8) | p[t + 15];
    };
    const client = h.start();
    await L.run(() => h.server() !== null && bAck !== 0);
    const src = family === 4 ? ADDR_A4 : ADDR_A6;
    const dst = family === 4 ? ADDR_B4 : ADDR_B6;
    // edges: around the sender's outstanding data (plausible lies), below the ACK (D-SACK-like), or anywhere
    const edge = (): number => {
      const k = r();
      if (k < 0.6) return (bAck + ((r() * 0x8000) | 0)) >>> 0;
      if (k < 0.8) return (bAck - ((r() * 0x10000) | 0)) >>> 0;
      return (r() * 0x100000000) >>> 0;
    };
    let sent = 0;
    while (!h.ended() && sent < 3000) {
      for (let i = 0; i < 20; i++, sent++) {
        const toSender = r() < 0.8;
        // a forged ACK needs the peer's real numbers; the receiver side gets them mirrored (it has no flight)
        L.inject(
          toSender ? 'a' : 'b',
          buildPacket({
            src: toSender ? dst : src,
            dst: toSender ? src : dst,
            proto: 'tcp',
            sport: toSender ? 5000 : client.localPort,
            dport: toSender ? client.localPort : 5000,
            tcpFlags: TCP_ACK,
            seq: toSender ? bSeq : bAck,
            ack: toSender ? bAck : bSeq,
            window: bWin,
            tcpOptions: randomSackOption(r, edge),
          }),
        );
      }
      await L.run(() => true);
      L.clock.advance(1);
    }
    await h.finish();
    expect(sent).toBeGreaterThan(500);
    expect(client.tcpInfo().sack).toBe(true);
  }, 120_000);
});
