// Data-path micro-benchmarks, for scripts/bench/dataplane.ts and ad-hoc runs
// (`node --import tsx wireguard/transport-bench.ts`). All rates are per CPU-second (see
// handshake-bench.ts): the figures then do not depend on how busy the shared machine is.
//
//   measureAead(size)       µs per seal / open of one transport message via TransportCrypto, and a
//                           naive baseline (createCipheriv with a raw key, Buffer.concat per packet)
//   measureDevicePath(size) µs per packet through a whole Device: outbound (hook, routing, padding,
//                           seal, bind.send) and inbound (classify, index, open, replay window, roaming,
//                           trim, source check, hook, tun.write), over the in-memory fakes
import { createCipheriv, randomBytes } from 'node:crypto';
import { AEAD_TAG_SIZE, TRANSPORT_HEADER_SIZE } from './constants.js';
import type { DatagramBatch } from '../net/io.js';
import { buildFillerPacket } from '../packet/build.js';
import { makeFakePair } from './fake-pair.js';
import { TransportCrypto, paddedLength, type TransportAead } from './transport.js';
import { NativeTransportCrypto } from './native-aead.js';

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

export interface AeadFigures {
  size: number;
  sealUs: number;
  openUs: number;
  naiveSealUs: number;
}

export function measureAead(size: number, iterations = 20_000, tc: TransportAead = new TransportCrypto()): AeadFigures {
  const raw = randomBytes(32);
  const key = tc.importKey(raw);
  const pkt = randomBytes(size);
  const padded = paddedLength(size, 1420);
  const out = new Uint8Array(TRANSPORT_HEADER_SIZE + padded + AEAD_TAG_SIZE + 64);
  const plain = new Uint8Array(65536);
  const run = (f: (i: number) => void): number => {
    for (let i = 0; i < 2000; i++) f(i);
    const t0 = cpuUs();
    for (let i = 0; i < iterations; i++) f(i);
    return (cpuUs() - t0) / iterations;
  };
  const sealUs = run((i) => tc.seal(key, 1, i, pkt, 0, size, padded, out));
  const msgLen = tc.seal(key, 1, 7, pkt, 0, size, padded, out);
  const openUs = run(() => {
    if (tc.open(key, out, msgLen, plain) < 0) throw new Error('bench: open failed');
  });
  const nonce = Buffer.alloc(12);
  const naiveSealUs = run((i) => {
    nonce.writeUInt32LE(i, 4);
    const c = createCipheriv('chacha20-poly1305', raw, nonce, { authTagLength: 16 });
    Buffer.concat([Buffer.alloc(16), c.update(pkt), c.final(), c.getAuthTag()]);
  });
  return { size, sealUs, openUs, naiveSealUs };
}

export interface DevicePathFigures {
  size: number;
  outboundUs: number;
  inboundUs: number;
}

/** Per-packet CPU cost through two Devices over the fakes (handshake done before timing). */
export async function measureDevicePath(size: number, packets = 20_000, transport: 'node' | 'auto' = 'auto'): Promise<DevicePathFigures> {
  const { net, a, b } = makeFakePair({ common: { transport } });
  try {
    a.tun.inject(buildFillerPacket('10.0.0.1', '10.0.0.2', 8));
    await net.settle();
    if (b.tun.received.length !== 1) throw new Error('bench: handshake over fakes failed');
    b.tun.receivedLimit = 0;
    // Capture A's datagrams into preallocated slots instead of delivering them.
    const BATCH = 64;
    const slots = Array.from({ length: packets }, () => new Uint8Array(size + 64));
    const lens = new Uint32Array(packets);
    let captured = 0;
    net.taps.push((d) => {
      if (captured < packets) {
        slots[captured].set(d.data);
        lens[captured++] = d.data.length;
      }
      return false;
    });
    const pkt = buildFillerPacket('10.0.0.1', '10.0.0.2', size - 20);
    const outBatch = { count: BATCH, bufs: Array.from({ length: BATCH }, () => pkt), lens: new Uint32Array(BATCH).fill(pkt.length) };
    const t0 = cpuUs();
    for (let i = 0; i < packets; i += BATCH) a.tun.inject(...outBatch.bufs);
    const outboundUs = (cpuUs() - t0) / packets;
    const addrs = new Uint8Array(16 * BATCH);
    for (let i = 0; i < BATCH; i++) addrs.set(a.bind.addr16, 16 * i);
    const inBatch: DatagramBatch = { count: 0, bufs: [], lens: new Uint32Array(BATCH), addrs, ports: new Uint16Array(BATCH).fill(a.bind.port) };
    const t1 = cpuUs();
    for (let i = 0; i < captured; i += BATCH) {
      const n = Math.min(BATCH, captured - i);
      inBatch.count = n;
      inBatch.bufs = slots.slice(i, i + n);
      for (let j = 0; j < n; j++) inBatch.lens[j] = lens[i + j];
      b.bind.receiveBatch(inBatch);
    }
    const inboundUs = (cpuUs() - t1) / captured;
    const delivered = b.device.counters().rx_packets;
    if (delivered < captured) throw new Error(`bench: only ${delivered} of ${captured} packets decrypted`);
    return { size, outboundUs, inboundUs };
  } finally {
    await Promise.all([a.device.close(), b.device.close()]);
  }
}

if (process.argv[1]?.endsWith('transport-bench.ts')) {
  const rows: string[] = ['aead         size  seal µs  open µs  naive-seal µs   device out µs  device in µs'];
  const native = NativeTransportCrypto.create();
  const impls: [string, TransportAead, 'node' | 'auto'][] = [['node:crypto', new TransportCrypto(), 'node']];
  if (native) impls.push(['native', native, 'auto']);
  for (const [name, impl, mode] of impls) {
    for (const size of [64, 512, 1420]) {
      const a = measureAead(size, 20_000, impl);
      const d = await measureDevicePath(size, 20_000, mode);
      rows.push(
        `${name.padEnd(11)}  ${String(size).padStart(4)}  ${a.sealUs.toFixed(2).padStart(7)}  ${a.openUs.toFixed(2).padStart(7)}  ${a.naiveSealUs.toFixed(2).padStart(13)}   ${d.outboundUs.toFixed(2).padStart(13)}  ${d.inboundUs.toFixed(2).padStart(12)}`,
      );
    }
  }
  process.stdout.write(`${rows.join('\n')}\n`);
}
