// The netstack's life-cycle controls over an in-memory link: addresses added and removed on a live stack
// (connections on the addresses that stay keep flowing), a TCP fallback holding a SYN until its verdict
// (checked on the wire bytes: nothing before the verdict, then SYN-ACK or a closed port's RST|ACK), the
// UDP fallback's reply path and port unreachable (wire bytes), and close() with open sockets that have no
// 'error' listener.
import { describe, expect, it } from 'vitest';
import { buildPacket } from '../packet/build.js';
import { onesComplementSum } from '../packet/checksum.js';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../packet/headers.js';
import type { SynRequest, TcpSocket } from './api.js';
import { ADDR_A4, ADDR_A6, ADDR_B4, ADDR_B6, linkPair } from './test-helpers.js';

async function connected(L: ReturnType<typeof linkPair>, s: TcpSocket): Promise<void> {
  await L.run(() => !s.connecting, 10_000);
  if (s.connecting) throw new Error('no handshake');
}

/** Echo server on b's port 7; returns the echoed text seen by a client after writing `text`. */
async function echoOnce(L: ReturnType<typeof linkPair>, s: TcpSocket, text: string): Promise<string> {
  let got = '';
  const on = (d: Buffer): void => {
    got += d.toString();
  };
  s.on('data', on);
  s.write(text);
  await L.run(() => got.length >= text.length, 10_000);
  s.off('data', on);
  return got;
}

function tcpHeader(p: Uint8Array): { flags: number; seq: number; ack: number; window: number; hl: number; sport: number; dport: number } {
  const t = p[0] >> 4 === 4 ? (p[0] & 15) * 4 : 40;
  const dv = new DataView(p.buffer, p.byteOffset, p.length);
  return { sport: dv.getUint16(t), dport: dv.getUint16(t + 2), seq: dv.getUint32(t + 4), ack: dv.getUint32(t + 8), flags: p[t + 13], window: dv.getUint16(t + 14), hl: (p[t + 12] >> 4) * 4 };
}

describe('addresses on a live stack', () => {
  it('adding one and removing another keeps connections on the address that stays; those on the removed one are reset', async () => {
    const L = linkPair({ seed: 301 });
    L.b.listenTcp(7, (s) => {
      s.on('error', () => undefined);
      s.pipe(s);
    });
    const on6 = L.a.connectTcp({ remoteAddress: ADDR_B6, remotePort: 7 });
    const on4 = L.a.connectTcp({ remoteAddress: ADDR_B4, remotePort: 7 });
    let err4: (Error & { posixCode?: string }) | null = null;
    on4.on('error', (e: Error) => (err4 = e));
    await connected(L, on6);
    await connected(L, on4);
    expect(await echoOnce(L, on6, 'before\n')).toBe('before\n');

    L.b.addAddress('192.0.2.3');
    L.b.removeAddress(ADDR_B4);
    expect(L.b.addresses).toEqual([ADDR_B6, '192.0.2.3']);
    // the connection on the unchanged IPv6 address still carries data, in both directions
    expect(await echoOnce(L, on6, 'after\n')).toBe('after\n');
    // the one on the removed address was reset: its peer saw a RST
    await L.run(() => err4 !== null, 10_000);
    expect(err4!.posixCode).toBe('ECONNRESET');
    // the new address serves at once; the removed one is no longer ours
    const on3 = L.a.connectTcp({ remoteAddress: '192.0.2.3', remotePort: 7 });
    await connected(L, on3);
    expect(await echoOnce(L, on3, 'new\n')).toBe('new\n');
    const before = L.b.stats().dropNotForUs;
    const gone = L.a.connectTcp({ remoteAddress: ADDR_B4, remotePort: 7, timeoutMs: 2000 });
    gone.on('error', () => undefined);
    await L.run(() => L.b.stats().dropNotForUs > before, 5000);
    expect(L.b.stats().dropNotForUs).toBeGreaterThan(before);
    for (const s of [on6, on3, gone]) s.destroy();
  });

  it.each([
    { name: 'not an IP', f: (L: ReturnType<typeof linkPair>) => L.b.addAddress('nope'), code: 'ERR_NETSTACK_ADDRESS' },
    { name: 'IPv6 under a 576 MTU', f: () => linkPair({ mtu: 576 }), code: 'ERR_NETSTACK_ARGUMENT' },
  ])('addAddress: $name → $code', ({ f, code }) => {
    const L = linkPair({ seed: 302 });
    expect(() => f(L)).toThrow(expect.objectContaining({ code }));
  });

  it('removing an absent address or adding a present one changes nothing', () => {
    const L = linkPair({ seed: 303 });
    L.b.removeAddress('192.0.2.99');
    L.b.addAddress(ADDR_B4);
    L.b.addAddress('2001:DB8::2');
    expect(L.b.addresses).toEqual([ADDR_B4, ADDR_B6]);
  });
});

