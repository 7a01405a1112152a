// `npm run bench:relay`: the relay's forwarding cost, in one process on loopback. Two RelayClients send
// 1400-byte datagrams to each other through a StandaloneRelay (TCP, framing, key lookup) and, as the
// baseline measured in the same run, two node:dgram sockets send the same datagrams directly. Reports
// delivered throughput and the process CPU per Gbit/s (client + relay + client, so an upper bound on the
// relay's own share). Not measured here: WireGuard/TUN on top, and time to first packet / to the direct
// upgrade (see test/nat/nat-traversal.test.ts for the namespace set-up those need). `--json` for machines.
import dgram from 'node:dgram';
import { generatePrivateKey, NodePublic, publicKeyFromPrivate } from '../../crypto/key.js';
import { RelayClient } from '../../relay/client.js';
import { StandaloneRelay } from '../../relay/standalone.js';

const SIZE = 1400;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const json = process.argv.includes('--json');

interface Result {
  path: string;
  mbitPerSec: number;
  pktPerSec: number;
  cpuMsPerGbit: number;
}

async function measure(path: string, setup: () => Promise<{ send: () => boolean; received: () => number; close: () => Promise<void> }>): Promise<Result> {
  const s = await setup();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
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
  return { path, mbitPerSec: bits / secs / 1e6, pktPerSec: n / secs, cpuMsPerGbit: bits > 0 ? (cpu.user + cpu.system) / 1000 / (bits / 1e9) : Infinity };
}

const relayResult = await measure('relay (loopback TCP)', async () => {
  const ka = generatePrivateKey();
  const kb = generatePrivateKey();
  const allowed = new Set([NodePublic.text(publicKeyFromPrivate(ka)), NodePublic.text(publicKeyFromPrivate(kb))]);
  const srv = new StandaloneRelay({ authorize: (k) => allowed.has(k) }, false);
  const a = await srv.listen('127.0.0.1', 0);
  const url = `http://127.0.0.1:${a.port}`;
  let got = 0;
  const ca = new RelayClient({ url, nodePrivate: ka, nodePublic: publicKeyFromPrivate(ka), relayKey: srv.relay.publicKey, onPacket: () => {} });
  const cb = new RelayClient({ url, nodePrivate: kb, nodePublic: publicKeyFromPrivate(kb), relayKey: srv.relay.publicKey, onPacket: () => void got++ });
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
});

const directResult = await measure('direct (loopback UDP, node:dgram)', async () => {
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
});

const rows = [directResult, relayResult];
if (json) process.stdout.write(JSON.stringify({ size: SIZE, seconds: SECONDS, rows, relayVsDirect: relayResult.mbitPerSec / directResult.mbitPerSec }) + '\n');
else {
  process.stdout.write(`relay vs direct, ${SIZE}-byte datagrams, ${SECONDS}s each, one process on loopback\n`);
  process.stdout.write('path                                 Mbit/s     pkt/s   CPU ms per Gbit\n');
  for (const r of rows) process.stdout.write(`${r.path.padEnd(36)} ${r.mbitPerSec.toFixed(0).padStart(7)} ${r.pktPerSec.toFixed(0).padStart(9)} ${r.cpuMsPerGbit.toFixed(0).padStart(16)}\n`);
  process.stdout.write(`relay / direct throughput: ${(relayResult.mbitPerSec / directResult.mbitPerSec).toFixed(2)}\n`);
}
