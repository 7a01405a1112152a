// Real TUN through the native addon, inside a namespace made for the test (the probe runs in a child
// process started with `ip netns exec`, so the test runner's own namespace is never touched).
import { describe, expect, it, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { isRoot, createNetns, deleteNetns } from '../test/netns.js';
import { loadNative, nativeLoadError } from './native-addon.js';
import { splitPrefix } from './tun-device.js';

const NS = 'gwt-tun';
const skip = !isRoot() || loadNative() === null;
if (skip) console.warn(`tun-device.test: skipped (${!isRoot() ? 'needs root' : nativeLoadError()})`);

describe('splitPrefix', () => {
  it.each([
    { in: '100.64.0.1/32', want: { addr: '100.64.0.1', len: 32 } },
    { in: '10.0.0.0/8', want: { addr: '10.0.0.0', len: 8 } },
    { in: 'fd7a:115c:a1e0::1/48', want: { addr: 'fd7a:115c:a1e0::1', len: 48 } },
    { in: '192.0.2.7', want: { addr: '192.0.2.7', len: 32 } },
    { in: '::1', want: { addr: '::1', len: 128 } },
  ])('$in', (row) => expect(splitPrefix(row.in)).toEqual(row.want));
  it.each(['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/x', '10.0.0.0/-1'])('rejects %s', (bad) => {
    expect(() => splitPrefix(bad)).toThrow(/invalid prefix length/);
  });
});

describe.skipIf(skip)('TunDevice (root, namespace)', () => {
  afterAll(() => deleteNetns(NS));

  // Writes go through the native writer thread by default; the direct write() path is checked too. Offloads
  // (virtio-net header, TSO/USO) are on by default; GRANTWIRE_OFFLOAD=0 gives the plain TUN.
  it.each([
    { name: 'writer thread', env: {} },
    { name: 'direct write()', env: { GRANTWIRE_TUN_WRITER: '0' } },
    { name: 'offloads off, writer thread', env: { GRANTWIRE_OFFLOAD: '0' } },
    { name: 'offloads off, direct write()', env: { GRANTWIRE_OFFLOAD: '0', GRANTWIRE_TUN_WRITER: '0' } },
  ])('opens, configures, reads and writes v4/v6 packets, and disappears on close ($name)', ({ env }) => {
    createNetns(NS);
    const out = execFileSync('ip', ['netns', 'exec', NS, process.execPath, '--import', 'tsx', 'test/interop/tun-probe.ts'], {
      encoding: 'utf8',
      timeout: 20_000,
      env: { ...process.env, ...env },
    });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    expect(r.error).toBeUndefined();
    expect(r.name).toBe('gwt0');
    const link = r.link[0];
    expect(link.mtu).toBe(1400);
    expect(link.flags).toContain('UP');
    const addrs = link.addr_info.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`);
    expect(addrs).toEqual(expect.arrayContaining(['198.51.100.1/24', '2001:db8:1::1/64']));
    expect(r.routes).toContain('203.0.113.0/24');
    expect(r.routes).toContain('2001:db8:2::/64');
    // Kernel → TUN: all 20 IPv4 datagrams and the IPv6 one, in few batches (one JS call per batch).
    const v4 = r.read.filter((p: { version: number; dst: string }) => p.version === 4 && p.dst === '203.0.113.5');
    expect(v4.map((p: { payload: string }) => p.payload)).toEqual(Array.from({ length: 20 }, (_, i) => `out4-${i}`));
    expect(r.read).toContainEqual({ version: 6, src: '2001:db8:1:0:0:0:0:1', dst: '2001:db8:2:0:0:0:0:5', sport: 40006, dport: 7777, payload: 'out6' });
    expect(r.batches).toBeLessThan(r.read.length);
    // TUN → kernel: written packets reach local sockets.
    expect(r.wrote4).toBe(true);
    expect(r.wrote6).toBe(true);
    expect(r.delivered).toEqual(['2001:db8:2::5:7777:in6', '203.0.113.5:7777:in4']);
    expect(r.stats.txPackets).toBe(2);
    // Off: exactly none. On: whatever the kernel accepted, always with checksum offload (TSO needs it).
    if ('GRANTWIRE_OFFLOAD' in env) expect(r.stats.offloads).toBe(0);
    else expect(r.stats.offloads === 0 || (r.stats.offloads & 1) === 1).toBe(true);
    expect(r.afterClose).toBe(false);
  });
});
