// NetstackDevice and HostForwarder without WireGuard: two devices wired back to back (what one outputs,
// the other is written), so the netstack path, the address life cycle, attachments and the host
// forwarding (with its whois map) are checked on their own.
import { createSocket, type RemoteInfo, type Socket as DgramSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../packet/headers.js';
import type { TcpSocket } from '../netstack/index.js';
import { HostForwarder } from './host-forward.js';
import { NetstackDevice } from './netstack-device.js';

/** Two devices back to back; `fromB` (if given) sees a copy of every packet b sends, `fromA` of a's. */
function pair(taps: { fromA?: Uint8Array[]; fromB?: Uint8Array[] } = {}): { a: NetstackDevice; b: NetstackDevice } {
  const a = new NetstackDevice({ mtu: 1280 });
  const b = new NetstackDevice({ mtu: 1280 });
  a.start((batch) => {
    for (let i = 0; i < batch.count; i++) {
      taps.fromA?.push(batch.bufs[i].slice(0, batch.lens[i]));
      b.write(batch.bufs[i], 0, batch.lens[i]);
    }
  });
  b.start((batch) => {
    for (let i = 0; i < batch.count; i++) {
      taps.fromB?.push(batch.bufs[i].slice(0, batch.lens[i]));
      a.write(batch.bufs[i], 0, batch.lens[i]);
    }
  });
  a.addAddress('100.64.0.1/32');
  a.addAddress('fd7a:115c:a1e0::1/128');
  b.addAddress('100.64.0.2/32');
  b.addAddress('fd7a:115c:a1e0::2/128');
  return { a, b };
}

function connected(s: TcpSocket): Promise<TcpSocket> {
  return new Promise((resolve, reject) => {
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

function readLine(s: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    let t = '';
    s.on('data', (d: Buffer) => {
      t += d.toString();
      if (t.includes('\n')) resolve(t);
    });
  });
}

const open: { close(): Promise<void> | void }[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
});

describe('NetstackDevice', () => {
  it('has no netstack until an address arrives; writes before that are dropped and counted', async () => {
    const d = new NetstackDevice({ mtu: 1280 });
    open.push(d);
    expect(d.stack).toBeNull();
    expect(d.write(new Uint8Array(20), 0, 20)).toBe(false);
    expect(d.stats.dropNoStack).toBe(1);
    const ready = d.whenReady();
    d.addAddress('100.64.0.9/32');
    d.addAddress('fd7a:115c:a1e0::9/128');
    const stack = await ready;
    expect(stack).toBe(d.stack);
    expect(d.addresses).toEqual(['100.64.0.9', 'fd7a:115c:a1e0::9']);
  });

  it('TCP both ways through two devices, IPv4 and IPv6; an address change keeps the netstack and the connections on the addresses that stay', async () => {
    const { a, b } = pair();
    open.push(a, b);
    const server = await b.whenReady();
    let opened = 0;
    b.attach((stack) => {
      opened++;
      const l = stack.listenTcp(7, (s) => {
        s.on('error', () => undefined); // reset when its address is removed
        s.pipe(s);
      });
      return () => l.close();
    });
    expect(opened).toBe(1);
    const kept: TcpSocket[] = [];
    for (const remote of ['100.64.0.2', 'fd7a:115c:a1e0::2']) {
      const s = await connected((await a.whenReady()).connectTcp({ remoteAddress: remote, remotePort: 7 }));
      s.write('echo me\n');
      expect(await readLine(s)).toBe('echo me\n');
      kept.push(s);
    }
    const [on4, on6] = kept;
    const reset = new Promise<string>((r) => on4.once('error', (e: Error & { posixCode?: string }) => r(e.posixCode ?? e.message)));
    // A new IPv4 address replaces the old one: same netstack, listener untouched.
    b.removeAddress('100.64.0.2/32');
    b.addAddress('100.64.0.3/32');
    await new Promise((r) => queueMicrotask(() => r(null)));
    expect(b.stack).toBe(server);
    expect(b.stack!.addresses).toEqual(['fd7a:115c:a1e0::2', '100.64.0.3']);
    expect(opened).toBe(1);
    // the IPv6 connection lives on; the one on the removed address was reset
    on6.write('still here\n');
    expect(await readLine(on6)).toBe('still here\n');
    expect(await reset).toBe('ECONNRESET');
    const s = await connected(a.stack!.connectTcp({ remoteAddress: '100.64.0.3', remotePort: 7 }));
    s.write('again\n');
    expect(await readLine(s)).toBe('again\n');
    s.destroy();
    on6.destroy();
    expect(a.stats.fromStack).toBeGreaterThan(0);
    expect(b.stats.toStack).toBeGreaterThan(0);
  });
});

/** A loopback port nothing listens on (TCP and UDP, 127.0.0.1 and ::1) — bound once, then released. */
async function closedPort(): Promise<number> {
  for (;;) {
    const tmp = createServer();
    const port = await new Promise<number>((r) => tmp.listen(0, '127.0.0.1', () => r((tmp.address() as { port: number }).port)));
    await new Promise((r) => tmp.close(r));
    const free = await Promise.all(
      (['udp4', 'udp6'] as const).map(
        (type) =>
          new Promise<boolean>((r) => {
            const u = createSocket(type);
            u.once('error', () => r(false));
            u.bind(port, type === 'udp4' ? '127.0.0.1' : '::1', () => u.close(() => r(true)));
          }),
      ),
    );
    if (free.every(Boolean)) return port;
  }
}

function tcpOf(p: Uint8Array): { proto: number; flags: number; seq: number; ack: number; window: number; sport: number; dport: number } {
  const t = (p[0] & 15) * 4;
  const dv = new DataView(p.buffer, p.byteOffset, p.length);
  return { proto: p[9], sport: dv.getUint16(t), dport: dv.getUint16(t + 2), seq: dv.getUint32(t + 4), ack: dv.getUint32(t + 8), flags: p[t + 13], window: dv.getUint16(t + 14) };
}

async function forwarding(opts: ConstructorParameters<typeof HostForwarder>[1] = {}) {
  const fromA: Uint8Array[] = [];
  const fromB: Uint8Array[] = [];
  const { a, b } = pair({ fromA, fromB });
  open.push(a, b);
  const fwd = new HostForwarder(b, opts);
  fwd.start();
  open.push({ close: () => fwd.stop() });
  const stack = await a.whenReady();
  await b.whenReady();
  return { a, b, fwd, stack, fromA, fromB };
}

function udpServer(type: 'udp4' | 'udp6', onMessage: (m: Buffer, r: RemoteInfo, u: DgramSocket) => void): Promise<{ u: DgramSocket; port: number }> {
  const u = createSocket(type);
  u.on('message', (m, r) => onMessage(m, r, u));
  open.push({ close: () => new Promise<void>((r) => u.close(() => r())) });
  return new Promise((r) => u.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', () => r({ u, port: u.address().port })));
}

describe('HostForwarder', () => {
  it('TCP: forwards to 127.0.0.1:P and names the tailnet peer by the host-side port already when the server accepts', async () => {
    const { fwd, stack } = await forwarding();
    const conns: Socket[] = [];
    const seenAtAccept: unknown[] = [];
    const host: Server = createServer((c) => {
      conns.push(c);
      seenAtAccept.push(fwd.lookup('127.0.0.1', c.remotePort!));
      c.write('from host\n');
    });
    const port = await new Promise<number>((r) => host.listen(0, '127.0.0.1', () => r((host.address() as { port: number }).port)));
    open.push({ close: () => void host.close() });

    const s = await connected(stack.connectTcp({ remoteAddress: '100.64.0.2', remotePort: port }));
    expect(await readLine(s)).toBe('from host\n');
    const c = conns[0];
    const peer = { remoteAddress: '100.64.0.1', remotePort: s.localPort, localPort: port };
    expect(seenAtAccept).toEqual([peer]);
    expect(fwd.lookup('127.0.0.1', c.remotePort!)).toEqual(peer);
    expect(fwd.lookup('100.64.0.1', c.remotePort!)).toBeNull();
    expect(fwd.lookup('127.0.0.1', 1)).toBeNull();
    s.destroy();
    expect(fwd.stats).toMatchObject({ forwarded: 1, refused: 0 });
  });

  it('TCP: a port that only [::1] serves is reached there', async () => {
    const { stack } = await forwarding();
    const host: Server = createServer((c) => c.end(`v6 ${c.localAddress}\n`));
    const port = await new Promise<number>((r) => host.listen(0, '::1', () => r((host.address() as { port: number }).port)));
    open.push({ close: () => void host.close() });
    const s = await connected(stack.connectTcp({ remoteAddress: '100.64.0.2', remotePort: port }));
    expect(await readLine(s)).toBe('v6 ::1\n');
  });

  it.each([
    { family: 4, to: '100.64.0.2' },
    { family: 6, to: 'fd7a:115c:a1e0::2' },
  ])('TCP, IPv$family: nothing listening on the host port → the SYN gets exactly a closed port’s RST|ACK, no SYN-ACK first', async ({ to }) => {
    const { fwd, stack, fromA, fromB } = await forwarding();
    const closed = await closedPort();
    const t = stack.connectTcp({ remoteAddress: to, remotePort: closed });
    const outcome = await new Promise<string>((r) => {
      t.on('error', (e: Error & { posixCode?: string }) => r(e.posixCode ?? e.message));
      t.on('close', () => r('closed'));
    });
    expect(outcome).toBe('ECONNREFUSED');
    const v6 = to.includes(':');
    const tcp = (p: Uint8Array) => (v6 ? { ...tcpOf(new Uint8Array([0x45, ...p.subarray(1, 9), p[6], ...p.subarray(10, 20), ...p.subarray(40)])) } : tcpOf(p));
    const syn = fromA.map(tcp).find((h) => h.flags === TCP_SYN)!;
    const answers = fromB.map(tcp).filter((h) => h.sport === closed);
    expect(answers).toEqual([{ proto: 6, sport: closed, dport: t.localPort, flags: TCP_RST | TCP_ACK, seq: 0, ack: (syn.seq + 1) >>> 0, window: 0 }]);
    expect(fwd.stats).toMatchObject({ forwarded: 0, refused: 1 });
  });

  it('UDP: a datagram to P goes to 127.0.0.1:P from a per-flow socket; replies come back from P; whois by the flow’s host port', async () => {
    const { fwd, stack } = await forwarding();
    const seen: RemoteInfo[] = [];
    const { port } = await udpServer('udp4', (m, r, u) => {
      seen.push(r);
      u.send(`echo ${m.toString()}`, r.port, r.address);
    });
    const client = stack.bindUdp(4000);
    const got: string[] = [];
    client.on('message', (m: Buffer, r: { address: string; port: number }) => got.push(`${m.toString()} from ${r.address}:${r.port}`));
    client.send('one', port, '100.64.0.2');
    await waitFor(() => got.length === 1);
    client.send('two', port, '100.64.0.2');
    await waitFor(() => got.length === 2);
    expect(got).toEqual([`echo one from 100.64.0.2:${port}`, `echo two from 100.64.0.2:${port}`]);
    // one flow, one host socket: both datagrams came from the same host port
    expect(seen[0].port).toBe(seen[1].port);
    expect(fwd.lookup('127.0.0.1', seen[0].port)).toEqual({ remoteAddress: '100.64.0.1', remotePort: 4000, localPort: port });
    // another sender port is another flow
    const other = stack.bindUdp(4001);
    other.on('message', () => got.push('other'));
    other.send('three', port, '100.64.0.2');
    await waitFor(() => got.length === 3);
    expect(seen[2].port).not.toBe(seen[0].port);
    expect(fwd.stats).toMatchObject({ udpFlows: 2, udpFlowsOpened: 2, udpDatagramsIn: 3, udpDatagramsOut: 3 });
  });

  it('UDP: a one-way flow (the host never answers) keeps flowing past the datagrams kept for a retry', async () => {
    const { fwd, stack } = await forwarding();
    const got: string[] = [];
    const { port } = await udpServer('udp4', (m) => got.push(m.toString()));
    const client = stack.bindUdp(4006);
    for (let i = 0; i < 40; i++) {
      client.send(`log ${i}`, port, '100.64.0.2');
      await waitFor(() => got.length === i + 1);
    }
    expect(got[39]).toBe('log 39');
    expect(fwd.stats).toMatchObject({ udpFlows: 1, udpDatagramsIn: 40, udpDropOther: 0 });
  });

  it('UDP: a port only [::1] serves is reached there (after 127.0.0.1 refused), the first datagram included', async () => {
    const { stack } = await forwarding();
    const { port } = await udpServer('udp6', (m, r, u) => u.send(`v6 ${m.toString()}`, r.port, r.address));
    const client = stack.bindUdp(4002);
    const got: string[] = [];
    client.on('message', (m: Buffer) => got.push(m.toString()));
    client.send('first', port, '100.64.0.2');
    await waitFor(() => got.length === 1);
    expect(got).toEqual(['v6 first']);
  });

  it.each([
    { family: 4, from: '100.64.0.1', to: '100.64.0.2', type: 3, code: 3 },
    { family: 6, from: 'fd7a:115c:a1e0::1', to: 'fd7a:115c:a1e0::2', type: 1, code: 4 },
  ])('UDP, IPv$family: nothing on the host port → ICMP port unreachable to the sender, quoting its datagram', async ({ family, to, type, code }) => {
    const { fwd, stack, fromB } = await forwarding();
    const closed = await closedPort();
    const client = stack.bindUdp(4003);
    client.send('anyone?', closed, to);
    await waitFor(() => fwd.stats.udpRefused === 1);
    await waitFor(() => fromB.length > 0);
    const hl = family === 4 ? 20 : 40;
    const icmp = fromB[fromB.length - 1];
    expect([icmp[hl], icmp[hl + 1]]).toEqual([type, code]);
    const u = hl + 8 + hl; // the quoted UDP header
    const dv = new DataView(icmp.buffer, icmp.byteOffset);
    expect([dv.getUint16(u), dv.getUint16(u + 2), dv.getUint16(u + 4)]).toEqual([4003, closed, 8 + 'anyone?'.length]);
    expect(Buffer.from(icmp.subarray(u + 8)).toString()).toBe('anyone?');
    expect(fwd.stats).toMatchObject({ udpFlows: 0, udpRefused: 1 });
  });

  it('UDP: idle flows expire (their host socket closes, whois forgets them); a full table drops and counts', async () => {
    const { fwd, stack } = await forwarding({ idleMs: 300, maxFlows: 1 });
    const ports: number[] = [];
    const { port } = await udpServer('udp4', (m, r, u) => {
      ports.push(r.port);
      u.send(m, r.port, r.address);
    });
    const c1 = stack.bindUdp(4004);
    const c2 = stack.bindUdp(4005);
    let replies = 0;
    c1.on('message', () => replies++);
    c2.on('message', () => replies++);
    c1.send('a', port, '100.64.0.2');
    await waitFor(() => replies === 1);
    c2.send('b', port, '100.64.0.2'); // a second flow: over the limit
    await waitFor(() => fwd.stats.udpDropFull === 1);
    expect(fwd.lookup('127.0.0.1', ports[0])).not.toBeNull();
    await waitFor(() => fwd.stats.udpExpired === 1, 5000);
    expect(fwd.stats.udpFlows).toBe(0);
    expect(fwd.lookup('127.0.0.1', ports[0])).toBeNull();
    // room again: the second sender gets through now
    c2.send('b', port, '100.64.0.2');
    await waitFor(() => replies === 2);
    expect(replies).toBe(2);
  });
});

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
