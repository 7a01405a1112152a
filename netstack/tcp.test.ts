// TCP between two Netstacks over an in-memory link on a fake clock: transfers checked by SHA-256 under
// seeded loss, reordering, duplication and delay; half-close; resets; a zero window held and reopened;
// window scaling; retransmission; RFC 5961's blind-injection checks; TIME_WAIT; node:http on top.
import { createServer, request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { buildPacket } from '../packet/build.js';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../packet/headers.js';
import type { TcpSocket } from './api.js';
import { ADDR_A4, ADDR_A6, ADDR_B4, ADDR_B6, linkPair, type LinkImpairment, type LinkPair, pattern, sha } from './test-helpers.js';

function collect(s: TcpSocket): { chunks: Buffer[]; ended: boolean; closed: boolean; error: (Error & { posixCode?: string }) | null; data(): Buffer } {
  const st = {
    chunks: [] as Buffer[],
    ended: false,
    closed: false,
    error: null as (Error & { posixCode?: string }) | null,
    data: (): Buffer => Buffer.concat(st.chunks),
  };
  s.on('data', (d: Buffer) => st.chunks.push(d));
  s.on('end', () => (st.ended = true));
  s.on('close', () => (st.closed = true));
  s.on('error', (e: Error) => (st.error = e));
  return st;
}

/** Parsed TCP header of a packet captured on the link (IPv4 or IPv6, no extension headers). */
function tcpOf(p: Uint8Array): { seq: number; ack: number; flags: number; window: number; sport: number; dport: number; dataLen: number; end: number } {
  const t = p[0] >> 4 === 4 ? (p[0] & 15) * 4 : 40;
  const dv = new DataView(p.buffer, p.byteOffset, p.length);
  const seq = dv.getUint32(t + 4);
  const flags = p[t + 13];
  const dataLen = p.length - t - (p[t + 12] >> 4) * 4;
  // the sequence number after this segment (data, SYN and FIN each count)
  const end = (seq + dataLen + (flags & TCP_SYN ? 1 : 0) + (flags & 1 ? 1 : 0)) >>> 0;
  return { sport: dv.getUint16(t), dport: dv.getUint16(t + 2), seq, ack: dv.getUint32(t + 8), flags, window: dv.getUint16(t + 14), dataLen, end };
}

/** Runs a full exchange: a sends `up` bytes to b's echo-less sink, b sends `down` bytes back; both ends close. */
async function exchange(L: LinkPair, family: 4 | 6, up: number, down: number, maxMs = 3_600_000): Promise<{ client: TcpSocket; server: TcpSocket | null; sentUp: Buffer; sentDown: Buffer; gotUp: Buffer; gotDown: Buffer }> {
  const sentUp = pattern(up, 11);
  const sentDown = pattern(down, 12);
  let server: TcpSocket | null = null;
  let srv: ReturnType<typeof collect> | null = null;
  L.b.listenTcp(5000, (s) => {
    server = s;
    srv = collect(s);
    s.end(sentDown);
  });
  const client = L.a.connectTcp({ remoteAddress: family === 4 ? ADDR_B4 : ADDR_B6, remotePort: 5000 });
  const cli = collect(client);
  client.end(sentUp);
  await L.run(() => cli.closed && srv !== null && srv.closed, maxMs);
  expect(cli.error).toBeNull();
  expect(srv).not.toBeNull();
  expect(srv!.error).toBeNull();
  return { client, server, sentUp, sentDown, gotUp: srv!.data(), gotDown: cli.data() };
}

describe('TCP transfer over an impaired in-memory link', () => {
  const rows: { name: string; family: 4 | 6; up: number; down: number; ab?: LinkImpairment; ba?: LinkImpairment; seed: number; limits?: object }[] = [
    { name: 'clean IPv4, 1 MiB up and down', family: 4, up: 1 << 20, down: 1 << 20, seed: 1 },
    { name: 'clean IPv6, 1 MiB up, 64 KiB down', family: 6, up: 1 << 20, down: 1 << 16, seed: 2 },
    { name: '1% loss both ways', family: 4, up: 1 << 20, down: 1 << 19, ab: { loss: 0.01 }, ba: { loss: 0.01 }, seed: 3 },
    { name: '5% loss both ways, IPv6', family: 6, up: 512 << 10, down: 256 << 10, ab: { loss: 0.05 }, ba: { loss: 0.05 }, seed: 4 },
    { name: 'reordering 10%', family: 4, up: 1 << 20, down: 1 << 18, ab: { reorder: 0.1, reorderDelayMs: 3 }, ba: { reorder: 0.1, reorderDelayMs: 3 }, seed: 5 },
    { name: 'duplication 10%', family: 4, up: 1 << 20, down: 1 << 18, ab: { duplicate: 0.1 }, ba: { duplicate: 0.1 }, seed: 6 },
    { name: '50 ms delay with 2% loss, reorder and duplicates', family: 6, up: 1 << 20, down: 1 << 18, ab: { delayMs: 50, loss: 0.02, reorder: 0.05, duplicate: 0.05 }, ba: { delayMs: 50, loss: 0.02 }, seed: 7 },
    { name: 'small buffers (16 KiB): backpressure both ways', family: 4, up: 1 << 20, down: 1 << 20, seed: 8, limits: { sendBuffer: 16 << 10, receiveBuffer: 16 << 10 } },
    { name: 'lossy ACK path only (20% of b→a lost)', family: 4, up: 1 << 20, down: 0, ba: { loss: 0.2 }, seed: 9 },
  ];
  it.each(rows)('$name', async ({ family, up, down, ab, ba, seed, limits }) => {
    const L = linkPair({ seed, ab, ba, limits });
    const r = await exchange(L, family, up, down);
    expect(r.gotUp.length).toBe(up);
    expect(sha(r.gotUp)).toBe(sha(r.sentUp));
    expect(r.gotDown.length).toBe(down);
    expect(sha(r.gotDown)).toBe(sha(r.sentDown));
    if (ab?.loss || ba?.loss) expect(r.client.tcpInfo().retransmits + (r.server?.tcpInfo().retransmits ?? 0)).toBeGreaterThan(0);
  }, 120_000);
});

describe('TCP connection lifecycle', () => {
  it('half-close both ways: each side keeps sending after the other FINs', async () => {
    const L = linkPair({ seed: 21 });
    let srv: ReturnType<typeof collect> | null = null;
    let server: TcpSocket | null = null;
    L.b.listenTcp(7, (s) => {
      server = s;
      srv = collect(s);
    }, { allowHalfOpen: true });
    const client = L.a.connectTcp({ remoteAddress: ADDR_B4, remotePort: 7, allowHalfOpen: true });
    const cli = collect(client);
    client.end(Buffer.from('request'));
    await L.run(() => srv !== null && srv.ended);
    expect(srv!.data().toString()).toBe('request');
    expect(server!.tcpInfo().state).toBe('CLOSE_WAIT');
    expect(client.tcpInfo().state).toBe('FIN_WAIT_2');
    // the server still writes after the client's FIN
    const reply = pattern(200_000, 3);
    server!.end(reply);
    await L.run(() => cli.closed && srv!.closed);
    expect(sha(cli.data())).toBe(sha(reply));
    expect(client.tcpInfo().state).toBe('TIME_WAIT');
  });

  it('the passive side closes first: it enters TIME_WAIT, the client LAST_ACK → CLOSED', async () => {
    const L = linkPair({ seed: 22 });
    let server: TcpSocket | null = null;
    L.b.listenTcp(7, (s) => {
      server = s;
      s.resume();
      s.end('bye');
    });
    const client = L.a.connectTcp({ remoteAddress: ADDR_B6, remotePort: 7 });
    const cli = collect(client);
    await L.run(() => cli.closed && server !== null && server.destroyed && L.a.stats().tcpConnections === 0);
    expect(cli.data().toString()).toBe('bye');
    expect(server!.tcpInfo().state).toBe('TIME_WAIT');
    expect(client.tcpInfo().state).toBe('CLOSED');
    expect(L.b.stats().tcpConnections).toBe(1); // the TIME_WAIT entry
    L.clock.advance(60_001);
    expect(L.b.stats().tcpConnections).toBe(0);
  });

  it.each([
    { name: 'refused: no listener → RST → ECONNREFUSED', posix: 'ECONNREFUSED', setup: (_L: LinkPair) => {} },
    { name: 'timed out: SYNs dropped → ETIMEDOUT', posix: 'ETIMEDOUT', setup: (L: LinkPair) => (L.impair.ab.loss = 1) },
  ])('connect $name', async ({ posix, setup }) => {
    const L = linkPair({ seed: 23 });
    setup(L);
    const client = L.a.connectTcp({ remoteAddress: ADDR_B4, remotePort: 9, timeoutMs: 10_000 });
    const cli = collect(client);
    await L.run(() => cli.closed, 60_000);
    expect(cli.error?.posixCode).toBe(posix);
    expect(L.a.stats().tcpConnections).toBe(0);
  });

  it('resetAndDestroy: the peer sees ECONNRESET, both ends forget the connection', async () => {
    const L = linkPair({ seed: 24 });
    let server: TcpSocket | null = null;
    L.b.listenTcp(7, (s) => (server = s));
    const client = L.a.connectTcp({ remoteAddress: ADDR_B4, remotePort: 7 });
    const cli = collect(client);
    client.write('x');
    await L.run(() => server !== null);
    server!.resetAndDestroy();
    await L.run(() => cli.closed);
    expect(cli.error?.posixCode).toBe('ECONNRESET');
    expect(L.a.stats().tcpConnections + L.b.stats().tcpConnections).toBe(0);
  });

  it('a zero window is held while the reader pauses, probed, and reopened when it reads', async () => {
    const L = linkPair({ seed: 25, limits: { receiveBuffer: 64 << 10, sendBuffer: 256 << 10 } });
    let server: TcpSocket | null = null;
    L.b.listenTcp(7, (s) => {
      server = s;
      s.pause();
    });
    let zeroWindows = 0;
    let probes = 0;
    L.tapBA = (p) => {
      const t = tcpOf(p);
      if (t.window === 0 && (t.flags & TCP_RST) === 0 && (t.flags & TCP_SYN) === 0) zeroWindows++;
    };
    L.tapAB = (p) => {
      const t = tcpOf(p);
      if (t.dataLen === 0 && t.flags === TCP_ACK && server !== null && server.readableLength >= 60_000) probes++;
    };
    const client = L.a.connectTcp({ remoteAddress: ADDR_B4, remotePort: 7 });
    const cli = collect(client);
    const data = pattern(1 << 20, 5);
    let writeRefused = false;
    client.on('connect', () => {
      writeRefused = !client.write(data);
      client.end();
    });
    await L.run(() => server !== null && zeroWindows > 0);
    const held = L.clock.now();
    // hold the window shut for 5 s of (fake) time
    await L.run(() => L.clock.now() - held >= 5000);
    expect(writeRefused).toBe(true);
    expect(server!.readableLength).toBeLessThanOrEqual(64 << 10);
    // shut to less than one segment (receiver SWS avoidance, RFC 9293 §3.8.6.2.2)
    expect(server!.tcpInfo().receiveWindow).toBeLessThan(1228);
    expect(client.tcpInfo().sendWindow).toBeLessThan(1228);
    expect(probes).toBeGreaterThan(0);
    const srv = collect(server!);
    server!.resume();
    await L.run(() => srv.ended);
    expect(srv.data().length).toBe(data.length);
    expect(sha(srv.data())).toBe(sha(data));
    expect(cli.error).toBeNull();
  });
});

/** An established connection a→b with some data exchanged and the link idle; `peer()` reads b's numbers. */
async function established(seed: number): Promise<{ L: LinkPair; client: TcpSocket; server: TcpSocket; cli: ReturnType<typeof collect>; srv: ReturnType<typeof collect>; last: () => ReturnType<typeof tcpOf> }> {
  const L = linkPair({ seed });
  let server: TcpSocket | null = null;
  let srv: ReturnType<typeof collect> | null = null;
  L.b.listenTcp(5000, (s) => {
    server = s;
    srv = collect(s);
  });
  let lastBA: Uint8Array | null = null;
  L.tapBA = (p) => (lastBA = p);
  const client = L.a.connectTcp({ remoteAddress: ADDR_B4, remotePort: 5000 });
  const cli = collect(client);
  client.write(pattern(10_000, 1));
  await L.run(() => srv !== null && srv.data().length === 10_000);
  server!.write(pattern(5000, 2));
  await L.run(() => cli.data().length === 5000);
  L.clock.advance(1000); // delayed ACKs out, link idle
  await L.run(() => true);
  return { L, client, server: server!, cli, srv: srv!, last: () => tcpOf(lastBA!) };
}

function fromB(client: TcpSocket, f: { flags: number; seq: number; ack: number; payload?: Uint8Array; window?: number; tcpOptions?: Uint8Array }): Uint8Array {
  return buildPacket({ src: ADDR_B4, dst: ADDR_A4, proto: 'tcp', sport: 5000, dport: client.localPort, tcpFlags: f.flags, seq: f.seq >>> 0, ack: f.ack >>> 0, window: f.window ?? 1000, ...(f.payload ? { payload: f.payload } : {}), ...(f.tcpOptions ? { tcpOptions: f.tcpOptions } : {}) });
}

describe('RFC 5961: blind RST, SYN and data injection', () => {
  // seq/ack are offsets from b's next sequence number (a's RCV.NXT) and a's SND.NXT
  it.each([
    { name: 'RST with the exact sequence number resets', flags: TCP_RST, seq: 0, ack: 0, challenge: false, reset: true },
    { name: 'RST in the window but not exact: challenge ACK, connection lives', flags: TCP_RST, seq: 1000, ack: 0, challenge: true, reset: false },
    { name: 'RST|ACK in the window but not exact: challenge ACK', flags: TCP_RST | TCP_ACK, seq: 1, ack: 0, challenge: true, reset: false },
    { name: 'RST far out of the window: dropped silently', flags: TCP_RST, seq: 0x40000000, ack: 0, challenge: false, reset: false },
    { name: 'SYN in the window: challenge ACK, connection lives', flags: TCP_SYN, seq: 10, ack: 0, challenge: true, reset: false },
    { name: 'SYN|ACK at RCV.NXT: challenge ACK', flags: TCP_SYN | TCP_ACK, seq: 0, ack: 0, challenge: true, reset: false },
    { name: 'data with an ACK beyond SND.MAX: challenge ACK, data discarded', flags: TCP_ACK, seq: 0, ack: 0x10000000, payload: true, challenge: true, reset: false },
    { name: 'data with an ACK far below SND.UNA - MAX.SND.WND: challenge ACK, discarded', flags: TCP_ACK, seq: 0, ack: -0x10000000, payload: true, challenge: true, reset: false },
  ])('$name', async ({ flags, seq, ack, payload, challenge, reset }) => {
    const { L, client, server, cli, srv, last } = await established(31);
    const l = last();
    const before = L.a.stats().tcpChallengeAcks;
    const sentBefore = L.sent.ab;
    L.inject('a', fromB(client, { flags, seq: l.end + seq, ack: l.ack + ack, ...(payload ? { payload: Buffer.from('EVIL') } : {}) }));
    await L.run(() => true);
    expect(L.a.stats().tcpChallengeAcks - before).toBe(challenge ? 1 : 0);
    if (challenge) expect(L.sent.ab).toBeGreaterThan(sentBefore);
    if (reset) {
      await L.run(() => cli.closed);
      expect(cli.error?.posixCode).toBe('ECONNRESET');
      return;
    }
    // the stream is intact: more data both ways, checked end to end
    const more = pattern(50_000, 9);
    client.end(more);
    server.end(pattern(5000, 2).subarray(0, 10));
    await L.run(() => srv.ended && cli.ended);
    expect(cli.error).toBeNull();
    expect(sha(srv.data())).toBe(sha(Buffer.concat([pattern(10_000, 1), more])));
    expect(cli.data().subarray(5000).toString('hex')).toBe(pattern(5000, 2).subarray(0, 10).toString('hex'));
  });
});

describe('retransmission', () => {
  const dataFrom = (port: number) => (p: Uint8Array) => {
    const t = tcpOf(p);
    return t.dport === port && t.dataLen > 0;
  };
  it.each([
    { name: 'the SYN is lost: retransmitted after the initial RTO', drop: (p: Uint8Array) => tcpOf(p).flags === TCP_SYN, nth: 1, dir: 'ab' as const, want: 'timeouts' as const },
    { name: 'the SYN-ACK is lost', drop: (p: Uint8Array) => tcpOf(p).flags === (TCP_SYN | TCP_ACK), nth: 1, dir: 'ba' as const, want: 'none' as const },
    { name: 'an early data segment is lost: fast retransmit on three duplicate ACKs', drop: dataFrom(5000), nth: 3, dir: 'ab' as const, want: 'fast' as const },
    { name: 'the last data segment is lost: the RTO recovers it', drop: dataFrom(5000), nth: 0, dir: 'ab' as const, want: 'timeouts' as const },
  ])('$name', async ({ drop, nth, dir, want }) => {
    const L = linkPair({ seed: 41 });
    let seen = 0;
    let lastDataSeq = -1;
    const size = nth === 0 ? 3000 : 200_000;
    L.impair[dir].dropIf = (p) => {
      if (!drop(p)) return false;
      seen++;
      if (nth === 0) {
        // drop the final data segment once (it carries PSH with the remainder)
        const t = tcpOf(p);
        if (t.dataLen < 1228 && lastDataSeq === -1) {
          lastDataSeq = t.seq;
          return true;
        }
        return false;
      }
      return seen === nth;
    };
    const r = await exchange(L, 4, size, 0);
    expect(sha(r.gotUp)).toBe(sha(r.sentUp));
    const info = r.client.tcpInfo();
    if (want === 'fast') expect(info.fastRetransmits).toBeGreaterThan(0);
    if (want === 'timeouts') expect(info.timeouts).toBeGreaterThan(0);
    expect(L.a.stats().tcpRetransmits + L.b.stats().tcpRetransmits).toBeGreaterThan(0);
  });
});

describe('both ends time out at once', () => {
  it('a two-way transfer whose ACKs are lost both ways recovers without an ACK storm (go-back-N on both sides)', async () => {
    // No delay: everything up to the blackout happens at t = 0, so both ends arm their RTO in the same
    // instant. Data sent before the blackout arrives, the ACKs for it do not; at t = 200 both ends time
    // out together and rewind snd.nxt below what the other already holds. Their ACKs must still pass the
    // other's acceptability test, or each answers the other's "old" ACK with one of its own, forever.
    const L = linkPair({ seed: 42 });
    let on = false;
    let storm = 0; // packets in one simulated millisecond after the timeouts
    const drop = (): boolean => (on && L.clock.now() < 100) || storm > 20_000;
    L.impair.ab.dropIf = drop;
    L.impair.ba.dropIf = drop;
    L.tapAB = () => {
      if (!on && L.sent.ab > 300) on = true;
      if (L.clock.now() >= 200 && L.clock.now() < 201) storm++;
    };
    const r = await exchange(L, 4, 4 << 20, 4 << 20, 120_000);
    expect(on).toBe(true);
    expect(storm).toBeLessThan(20_000);
    expect(sha(r.gotUp)).toBe(sha(r.sentUp));
    expect(sha(r.gotDown)).toBe(sha(r.sentDown));
    expect(r.client.tcpInfo().timeouts).toBeGreaterThan(0);
    expect(r.server!.tcpInfo().timeouts).toBeGreaterThan(0);
  }, 120_000);
});

describe('window scaling and timestamps (RFC 7323)', () => {
  it('more than 1 MiB in flight over a long fat link', async () => {
    const L = linkPair({ seed: 51, ab: { delayMs: 25 }, ba: { delayMs: 25 } });
    const r = await exchange(L, 4, 12 << 20, 0);
    expect(sha(r.gotUp)).toBe(sha(r.sentUp));
    const info = r.client.tcpInfo();
    expect(info.sendWindowShift).toBeGreaterThan(0);
    expect(info.timestamps).toBe(true);
    expect(info.maxBytesInFlight).toBeGreaterThanOrEqual(1 << 20);
    expect(info.srttMs).toBeGreaterThanOrEqual(45);
  }, 120_000);
});

describe('TIME_WAIT', () => {
  it('a retransmitted FIN is acknowledged again and restarts the timer', async () => {
    const L = linkPair({ seed: 61, limits: { timeWaitMs: 10_000 } });
    let server: TcpSocket | null = null;
    let serverFin: ReturnType<typeof tcpOf> | null = null;
    L.tapBA = (p) => {
      const t = tcpOf(p);
      if (t.flags & 1) serverFin = t;
    };
    L.b.listenTcp(5000, (s) => {
      server = s;
      s.resume();
    });
    const client = L.a.connectTcp({ remoteAddress: ADDR_B4, remotePort: 5000 });
    const cli = collect(client);
    client.end('x');
    await L.run(() => cli.closed && server !== null && server.destroyed && L.b.stats().tcpConnections === 0);
    expect(client.tcpInfo().state).toBe('TIME_WAIT');
    L.clock.advance(8000);
    let acked = 0;
    L.tapAB = (p) => {
      const t = tcpOf(p);
      if (t.flags === TCP_ACK && t.ack === ((serverFin!.seq + 1) >>> 0)) acked++;
    };
    const f = serverFin!;
    L.inject('a', fromB(client, { flags: f.flags, seq: f.seq, ack: f.ack }));
    expect(acked).toBe(1);
    L.clock.advance(8000); // 16 s after entering TIME_WAIT, 8 s after the restart
    expect(client.tcpInfo().state).toBe('TIME_WAIT');
    L.clock.advance(2001);
    expect(client.tcpInfo().state).toBe('CLOSED');
    expect(L.a.stats().tcpConnections).toBe(0);
  });
});

describe('ordinary node code on top', () => {
  it('node:http serves a netstack connection (server.emit("connection")) and a client uses createConnection', async () => {
    const L = linkPair({ seed: 71 });
    const http = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => res.end(`hello ${req.method} ${req.url} ${body.length}`));
    });
    L.b.listenTcp(80, (s) => http.emit('connection', s));
    let answer = '';
    let done = false;
    const req = request({ host: ADDR_B6, port: 80, method: 'POST', path: '/x', createConnection: () => L.a.connectTcp({ remoteAddress: ADDR_B6, remotePort: 80 }) as never }, (res) => {
      res.on('data', (d: Buffer) => (answer += d.toString()));
      res.on('end', () => (done = true));
    });
    req.end('a'.repeat(100_000));
    await L.run(() => done);
    expect(answer).toBe('hello POST /x 100000');
    http.close();
  });
});

