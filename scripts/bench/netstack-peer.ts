// One end of a bench:netstack tailnet measurement, run as its own process (one core each, as two hosts
// would be) by scripts/bench/netstack-tailnet.ts, in a lab namespace or on this host:
//   --stack embedded   an embedded Node (node/) that joins the tailnet with --control/--key/--dir
//   --stack kernel     node:net sockets, i.e. through the host's TUN agent (the namespace's daemon)
//   --role serve       accepts on --port; each connection is read to its end, then closed
//   --role send        one stream of --bytes to --target IP:PORT; reports Gbit/s when the server has closed
//   --role setup       --conns connections (32 at a time) to --target, each connect → FIN both ways
// Writes JSON lines on stdout: {"ready":true,"ip":…} once serving/joined, then {"result":{…}}; an
// embedded server also writes {"served":{…}} after each connection (its TCP counters and the node's
// drop and I/O counters), an embedded sender adds the same to its result.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { parseArgs } from 'node:util';
import { Node } from '../../node/index.js';
import type { TcpSocket } from '../../netstack/index.js';
import { parseNodeMetrics } from './netstack-counters.js';
import { sendAll } from './send-all.js';

const { values: a } = parseArgs({
  options: {
    stack: { type: 'string' },
    role: { type: 'string' },
    control: { type: 'string' },
    key: { type: 'string' },
    dir: { type: 'string' },
    hostname: { type: 'string' },
    port: { type: 'string', default: '5001' },
    target: { type: 'string' },
    bytes: { type: 'string', default: String(64 << 20) },
    conns: { type: 'string', default: '500' },
  },
});
const emit = (o: unknown): void => void process.stdout.write(JSON.stringify(o) + '\n');

let node: Node | null = null;

async function join(): Promise<string> {
  if (a.stack !== 'embedded') return '';
  node = new Node({ dir: a.dir!, hostname: a.hostname ?? 'bench', authKey: a.key, controlURL: a.control!, tags: ['tag:bench'], upTimeoutMs: 30_000 });
  await node.up();
  return node.addresses[0];
}

/** The connection's TCP counters (embedded only) and the node's drop and I/O counters, flattened. */
function endStats(s: Duplex): Record<string, number> {
  if (!node) return {};
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries((s as TcpSocket).tcpInfo())) if (typeof v === 'number') out[`tcp.${k}`] = v;
  return { ...out, ...parseNodeMetrics(node.metrics()) };
}

function serveConn(s: Duplex): void {
  s.on('error', () => {});
  s.resume();
  s.on('end', () => s.end());
  s.on('close', () => {
    if (node) emit({ served: endStats(s) });
  });
}

async function dial(target: string): Promise<Duplex> {
  if (node) return node.dial('tcp', target);
  const i = target.lastIndexOf(':');
  const s = net.connect(Number(target.slice(i + 1)), target.slice(0, i));
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  return s;
}

async function send(): Promise<Record<string, number>> {
  const total = Number(a.bytes);
  const s = await dial(a.target!);
  s.on('error', () => {});
  // RTOs before the timed part (SYN retransmissions while the peers learn of each other) are not the stream's
  const connectTimeouts = node ? (s as TcpSocket).tcpInfo().timeouts : 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    s.on('end', resolve); // the server closes after reading everything
    s.resume();
    sendAll(s, total);
  });
  const secs = (performance.now() - t0) / 1000;
  return { gbps: (total * 8) / secs / 1e9, secs, connectTimeouts, ...endStats(s) };
}

async function setup(): Promise<Record<string, number>> {
  const n = Number(a.conns);
  let started = 0;
  let done = 0;
  let failed = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const one = (): void => {
      started++;
      dial(a.target!).then(
        (s) => {
          s.on('error', () => {});
          s.resume();
          s.on('close', finish);
          s.end();
        },
        () => {
          failed++;
          finish();
        },
      );
    };
    const finish = (): void => {
      if (++done === n) resolve();
      else if (started < n) one();
    };
    while (started < Math.min(32, n)) one();
  });
  return { connPerSec: n / ((performance.now() - t0) / 1000), failed };
}

async function main(): Promise<void> {
  const ip = await join();
  if (a.role === 'serve') {
    if (node) node.listen('tcp', Number(a.port)).on('connection', serveConn);
    else await new Promise<void>((r) => net.createServer(serveConn).listen(Number(a.port), '0.0.0.0', r));
    emit({ ready: true, ip });
    process.on('SIGTERM', () => {
      if (node) void node.close().finally(() => process.exit(0));
      else process.exit(0);
    });
    return;
  }
  emit({ ready: true, ip });
  const result = a.role === 'setup' ? await setup() : await send();
  emit({ result });
  await node?.close();
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`netstack-peer: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
