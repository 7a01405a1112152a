// Batched UDP through the native addon (recvmmsg/sendmmsg + GSO) against node:dgram on loopback, both
// families, and SO_PEERCRED. Needs the addon, not root.
import { describe, expect, it } from 'vitest';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadNative, nativeLoadError } from './native-addon.js';
import { NativeUdpBind } from './udp-native.js';
import { DgramUdpBind, addrToBytes16, bytes16ToAddr } from './udp-dgram.js';
import { peerCredentials, peerCredentialsFromFd } from './native-peercred.js';
import type { DatagramBatch, UdpBind } from './io.js';

const skip = loadNative() === null;
if (skip) console.warn(`udp-native.test: skipped (${nativeLoadError()})`);

const LO4 = new Uint8Array(16);
addrToBytes16('127.0.0.1', LO4);
const LO6 = new Uint8Array(16);
addrToBytes16('::1', LO6);

interface Got {
  payload: string;
  addr: string;
  port: number;
}

function collect(bind: UdpBind): { got: Got[]; batches: number[] } {
  const state = { got: [] as Got[], batches: [] as number[] };
  bind.start((b: DatagramBatch) => {
    state.batches.push(b.count);
    for (let i = 0; i < b.count; i++) {
      state.got.push({
        payload: Buffer.from(b.bufs[i].subarray(0, b.lens[i])).toString(),
        addr: bytes16ToAddr(b.addrs.subarray(16 * i, 16 * i + 16)),
        port: b.ports[i],
      });
    }
  });
  return state;
}