describe('UDP and ICMP', () => {
  it.each([
    { name: 'IPv4', from: ADDR_A4, to: ADDR_B4 },
    { name: 'IPv6', from: ADDR_A6, to: ADDR_B6 },
  ])('UDP echo and ping over $name', async ({ from, to }) => {
    const L = linkPair({ seed: 81 });
    const server = L.b.bindUdp(53);
    server.on('message', (msg: Buffer, rinfo: { address: string; port: number }) => server.send(Buffer.concat([Buffer.from('re:'), msg]), rinfo.port, rinfo.address));
    const client = L.a.bindUdp(0);
    let got = '';
    let rinfoAddr = '';
    client.on('message', (msg: Buffer, rinfo: { address: string }) => {
      got = msg.toString();
      rinfoAddr = rinfo.address;
    });
    client.send('hi', 53, to);
    await L.run(() => got !== '');
    expect(got).toBe('re:hi');
    expect(rinfoAddr).toBe(to);
    let rtt = -1;
    L.impair.ab.delayMs = 7;
    void L.a.ping(to, 1000).then((ms) => (rtt = ms));
    await L.run(() => rtt >= 0);
    expect(rtt).toBe(7);
    expect(L.b.stats().icmpEchoOut).toBe(1);
    // a datagram to an unbound port is counted, and a too-large one is refused
    client.send('x', 9999, to);
    await L.run(() => L.b.stats().udpDropNoSocket > 0, 1000);
    expect(L.b.stats().udpDropNoSocket).toBe(1);
    let err: Error | null = null;
    client.send(Buffer.alloc(2000), 53, to, (e) => (err = e));
    await L.run(() => err !== null);
    expect((err as unknown as { code: string }).code).toBe('ERR_NETSTACK_MESSAGE_SIZE');
    void from;
  });

  it('ping times out with ETIMEDOUT when nothing answers', async () => {
    const L = linkPair({ seed: 82, ab: { loss: 1 } });
    let code = '';
    void L.a.ping(ADDR_B4, 500).catch((e: { posixCode: string }) => (code = e.posixCode));
    await L.run(() => code !== '');
    expect(code).toBe('ETIMEDOUT');
  });
});

