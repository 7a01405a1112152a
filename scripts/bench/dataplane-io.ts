// I/O micro-benchmarks for bench:dataplane, each run as a child process so it owns an event loop (and,
// for TUN, a namespace):
//   udp-recv native|dgram SECONDS PORT   count datagrams received on 127.0.0.1:PORT; prints {pps}
//   udp-blast SECONDS HOST PORT SIZE     native sendmmsg+GSO sender that saturates a receiver
//   udp-send native|native-nogso|dgram SECONDS PORT SIZE   send as fast as possible to a sink; {pps}
//   tun SECONDS                          inside a namespace: TUN write rate and read rate; {writePps, readPps}
//   aead                                 µs per 1420-byte seal/open: node:crypto (TransportCrypto) vs native
//   handshakes MS                        measureHandshakesPerSecond from wireguard/handshake-bench.ts; {perSec}
// Every mode prints one JSON line on stdout.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { NativeUdpBind } from '../../net/udp-native.js';
import { DgramUdpBind, addrToBytes16 } from '../../net/udp-dgram.js';
import { TunDevice } from '../../net/tun-device.js';
import type { UdpBind } from '../../net/io.js';
import { measureHandshakesPerSecond } from '../../wireguard/handshake-bench.js';
import { NativeTransportCrypto } from '../../wireguard/native-aead.js';
import { TransportCrypto, importAeadKey } from '../../wireguard/transport.js';

const SELF = fileURLToPath(import.meta.url);
const [mode, ...rest] = process.argv.slice(2);
const out = (o: unknown): void => {
  process.stdout.write(JSON.stringify(o) + '\n');
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function openBind(kind: string, port: number): Promise<UdpBind> {
  if (kind === 'dgram') return DgramUdpBind.open({ port });
  return NativeUdpBind.open({ port, gso: kind !== 'native-nogso' });
}

/** Counts datagrams over the middle of the window (skipping 0.5 s of warm-up). */
async function udpRecv(kind: string, seconds: number, port: number): Promise<void> {
  const bind = await openBind(kind, port);
  let n = 0;
  bind.start((b) => {
    n += b.count;
  });
  process.stdout.write('ready\n');
  await sleep(500);
  const n0 = n;
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const pps = (n - n0) / ((performance.now() - t0) / 1000);
  await bind.close();
  out({ pps });
}

async function udpBlast(seconds: number, host: string, port: number, size: number): Promise<void> {
  const bind = NativeUdpBind.open({ gso: true, sndbuf: 8 << 20 });
  const addr = new Uint8Array(16);
  addrToBytes16(host, addr);
  const buf = new Uint8Array(size).fill(7);
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 64; i++) bind.send(buf, 0, size, addr, port);
    bind.flushNow();
  }
  await bind.close();
}

async function udpSend(kind: string, seconds: number, port: number, size: number): Promise<void> {
  const bind = await openBind(kind, 0);
  const addr = new Uint8Array(16);
  addrToBytes16('127.0.0.1', addr);
  const buf = new Uint8Array(size).fill(9);
  let n = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  while (performance.now() < end) {
    for (let i = 0; i < 64; i++) bind.send(buf, 0, size, addr, port);
    n += 64;
    await tick(); // lets the microtask flush (native) or libuv (dgram) run, as the data plane does per batch
  }
  const pps = n / ((performance.now() - t0) / 1000);
  await bind.close();
  out({ pps });
}

