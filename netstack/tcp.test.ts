// TCP between two Netstacks over an in-memory link on a fake clock: transfers checked by SHA-256 under
// seeded loss, reordering, duplication and delay; half-close; resets; a zero window held and reopened;
// window scaling; retransmission; RFC 5961's blind-injection checks; TIME_WAIT; node:http on top.
import { createHash } from 'node:crypto';
import { createServer, request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { buildPacket } from '../packet/build.js';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../packet/headers.js';
import { seededRng } from '../types/seeded-rng.js';
import type { TcpSocket } from './api.js';
import { ADDR_A4, ADDR_A6, ADDR_B4, ADDR_B6, linkPair, type LinkImpairment, type LinkPair } from './test-helpers.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function pattern(n: number, seed: number): Buffer {
  const r = seededRng(seed);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}

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
function tcpOf(p: Uint8Array): { seq: number; ack: number; flags: number; window: number; sport: number; dport: number; dataLen: number } {
  const t = p[0] >> 4 === 4 ? (p[0] & 15) * 4 : 40;
  const dv = new DataView(p.buffer, p.byteOffset, p.length);
  return { sport: dv.getUint16(t), dport: dv.getUint16(t + 2), seq: dv.getUint32(t + 4), ack: dv.getUint32(t + 8), flags: p[t + 13], window: dv.getUint16(t + 14), dataLen: p.length - t - (p[t + 12] >> 4) * 4 };
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
