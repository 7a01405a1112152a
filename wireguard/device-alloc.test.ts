// Guard: the steady-state transport path does not retain memory. 100k (native) / 20k packets A → B (and the
// resulting keepalives back) through two Devices, with sink binds that copy into preallocated slots,
// and heap use after a forced GC compared before and after. With the native AEAD the path allocates
// nothing per packet; with node:crypto only short-lived garbage — either way the heap must stay flat.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { Device } from './device.js';
import { FakePacketDevice } from '../net/fake-packet-device.js';
import { buildFillerPacket } from '../packet/build.js';
import type { DatagramBatch, UdpBind } from '../net/io.js';
import { generatePrivateKey, publicKeyFromPrivate } from '../crypto/key.js';
import { toAddr16 } from '../net/endpoint.js';

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

/** Collects sent datagrams into fixed slots; `flushTo` hands them to another bind's handler as one batch. */
class SinkBind implements UdpBind {
  handler: ((b: DatagramBatch) => void) | null = null;
  private readonly batch: DatagramBatch;
  constructor(
    readonly port: number,
    readonly addr16: Uint8Array,
    slots = 256,
  ) {
    this.batch = {
      count: 0,
      bufs: Array.from({ length: slots }, () => new Uint8Array(2048)),
      lens: new Uint32Array(slots),
      addrs: new Uint8Array(16 * slots),
      ports: new Uint16Array(slots),
    };
  }
  start(on: (b: DatagramBatch) => void): void {
    this.handler = on;
  }
  send(buf: Uint8Array, off: number, len: number): void {
    const b = this.batch;
    if (b.count === b.bufs.length) return;
    b.bufs[b.count].set(buf.subarray(off, off + len));
    b.lens[b.count] = len;
    b.addrs.set(this.addr16, 16 * b.count);
    b.ports[b.count] = this.port;
    b.count++;
  }
  flushTo(other: SinkBind): void {
    const b = this.batch;
    if (b.count === 0) return;
    other.handler?.(b);
    b.count = 0;
  }
  async close(): Promise<void> {}
}

const devices: Device[] = [];
afterEach(async () => {
  await Promise.all(devices.splice(0).map((d) => d.close()));
});

describe.each([
  ['auto', 100_000],
  ['node', 20_000],
] as const)('transport path heap (%s AEAD)', (transport, packets) => {
  it(`stays flat over ${packets} packets`, async () => {
    const ka = generatePrivateKey();
    const kb = generatePrivateKey();
    const addrA = toAddr16(Uint8Array.of(192, 0, 2, 1));
    const addrB = toAddr16(Uint8Array.of(192, 0, 2, 2));
    const bindA = new SinkBind(51820, addrA);
    const bindB = new SinkBind(51821, addrB);
    const tunA = new FakePacketDevice('a', 1420);
    const tunB = new FakePacketDevice('b', 1420);
    tunA.receivedLimit = tunB.receivedLimit = 0;
    const a = new Device({ privateKey: ka, tun: tunA, bind: bindA, transport });
    const b = new Device({ privateKey: kb, tun: tunB, bind: bindB, transport });
    devices.push(a, b);
    a.upsertPeer({ publicKey: publicKeyFromPrivate(kb), endpoint: { addr16: addrB, port: 51821 }, allowedIPs: ['10.0.0.2/32'] });
    b.upsertPeer({ publicKey: publicKeyFromPrivate(ka), endpoint: { addr16: addrA, port: 51820 }, allowedIPs: ['10.0.0.1/32'] });
    a.start();
    b.start();
    const pump = async (): Promise<void> => {
      for (let i = 0; i < 6; i++) {
        bindA.flushTo(bindB);
        bindB.flushTo(bindA);
        await new Promise<void>((r) => setImmediate(r)); // handshake queue drains on setImmediate
      }
    };
    const pkt = buildFillerPacket('10.0.0.1', '10.0.0.2', 1000);
    const batch = Array.from({ length: 64 }, () => pkt);
    tunA.inject(pkt);
    await pump();
    expect(tunB.written).toBe(1);
    const round = (): void => {
      tunA.inject(...batch);
      bindA.flushTo(bindB);
      bindB.flushTo(bindA);
    };
    for (let i = 0; i < 200; i++) round(); // warm up
    gc();
    const before = process.memoryUsage().heapUsed;
    const N = Math.round(packets / 64);
    for (let i = 0; i < N; i++) round();
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    expect(tunB.written).toBeGreaterThanOrEqual(1 + 64 * (N + 200) - 64);
    expect(grown).toBeLessThan(2 * 1024 * 1024);
  });
});