/** Builds an IPv4/UDP packet of `size` bytes (checksum 0: allowed for IPv4 UDP). */
function ipv4Udp(size: number, src: number[], dst: number[], dport: number): Uint8Array {
  const p = new Uint8Array(size);
  const v = new DataView(p.buffer);
  p[0] = 0x45;
  v.setUint16(2, size);
  p[8] = 64;
  p[9] = 17;
  p.set(src, 12);
  p.set(dst, 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += v.getUint16(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  v.setUint16(10, ~sum & 0xffff);
  v.setUint16(20, 40000);
  v.setUint16(22, dport);
  v.setUint16(24, size - 20);
  return p;
}

async function tunBench(seconds: number): Promise<void> {
  const tun = TunDevice.open({ name: 'gwb-tun0', mtu: 1420 });
  tun.addAddress('198.51.100.1/24');
  tun.up();
  tun.addRoute('203.0.113.0/24');
  // Writes: packets to a bound socket that never reads (the kernel drops them at its buffer).
  const sink = dgram.createSocket('udp4');
  await new Promise<void>((r) => sink.bind(9999, '198.51.100.1', () => r()));
  const pkt = ipv4Udp(1420, [203, 0, 113, 5], [198, 51, 100, 1], 9999);
  let writes = 0;
  let t0 = performance.now();
  let end = t0 + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 256; i++) if (tun.write(pkt, 0, pkt.length)) writes++;
    if ((writes & 4095) === 0) await tick();
  }
  const writePps = writes / ((performance.now() - t0) / 1000);
  sink.close();
  // Reads: a sender process in this namespace pushes UDP toward 203.0.113.0/24, routed into the TUN.
  let reads = 0;
  let batches = 0;
  tun.start((b) => {
    reads += b.count;
    batches++;
  });
  const child = spawn(process.execPath, [...process.execArgv, SELF, 'udp-blast', String(seconds + 1), '203.0.113.5', '9', '1392'], { stdio: 'ignore' });
  await sleep(500);
  const r0 = reads;
  const b0 = batches;
  t0 = performance.now();
  end = t0 + seconds * 1000;
  await sleep(seconds * 1000);
  const readPps = (reads - r0) / ((performance.now() - t0) / 1000);
  const perBatch = (reads - r0) / Math.max(1, batches - b0);
  child.kill('SIGTERM');
  await tun.close();
  out({ writePps, readPps, perBatch });
}

function aeadBench(): Record<string, number> {
  const raw = new Uint8Array(32).fill(5);
  const node = new TransportCrypto();
  const native = NativeTransportCrypto.create();
  const kNode = importAeadKey(raw);
  const kNative = native?.importKey(raw);
  const src = new Uint8Array(1420).fill(1);
  const msg = new Uint8Array(1500);
  const plain = new Uint8Array(1500);
  const time = (fn: (i: number) => void): number => {
    for (let i = 0; i < 2000; i++) fn(i);
    const n = 20_000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn(i);
    return ((performance.now() - t0) * 1000) / n;
  };
  const r: Record<string, number> = {};
  r.nodeSealUs = time((i) => node.seal(kNode, 1, i, src, 0, 1420, 1420, msg));
  const len = node.seal(kNode, 1, 7, src, 0, 1420, 1420, msg);
  r.nodeOpenUs = time(() => node.open(kNode, msg, len, plain));
  if (native && kNative) {
    r.nativeSealUs = time((i) => native.seal(kNative, 1, i, src, 0, 1420, 1420, msg));
    native.seal(kNative, 1, 7, src, 0, 1420, 1420, msg);
    r.nativeOpenUs = time(() => native.open(kNative, msg, len, plain));
  }
  return r;
}

const num = (i: number): number => Number(rest[i]);
switch (mode) {
  case 'udp-recv':
    await udpRecv(rest[0], num(1), num(2));
    break;
  case 'udp-blast':
    await udpBlast(num(0), rest[1], num(2), num(3));
    break;
  case 'udp-send':
    await udpSend(rest[0], num(1), num(2), num(3));
    break;
  case 'tun':
    await tunBench(num(0));
    break;
  case 'aead':
    out(aeadBench());
    break;
  case 'handshakes':
    out({ perSec: measureHandshakesPerSecond(num(0)) });
    break;
  default:
    process.stderr.write(`unknown mode ${mode}\n`);
    process.exit(2);
}