describe('a TCP fallback holding a SYN', () => {
  function setup(seed: number, holdMs?: number) {
    const L = linkPair({ seed });
    const syns: SynRequest[] = [];
    const accepted: TcpSocket[] = [];
    L.b.setTcpFallback(
      (syn) => {
        syns.push(syn);
        return 'hold';
      },
      (s) => {
        accepted.push(s);
        s.end('held then accepted');
      },
      holdMs !== undefined ? { holdMs } : {},
    );
    const fromB: Uint8Array[] = [];
    L.tapBA = (p) => fromB.push(p);
    return { L, syns, accepted, fromB };
  }

  it.each([
    { family: 4 as const, to: ADDR_B4 },
    { family: 6 as const, to: ADDR_B6 },
  ])('refuse() answers exactly a closed port’s RST|ACK (seq 0, ack = SYN seq + 1, window 0, no options), IPv$family', async ({ to }) => {
    const { L, syns, fromB } = setup(310);
    let synSeq = -1;
    L.tapAB = (p) => {
      const h = tcpHeader(p);
      if (h.flags === TCP_SYN) synSeq = h.seq;
    };
    const c = L.a.connectTcp({ remoteAddress: to, remotePort: 8080 });
    let err: (Error & { posixCode?: string }) | null = null;
    c.on('error', (e: Error) => (err = e));
    await L.run(() => syns.length > 0, 1000);
    // held: nothing answers the SYN, not even after its retransmission
    await L.run(() => false, 1500);
    expect(fromB).toHaveLength(0);
    expect(syns).toHaveLength(1);
    expect(L.b.stats().tcpSynHeld).toBe(1);
    expect(syns[0].refuse()).toBe(true);
    expect(syns[0].refuse()).toBe(false); // decided once
    await L.run(() => err !== null, 1000);
    expect(fromB).toHaveLength(1);
    const h = tcpHeader(fromB[0]);
    expect(h).toMatchObject({ flags: TCP_RST | TCP_ACK, seq: 0, ack: (synSeq + 1) >>> 0, window: 0, hl: 20, sport: 8080, dport: c.localPort });
    expect(err!.posixCode).toBe('ECONNREFUSED');
    expect(L.b.stats()).toMatchObject({ tcpResetsOut: 1, tcpDropNoListener: 1, tcpConnections: 0 });
  });

  it('accept() answers SYN-ACK then; the connection reaches onConnection; the replay is not counted twice', async () => {
    const { L, syns, accepted, fromB } = setup(311);
    const c = L.a.connectTcp({ remoteAddress: ADDR_B4, remotePort: 8080 });
    let text = '';
    c.on('data', (d: Buffer) => (text += d.toString()));
    await L.run(() => syns.length > 0, 1000);
    const segIn = L.b.stats().tcpSegmentsIn;
    expect(fromB).toHaveLength(0);
    expect(syns[0]).toMatchObject({ remoteAddress: ADDR_A4, remotePort: c.localPort, localAddress: ADDR_B4, localPort: 8080 });
    expect(syns[0].accept()).toBe(true);
    expect(tcpHeader(fromB[0]).flags).toBe(TCP_SYN | TCP_ACK);
    expect(L.b.stats().tcpSegmentsIn).toBe(segIn);
    await L.run(() => text === 'held then accepted', 5000);
    expect(accepted).toHaveLength(1);
    expect(accepted[0].remotePort).toBe(c.localPort);
  });

  it('an expired hold drops the SYN silently; the retransmission asks again', async () => {
    const { L, syns, fromB } = setup(312, 500);
    const c = L.a.connectTcp({ remoteAddress: ADDR_B4, remotePort: 8080 });
    c.on('error', () => undefined);
    await L.run(() => syns.length > 0, 1000);
    await L.run(() => L.b.stats().tcpSynHoldExpired > 0, 2000);
    expect(syns[0].accept()).toBe(false);
    await L.run(() => syns.length > 1, 5000); // the client's SYN retransmission
    expect(syns).toHaveLength(2);
    expect(fromB).toHaveLength(0);
    expect(syns[1].accept()).toBe(true);
    await L.run(() => !c.connecting, 5000);
    expect(c.connecting).toBe(false);
    c.destroy();
  });
});