async function until(pred: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

describe('address helpers', () => {
  it.each([
    { text: '192.0.2.1', want: '::ffff:192.0.2.1' },
    { text: '::ffff:192.0.2.1', want: '::ffff:192.0.2.1' },
    { text: '::1', want: '0:0:0:0:0:0:0:1' },
    { text: '2001:db8::7', want: '2001:db8:0:0:0:0:0:7' },
    { text: 'fe80::1%eth0', want: 'fe80:0:0:0:0:0:0:1' },
  ])('$text', ({ text, want }) => {
    const b = new Uint8Array(16);
    expect(addrToBytes16(text, b)).toBe(true);
    expect(bytes16ToAddr(b)).toBe(want);
  });
  it.each(['', 'x', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', '256.1.1.1.1'])('rejects %j', (bad) => {
    expect(addrToBytes16(bad, new Uint8Array(16))).toBe(false);
  });
});

describe.skipIf(skip)('NativeUdpBind', () => {
  it.each([{ senderThread: true }, { senderThread: false }])('exchanges datagrams over IPv4 and IPv6, batched, with sources (sender thread: $senderThread)', async ({ senderThread }) => {
    const a = NativeUdpBind.open({ senderThread });
    const b = NativeUdpBind.open();
    try {
      expect(a.port).toBeGreaterThan(0);
      const rx = collect(b);
      const msg = new Uint8Array(1500);
      for (let i = 0; i < 200; i++) {
        const text = `m${i}`;
        const len = Buffer.from(msg.buffer).write(text, 100);
        a.send(msg, 100, len, i % 2 ? LO6 : LO4, b.port);
      }
      await until(() => rx.got.length >= 200);
      expect(rx.got.length).toBe(200);
      expect(new Set(rx.got.map((g) => g.payload)).size).toBe(200);
      expect(rx.got.filter((g) => g.addr === '::ffff:127.0.0.1').every((g) => g.port === a.port)).toBe(true);
      expect(rx.got.filter((g) => g.addr === '0:0:0:0:0:0:0:1').length).toBe(100);
      // 200 datagrams arrive in far fewer than 200 JS calls; 200 queued sends take few syscalls.
      expect(rx.batches.length).toBeLessThan(200);
      const s = a.stats();
      expect(s.txDatagrams).toBe(200);
      expect(s.txSyscalls).toBeLessThan(20);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it.each([
    { name: 'sender thread', senderThread: true },
    { name: 'caller thread', senderThread: false },
  ])('coalesces equal-sized datagrams with GSO and the receiver still sees each one ($name)', async ({ senderThread }) => {
    const a = NativeUdpBind.open({ gso: true, senderThread });
    const b = NativeUdpBind.open();
    try {
      const rx = collect(b);
      const pkt = new Uint8Array(1452);
      for (let i = 0; i < 100; i++) {
        pkt[0] = i;
        a.send(pkt, 0, i === 99 ? 700 : 1452, LO4, b.port);
      }
      await until(() => rx.got.length >= 100);
      expect(rx.got.length).toBe(100);
      const st = a.stats();
      expect(st.txDatagrams).toBe(100);
      // 100 datagrams in a 64-slot queue: two flushes, each a single GSO message for the run.
      if (st.gso) expect(st.txSyscalls).toBeLessThanOrEqual(2);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it.each([
    { name: 'UDP GRO on', gro: true },
    { name: 'UDP GRO off', gro: false },
  ])('receives a GSO run as the datagrams it was made of, in order ($name)', async ({ gro }) => {
    const a = NativeUdpBind.open({ gso: true });
    const b = NativeUdpBind.open({ gro });
    try {
      const rx = collect(b);
      const pkt = new Uint8Array(1452);
      const sizes: number[] = [];
      for (let i = 0; i < 60; i++) {
        pkt.fill(i);
        const len = i === 59 ? 333 : 1452;
        sizes.push(len);
        a.send(pkt, 0, len, LO4, b.port);
      }
      await until(() => rx.got.length >= 60);
      expect(rx.got.map((g) => g.payload.length)).toEqual(sizes);
      expect(rx.got.map((g) => g.payload.charCodeAt(0))).toEqual(sizes.map((_, i) => i));
      expect(rx.got.every((g) => g.addr === '::ffff:127.0.0.1' && g.port === a.port)).toBe(true);
      const st = b.stats();
      expect(st.gro).toBe(gro);
      // Over loopback a GSO send arrives as one message on a GRO socket.
      if (gro && a.stats().gso) expect(st.rxCoalesced).toBeGreaterThan(0);
      else expect(st.rxCoalesced).toBe(0);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('interoperates with DgramUdpBind both ways', async () => {
    const n = NativeUdpBind.open();
    const d = await DgramUdpBind.open();
    try {
      const rxN = collect(n);
      const rxD = collect(d);
      const bytes = new TextEncoder().encode('hello');
      d.send(bytes, 0, 5, LO4, n.port);
      n.send(bytes, 1, 4, LO6, d.port);
      await until(() => rxN.got.length >= 1 && rxD.got.length >= 1);
      expect(rxN.got).toEqual([{ payload: 'hello', addr: '::ffff:127.0.0.1', port: d.port }]);
      expect(rxD.got).toEqual([{ payload: 'ello', addr: '0:0:0:0:0:0:0:1', port: n.port }]);
    } finally {
      await n.close();
      await d.close();
    }
  });

  it('drops oversized datagrams and keeps receiving', async () => {
    const a = NativeUdpBind.open();
    const b = NativeUdpBind.open({ maxDatagram: 256 });
    try {
      const rx = collect(b);
      const big = new Uint8Array(1000).fill(1);
      a.send(big, 0, 1000, LO4, b.port);
      a.send(new TextEncoder().encode('ok'), 0, 2, LO4, b.port);
      await until(() => rx.got.length >= 1);
      await new Promise((r) => setTimeout(r, 50));
      expect(rx.got.map((g) => g.payload)).toEqual(['ok']);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('reports EADDRINUSE for a taken port', async () => {
    const a = NativeUdpBind.open();
    try {
      expect(() => NativeUdpBind.open({ port: a.port })).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    } finally {
      await a.close();
    }
  });
});

describe.skipIf(skip)('peerCredentials (SO_PEERCRED)', () => {
  it('returns our own uid/gid/pid for a unix-socket connection, null for TCP and bad fds', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gw-peercred-'));
    const sock = path.join(dir, 's.sock');
    const seen: Array<ReturnType<typeof peerCredentials>> = [];
    const server = net.createServer((c) => {
      seen.push(peerCredentials(c));
      c.end();
    });
    await new Promise<void>((r) => server.listen(sock, () => r()));
    try {
      await new Promise<void>((resolve) => net.connect(sock).on('close', () => resolve()).resume());
      expect(seen).toEqual([{ uid: process.getuid!(), gid: process.getgid!(), pid: process.pid }]);
      const tcp = net.createServer((c) => {
        seen.push(peerCredentials(c));
        c.end();
      });
      await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', () => r()));
      const port = (tcp.address() as net.AddressInfo).port;
      await new Promise<void>((resolve) => net.connect(port, '127.0.0.1').on('close', () => resolve()).resume());
      tcp.close();
      expect(seen[1]).toBeNull();
      expect(peerCredentialsFromFd(-1)).toBeNull();
      expect(peerCredentialsFromFd(987654)).toBeNull();
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
