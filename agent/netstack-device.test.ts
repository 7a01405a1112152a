// NetstackDevice and HostForwarder without WireGuard: two devices wired back to back (what one outputs,
// the other is written), so the netstack path, the address life cycle, attachments and the host
// forwarding (with its whois map) are checked on their own.
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { TcpSocket } from '../netstack/index.js';
import { HostForwarder } from './host-forward.js';
import { NetstackDevice } from './netstack-device.js';

function pair(): { a: NetstackDevice; b: NetstackDevice } {
  const a = new NetstackDevice({ mtu: 1280 });
  const b = new NetstackDevice({ mtu: 1280 });
  a.start((batch) => {
    for (let i = 0; i < batch.count; i++) b.write(batch.bufs[i], 0, batch.lens[i]);
  });
  b.start((batch) => {
    for (let i = 0; i < batch.count; i++) a.write(batch.bufs[i], 0, batch.lens[i]);
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

describe('HostForwarder', () => {
  it('forwards to 127.0.0.1:P, names the tailnet peer by the host-side port, and resets when nothing listens', async () => {
    const { a, b } = pair();
    open.push(a, b);
    const fwd = new HostForwarder(b);
    fwd.start();
    open.push({ close: () => fwd.stop() });
    const conns: Socket[] = [];
    const host: Server = createServer((c) => {
      conns.push(c);
      c.write('from host\n');
    });
    const port = await new Promise<number>((r) => host.listen(0, '127.0.0.1', () => r((host.address() as { port: number }).port)));
    open.push({ close: () => void host.close() });
    const stack = await a.whenReady();
    await b.whenReady();

    const s = await connected(stack.connectTcp({ remoteAddress: '100.64.0.2', remotePort: port }));
    expect(await readLine(s)).toBe('from host\n');
    const c = conns[0];
    expect(fwd.lookup('127.0.0.1', c.remotePort!)).toEqual({ remoteAddress: '100.64.0.1', remotePort: s.localPort, localPort: port });
    expect(fwd.lookup('100.64.0.1', c.remotePort!)).toBeNull();
    expect(fwd.lookup('127.0.0.1', 1)).toBeNull();
    s.destroy();

    const tmp = createServer();
    const closed = await new Promise<number>((r) => tmp.listen(0, '127.0.0.1', () => r((tmp.address() as { port: number }).port)));
    await new Promise((r) => tmp.close(r));
    const t = stack.connectTcp({ remoteAddress: '100.64.0.2', remotePort: closed });
    const outcome = await new Promise<string>((r) => {
      t.on('error', (e: Error & { posixCode?: string }) => r(e.posixCode ?? e.message));
      t.on('close', () => r('closed'));
      t.resume();
    });
    expect(outcome).toMatch(/ECONNRESET|closed/);
    expect(fwd.stats).toMatchObject({ forwarded: 1, refused: 1 });
  });
});
