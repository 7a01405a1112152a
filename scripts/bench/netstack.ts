// npm run bench:netstack [-- --json FILE] [--quick] [--no-tailnet] [--rounds N]
// The userspace netstack, first on its own in memory (no TUN, no WireGuard): two Netstacks joined by a
// queue that copies each packet (as a tunnel would) and delivers it on the next turn of the event loop,
// with the real clock. Measures one TCP stream's throughput (and the same run over node:net on loopback
// as the baseline), connection set-up rate (handshake + FIN both ways), and heap per idle established
// connection endpoint (target ≤ 64 KiB: buffers are allocated lazily). Then the tailnet rows
// (netstack-tailnet.ts): one stream TUN ↔ TUN, embedded → TUN and embedded ↔ embedded, each end its own
// process, with the ratio embedded / TUN (target ≥ 0.5), and the embedded connection set-up rate. The
// streams run in rounds (--rounds, default 5, 3 with --quick): each round measures TUN ↔ TUN and
// embedded → TUN back to back (order alternating), then embedded ↔ embedded, all with the same byte
// count; a ratio is the median of the per-round ratios, with their spread, retransmissions and the drops
// counted at each stage in the note (and every run's counters in --json).
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { Netstack, type TcpSocket } from '../../netstack/index.js';
import { sendAll } from './send-all.js';
import { tailnetRows, type Row, type StreamRun } from './netstack-tailnet.js';

const { values: args } = parseArgs({ options: { json: { type: 'string' }, quick: { type: 'boolean' }, 'no-tailnet': { type: 'boolean' }, rounds: { type: 'string' } } });
const ROUNDS = Number(args.rounds ?? (args.quick ? 3 : 5));
if (!Number.isInteger(ROUNDS) || ROUNDS < 1 || ROUNDS > 50) throw new Error(`--rounds: expected an integer 1..50, got ${args.rounds}`);
const STREAM_BYTES = (args.quick ? 64 : 256) << 20;
const SETUP_CONNS = args.quick ? 500 : 2000;
const IDLE_CONNS = args.quick ? 500 : 2000;
const MTU = 1500;

interface Pair {
  a: Netstack;
  b: Netstack;
}

function pair(): Pair {
  const queue: { to: Netstack; pkt: Uint8Array }[] = [];
  let scheduled = false;
  const drain = (): void => {
    scheduled = false;
    // one batch per event-loop turn, like a TUN reader: what arrives meanwhile waits for the next turn
    const batch = queue.splice(0, queue.length);
    for (let i = 0; i < batch.length; i++) batch[i].to.input(batch[i].pkt, 0, batch[i].pkt.length);
  };
  const link = (to: () => Netstack) => (p: Uint8Array, len: number): void => {
    queue.push({ to: to(), pkt: p.slice(0, len) });
    if (!scheduled) {
      scheduled = true;
      setImmediate(drain);
    }
  };
  const ps: Pair = {} as Pair;
  ps.a = new Netstack({ addresses: ['192.0.2.1'], mtu: MTU, output: link(() => ps.b) });
  ps.b = new Netstack({ addresses: ['192.0.2.2'], mtu: MTU, output: link(() => ps.a) });
  return ps;
}


async function streamNetstack(): Promise<number> {
  const { a, b } = pair();
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    b.listenTcp(5001, (s) => {
      s.on('error', () => {}); // close() below aborts what is left (ECONNABORTED)
      let n = 0;
      s.on('data', (d: Buffer) => (n += d.length));
      s.on('end', () => {
        if (n !== STREAM_BYTES) throw new Error(`received ${n} of ${STREAM_BYTES}`);
        resolve();
      });
    });
    const c = a.connectTcp({ remoteAddress: '192.0.2.2', remotePort: 5001 });
    c.on('error', () => {});
    c.on('connect', () => sendAll(c, STREAM_BYTES));
    c.resume();
  });
  const secs = (performance.now() - t0) / 1000;
  a.close();
  b.close();
  return (STREAM_BYTES * 8) / secs / 1e9;
}

async function streamKernelLoopback(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    srv.on('connection', (s) => {
      let n = 0;
      s.on('data', (d: Buffer) => (n += d.length));
      s.on('end', () => resolve());
      void n;
    });
    const c = net.connect(port, '127.0.0.1', () => sendAll(c, STREAM_BYTES));
    c.resume();
  });
  const secs = (performance.now() - t0) / 1000;
  srv.close();
  return (STREAM_BYTES * 8) / secs / 1e9;
}