describe('UDP fallback replies and port unreachable', () => {
  it.each([
    { family: 4 as const, src: ADDR_A4, dst: ADDR_B4, type: 3, code: 3, proto: 1 },
    { family: 6 as const, src: ADDR_A6, dst: ADDR_B6, type: 1, code: 4, proto: 58 },
  ])('IPv$family: replies reach the sender from the port it sent to; unreachable quotes its datagram', async ({ family, src, dst, type, code, proto }) => {
    const L = linkPair({ seed: 320 });
    const flows: { msg: Buffer; info: Parameters<Parameters<typeof L.b.setUdpFallback>[0] & object>[1] }[] = [];
    L.b.setUdpFallback((msg, info) => {
      flows.push({ msg, info });
    });
    const fromB: Uint8Array[] = [];
    L.tapBA = (p) => fromB.push(p);
    const client = L.a.bindUdp(4000);
    const got: string[] = [];
    client.on('message', (m: Buffer, r: { address: string; port: number }) => got.push(`${m.toString()} from ${r.address}:${r.port}`));
    client.send('question', 5353, dst);
    await L.run(() => flows.length > 0, 1000);
    const reply = L.b.udpReplier(flows[0].info);
    expect(reply(Buffer.from('answer'))).toBe(true);
    await L.run(() => got.length > 0, 1000);
    expect(got).toEqual([`answer from ${dst}:5353`]);

    // the unreachable for a datagram sent the way the link carries it (compared with buildPacket's bytes)
    const payload = Buffer.alloc(700, 0x5a);
    const original = buildPacket({ src, dst, proto: 'udp', sport: 4000, dport: 5353, payload });
    fromB.length = 0;
    expect(L.b.sendPortUnreachable({ localAddress: dst, localPort: 5353, remoteAddress: src, remotePort: 4000 }, payload)).toBe(true);
    const p = fromB[0];
    const hl = family === 4 ? 20 : 40;
    expect(family === 4 ? p[9] : p[6]).toBe(proto);
    expect([p[hl], p[hl + 1]]).toEqual([type, code]);
    expect([...p.subarray(hl + 4, hl + 8)]).toEqual([0, 0, 0, 0]);
    // size limits: 576 bytes in all for IPv4, the whole datagram for IPv6 (fits in 1280)
    expect(p.length).toBe(family === 4 ? 576 : hl + 8 + original.length);
    // checksum verifies (ICMPv4 over the message; ICMPv6 with its pseudo-header, checked by the stack below)
    if (family === 4) expect(onesComplementSum(p, hl, p.length - hl)).toBe(0xffff);
    const quote = p.subarray(hl + 8);
    const oh = family === 4 ? 20 : 40;
    // the quoted transport header and payload are the datagram's own bytes, checksum included
    expect(Buffer.from(quote.subarray(oh))).toEqual(Buffer.from(original.subarray(oh, oh + quote.length - oh)));
    // the quoted IP header names the flow: original source → destination, UDP, the datagram's length
    if (family === 4) {
      expect([...quote.subarray(12, 20)]).toEqual([...original.subarray(12, 20)]);
      expect([quote[0], quote[2], quote[3], quote[9]]).toEqual([original[0], original[2], original[3], 17]);
    } else expect([...quote.subarray(0, 40)]).toEqual([...original.subarray(0, 40)]);
    // a's stack parses it as a valid ICMP message (a checksum error would be counted)
    const bad = L.a.stats().dropChecksum;
    L.inject('a', p);
    expect(L.a.stats().dropChecksum).toBe(bad);
    expect(L.b.stats().icmpUnreachOut).toBe(1);
  });

  it('a replier stops sending once its local address is removed or the stack closed', () => {
    const L = linkPair({ seed: 321 });
    const flow = { localAddress: ADDR_B4, localPort: 53, remoteAddress: ADDR_A4, remotePort: 4000 };
    const reply = L.b.udpReplier(flow);
    expect(reply(Buffer.from('x'))).toBe(true);
    L.b.removeAddress(ADDR_B4);
    expect(reply(Buffer.from('x'))).toBe(false);
    expect(L.b.sendPortUnreachable(flow, Buffer.from('x'))).toBe(false);
    expect(() => L.b.udpReplier({ ...flow, remoteAddress: ADDR_A6 })).toThrow(expect.objectContaining({ code: 'ERR_NETSTACK_ADDRESS' }));
  });

  it('port unreachables are rate-limited to 1000 a second', async () => {
    const L = linkPair({ seed: 322 });
    const flow = { localAddress: ADDR_B4, localPort: 53, remoteAddress: ADDR_A4, remotePort: 4000 };
    let sent = 0;
    for (let i = 0; i < 1100; i++) if (L.b.sendPortUnreachable(flow, Buffer.from('x'))) sent++;
    expect(sent).toBe(1000);
    expect(L.b.stats()).toMatchObject({ icmpUnreachOut: 1000, icmpUnreachRateLimited: 100 });
    L.clock.advance(1000);
    expect(L.b.sendPortUnreachable(flow, Buffer.from('x'))).toBe(true);
  });
});