describe('fallbacks for unbound ports', () => {
  it.each([
    { name: 'accepted: the connection reaches onConnection with its addresses', accept: true },
    { name: 'declined: the SYN is answered with RST (ECONNREFUSED)', accept: false },
  ])('TCP $name', async ({ accept }) => {
    const L = linkPair({ seed: 91 });
    const seen: string[] = [];
    let server: TcpSocket | null = null;
    L.b.setTcpFallback(
      (info) => {
        seen.push(`${info.remoteAddress}:${info.remotePort} → ${info.localAddress}:${info.localPort}`);
        return accept;
      },
      (s) => {
        server = s;
        s.end('forwarded');
      },
      { allowHalfOpen: true },
    );
    const client = L.a.connectTcp({ remoteAddress: ADDR_B6, remotePort: 8443 });
    const cli = collect(client);
    client.end();
    await L.run(() => cli.closed);
    expect(seen).toEqual([`${ADDR_A6}:${client.localPort} → ${ADDR_B6}:8443`]);
    if (accept) {
      expect(cli.error).toBeNull();
      expect(cli.data().toString()).toBe('forwarded');
      expect(server!.remoteAddress).toBe(ADDR_A6);
      expect(server!.localPort).toBe(8443);
    } else expect(cli.error?.posixCode).toBe('ECONNREFUSED');
  });

  it('UDP: datagrams to unbound ports go to the fallback with their flow', async () => {
    const L = linkPair({ seed: 92 });
    const got: string[] = [];
    L.b.setUdpFallback((msg, info) => {
      got.push(`${msg.toString()} ${info.remoteAddress}:${info.remotePort} → ${info.localAddress}:${info.localPort}`);
    });
    const s = L.a.bindUdp(4000);
    s.send('dns?', 53, ADDR_B4);
    await L.run(() => got.length > 0);
    expect(got).toEqual([`dns? ${ADDR_A4}:4000 → ${ADDR_B4}:53`]);
    expect(L.b.stats().udpDropNoSocket).toBe(0);
  });
});