async function setupRate(): Promise<number> {
  const { a, b } = pair();
  b.listenTcp(5002, (s) => {
    s.on('error', () => {});
    s.resume();
    s.end();
  });
  const t0 = performance.now();
  let done = 0;
  await new Promise<void>((resolve) => {
    const next = (): void => {
      const c = a.connectTcp({ remoteAddress: '192.0.2.2', remotePort: 5002 });
      c.on('error', () => {});
      c.resume();
      c.on('close', () => {
        if (++done === SETUP_CONNS) resolve();
      });
      c.on('connect', () => c.end());
    };
    // 32 in parallel, like a client pool
    let started = 0;
    const tick = (): void => {
      while (started - done < 32 && started < SETUP_CONNS) {
        started++;
        next();
      }
      if (started < SETUP_CONNS) setImmediate(tick);
    };
    tick();
  });
  const secs = (performance.now() - t0) / 1000;
  a.close();
  b.close();
  return SETUP_CONNS / secs;
}

async function idleMemory(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc (npm run bench:netstack does)');
  const { a, b } = pair();
  const keep: TcpSocket[] = [];
  b.listenTcp(5003, (s) => {
    s.on('error', () => {});
    keep.push(s);
  });
  gc();
  await new Promise((r) => setTimeout(r, 50));
  gc();
  const before = process.memoryUsage().heapUsed;
  await new Promise<void>((resolve) => {
    let up = 0;
    for (let i = 0; i < IDLE_CONNS; i++) {
      const c = a.connectTcp({ remoteAddress: '192.0.2.2', remotePort: 5003 });
      keep.push(c);
      c.on('error', () => {});
      c.on('connect', () => {
        c.write('x'); // one exchange, so both ends have been through the data path
        if (++up === IDLE_CONNS) setTimeout(resolve, 200);
      });
    }
  });
  gc();
  await new Promise((r) => setTimeout(r, 50));
  gc();
  const after = process.memoryUsage().heapUsed;
  const perEndpoint = (after - before) / (2 * IDLE_CONNS);
  a.close();
  b.close();
  return perEndpoint;
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  // The netstack's timers are unref'd (they never hold a process open): while SYNs past the listener's
  // backlog wait for their retransmission (idle-memory row, 2000 at once), nothing else would.
  setInterval(() => {}, 1000);
  const kernel = await streamKernelLoopback();
  const ns = await streamNetstack();
  rows.push({ name: 'one TCP stream, netstack ↔ netstack in memory', value: ns, unit: 'Gbit/s', baseline: kernel });
  rows.push({ name: 'one TCP stream, node:net over kernel loopback (baseline)', value: kernel, unit: 'Gbit/s' });
  rows.push({ name: `connection set-up + close in memory (${SETUP_CONNS}, 32 at a time)`, value: await setupRate(), unit: 'conn/s' });
  rows.push({ name: `heap per idle established endpoint (${IDLE_CONNS} connections)`, value: (await idleMemory()) / 1024, unit: 'KiB' });
  let runs: StreamRun[] = [];
  if (!args['no-tailnet']) {
    const t = await tailnetRows(args.quick === true, ROUNDS);
    rows.push(...t.rows);
    runs = t.runs;
  }
  console.log('| measure | value | unit | ratio to baseline | note |');
  console.log('|---|---:|---|---:|---|');
  for (const r of rows) {
    const v = r.value === null ? '–' : r.value.toFixed(r.unit === 'conn/s' ? 0 : 2);
    const ratio = r.ratio !== undefined ? r.ratio.toFixed(2) : r.baseline && r.value !== null ? (r.value / r.baseline).toFixed(2) : '';
    console.log(`| ${r.name} | ${v} | ${r.unit} | ${ratio} | ${r.note ?? ''} |`);
  }
  if (args.json) writeFileSync(args.json, JSON.stringify({ rows, runs, rounds: ROUNDS, node: process.version, sha: createHash('sha256').update(JSON.stringify(rows)).digest('hex').slice(0, 8) }, null, 2));
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:netstack: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