describe('close()', () => {
  it('destroys open sockets with no error listener: each emits close, none emits error, and the peers are reset', async () => {
    const L = linkPair({ seed: 330 });
    const accepted: TcpSocket[] = [];
    L.b.listenTcp(7, (s) => accepted.push(s));
    const clients = [L.a.connectTcp({ remoteAddress: ADDR_B4, remotePort: 7 }), L.a.connectTcp({ remoteAddress: ADDR_B6, remotePort: 7 })];
    for (const c of clients) c.on('error', () => undefined);
    await L.run(() => accepted.length === 2, 5000);
    accepted[0].write('unread by the peer');
    const events: string[] = [];
    let writeErr: Error | null | undefined;
    for (const s of accepted) {
      const emit = s.emit.bind(s);
      s.emit = ((ev: string | symbol, ...args: unknown[]) => {
        if (ev === 'error' || ev === 'close') events.push(String(ev));
        return emit(ev, ...args);
      }) as typeof s.emit;
    }
    // a write still waiting when the stack closes gets its callback's error (not an 'error' event)
    accepted[1].cork();
    accepted[1].write('pending', (e) => (writeErr = e));
    const resetsBefore = L.b.stats().tcpResetsOut;
    L.b.close();
    accepted[1].uncork();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(events).toEqual(['close', 'close']);
    expect(accepted.every((s) => s.destroyed)).toBe(true);
    expect(writeErr).toBeInstanceOf(Error);
    expect(L.b.stats().tcpResetsOut - resetsBefore).toBe(2);
  });
});
