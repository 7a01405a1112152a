// bench:relay's baseline rows: the relay's forwarding cost in one process on loopback, no WireGuard. Two
// RelayClients send 1400-byte datagrams to each other through a StandaloneRelay (TCP, framing, key
// lookup) and, measured in the same run, two node:dgram sockets send the same datagrams directly.
// Reports delivered throughput and the process CPU per Gbit/s (client + relay + client, so an upper
// bound on the relay's own share). Needs no root.
import dgram from 'node:dgram';
import { generatePrivateKey, NodePublic, publicKeyFromPrivate } from '../../crypto/key.js';
import { RelayClient } from '../../relay/client.js';
import { StandaloneRelay } from '../../relay/standalone.js';
import type { RowSpec } from './relay-report.js';

const SIZE = 1400;
const SECTION = 'raw datagrams (loopback, one process)';

interface Path {
  send: () => boolean;
  received: () => number;
  close: () => Promise<void>;
}

interface Measured {
  mbitPerSec: number;
  cpuMsPerGbit: number;
}

async function measure(seconds: number, setup: () => Promise<Path>): Promise<Measured> {
  const s = await setup();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 64; i++) s.send();
    await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, 200));
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const n = s.received();
  await s.close();
  const bits = n * SIZE * 8;
  return { mbitPerSec: bits / secs / 1e6, cpuMsPerGbit: bits > 0 ? (cpu.user + cpu.system) / 1000 / (bits / 1e9) : Infinity };
}

async function viaRelay(): Promise<Path> {
  const ka = generatePrivateKey();
  const kb = generatePrivateKey();
  const allowed = new Set([NodePublic.text(publicKeyFromPrivate(ka)), NodePublic.text(publicKeyFromPrivate(kb))]);
  const srv = new StandaloneRelay({ authorize: (k) => allowed.has(k) }, false);
  const a = await srv.listen('127.0.0.1', 0);
  const url = `http://127.0.0.1:${a.port}`;
  let got = 0;
  const ca = new RelayClient({ url, relayKey: srv.relay.publicKey, nodePrivate: ka, nodePublic: publicKeyFromPrivate(ka), onPacket: () => {} });
  const cb = new RelayClient({ url, relayKey: srv.relay.publicKey, nodePrivate: kb, nodePublic: publicKeyFromPrivate(kb), onPacket: () => void got++ });
  ca.start();
  cb.start();
  while (!ca.connected || !cb.connected) await new Promise((r) => setTimeout(r, 10));
  const dst = publicKeyFromPrivate(kb);
  const buf = Buffer.alloc(SIZE, 0xab);
  return {
    send: () => ca.send(dst, buf, 0, SIZE),
    received: () => got,
    close: async () => {
      ca.close();
      cb.close();
      await srv.close();
    },
  };
}

async function viaDgram(): Promise<Path> {
  const rx = dgram.createSocket('udp4');
  const tx = dgram.createSocket('udp4');
  let got = 0;
  rx.on('message', () => void got++);
  await new Promise<void>((r) => rx.bind(0, '127.0.0.1', () => r()));
  const port = rx.address().port;
  const buf = Buffer.alloc(SIZE, 0xab);
  return {
    send: () => (tx.send(buf, port, '127.0.0.1'), true),
    received: () => got,
    close: async () => {
      rx.close();
      tx.close();
    },
  };
}

/** Direct, then the relay, `seconds` each, `reps` times (alternating, so load changes hit both alike). */
export async function datagramRows(seconds: number, reps: number): Promise<RowSpec[]> {
  const direct: Measured[] = [];
  const relay: Measured[] = [];
  for (let i = 0; i < reps; i++) {
    direct.push(await measure(seconds, viaDgram));
    relay.push(await measure(seconds, viaRelay));
  }
  const section = SECTION;
  return [
    { section, name: 'direct UDP throughput', unit: 'Mbit/s', samples: direct.map((m) => m.mbitPerSec), note: `${SIZE}-byte datagrams, ${seconds} s per sample` },
    { section, name: 'relay throughput', unit: 'Mbit/s', samples: relay.map((m) => m.mbitPerSec), baseline: 'direct UDP throughput' },
    { section, name: 'direct UDP process CPU', unit: 'cores per Gbit/s', samples: direct.map((m) => m.cpuMsPerGbit / 1000) },
    { section, name: 'relay process CPU', unit: 'cores per Gbit/s', samples: relay.map((m) => m.cpuMsPerGbit / 1000), baseline: 'direct UDP process CPU', note: 'both clients + relay in one process' },
  ];
}
