// npm run bench:localapi — whois throughput and latency through the typed undici client, against the
// real LocalApiServer (100 peers, capabilities computed and cached per peer), with a bare node:http
// handler on the same kind of socket returning a constant body as the baseline, measured in the same run.
// Each server runs in its own process (as the daemon does), the client in this one.
//
//   npm run bench:localapi [-- --duration 3 --rounds 3 --peers 100 --concurrency 8 --json out.json]
// (--duration is per case, split over --rounds alternating rounds; each case reports its best round)
//
// Two load shapes per server: one request at a time (latency: p50/p99) and `concurrency` requests in
// flight over 4 keep-alive connections (throughput, and p99 under that load).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { LocalClient } from '../../localapi/client.js';
import { FakeBackend, syntheticNetmap } from '../../localapi/fake-backend.js';
import { LocalApiServer } from '../../localapi/server.js';
import { parseWhoisAddr } from '../../localapi/whois.js';

const { values } = parseArgs({
  options: {
    serve: { type: 'string' },
    socket: { type: 'string' },
    duration: { type: 'string', default: '3' },
    peers: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'string' },
  },
});

// ---- server mode (child process) ----
if (values.serve) {
  const socketPath = values.socket!;
  const peers = Number(values.peers);
  if (values.serve === 'baseline') {
    // The same JSON a whois answers, as a constant: what HTTP on a unix socket costs with no work at all.
    const body = JSON.stringify(new FakeBackend(syntheticNetmap(peers)).whois({ kind: 'ip', ip: '100.64.0.2', port: null }));
    const srv = createServer({ keepAliveTimeout: 60_000 }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    srv.listen(socketPath, () => process.stdout.write('ready\n'));
  } else {
    const backend = new FakeBackend(syntheticNetmap(peers), (src, dst) => ({ 'example.com/cap/tailsql': [{ dataSrc: ['warehouse'], src, dst }] }));
    const srv = new LocalApiServer({ socketPath, backend, peerUid: () => null });
    await srv.listen();
    process.stdout.write('ready\n');
  }
  process.on('SIGTERM', () => process.exit(0));
} else {
  await main();
}

function startServer(kind: 'baseline' | 'localapi', socketPath: string): Promise<ChildProcess> {
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ['--import', 'tsx', self, '--serve', kind, '--socket', socketPath, '--peers', values.peers!], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
}

interface Result {
  reqPerSec: number;
  p50us: number;
  p99us: number;
  count: number;
}

function pct(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** Runs `workers` loops of `call` for `ms`; every request's latency is recorded. */
async function load(call: (i: number) => Promise<unknown>, workers: number, ms: number): Promise<Result> {
  const lat: number[] = [];
  const end = performance.now() + ms;
  let i = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        await call(i++);
        lat.push(performance.now() - s);
      }
    }),
  );
  const elapsed = performance.now() - t0;
  const sorted = Float64Array.from(lat).sort();
  return { reqPerSec: lat.length / (elapsed / 1000), p50us: pct(sorted, 0.5) * 1000, p99us: pct(sorted, 0.99) * 1000, count: lat.length };
}

/** The daemon's own share of a whois: parse the addr, one Map read, the cached answer (no HTTP). */
function inMemoryWhois(peers: number): { nsPerLookup: number; p99ns: number } {
  const backend = new FakeBackend(syntheticNetmap(peers), (src, dst) => ({ 'example.com/cap/tailsql': [{ dataSrc: ['warehouse'], src, dst }] }));
  const addrs = Array.from({ length: peers }, (_, k) => `100.64.${((k + 2) >> 8) & 0xff}.${(k + 2) & 0xff}:${40000 + k}`);
  const BATCH = 1000;
  const perBatch: number[] = [];
  let sink = 0;
  for (let b = 0; b < 300; b++) {
    const t0 = performance.now();
    for (let i = 0; i < BATCH; i++) {
      const who = backend.whois(parseWhoisAddr(addrs[i % peers])!);
      sink += who ? who.Node.ID : 0;
    }
    perBatch.push(((performance.now() - t0) * 1e6) / BATCH);
  }
  if (sink === 0) throw new Error('unreachable');
  const sorted = Float64Array.from(perBatch.slice(50)).sort();
  return { nsPerLookup: pct(sorted, 0.5), p99ns: pct(sorted, 0.99) };
}

async function main(): Promise<void> {
  const ms = Number(values.duration) * 1000;
  const peers = Number(values.peers);
  const conc = Number(values.concurrency);
  const dir = mkdtempSync(join(tmpdir(), 'gw-bench-localapi-'));
  const children: ChildProcess[] = [];
  const rows: { server: string; shape: string; r: Result }[] = [];
  const rounds = Number(values.rounds);
  try {
    // Baseline: raw undici request on the same Agent settings as LocalClient, constant handler.
    const baseSock = join(dir, 'baseline.sock');
    const apiSock = join(dir, 'agentd.sock');
    children.push(await startServer('baseline', baseSock), await startServer('localapi', apiSock));
    const agent = new Agent({ connect: { socketPath: baseSock }, connections: 4, keepAliveTimeout: 30_000 });
    const baseCall = async () => {
      const res = await request('http://local-agentd.sock/localapi/v0/whois?addr=100.64.0.2', { dispatcher: agent });
      await res.body.json();
    };
    const client = new LocalClient({ socketPath: apiSock, connections: 4 });
    const addrs = Array.from({ length: peers }, (_, k) => `100.64.${((k + 2) >> 8) & 0xff}.${(k + 2) & 0xff}:${40000 + k}`);
    const apiCall = (i: number) => client.whois(addrs[i % peers]);
    await load(baseCall, 1, 300); // warm-up
    await load(apiCall, 1, 300);
    // Rounds alternate baseline and LocalAPI so that bursts of load from other work hit both alike; the
    // table keeps each case's best round (the least disturbed one).
    const cases: { server: string; shape: string; call: (i: number) => Promise<unknown>; workers: number }[] = [
      { server: 'baseline (bare node:http, constant)', shape: '1 in flight', call: baseCall, workers: 1 },
      { server: `LocalAPI whois (${peers} peers, undici client)`, shape: '1 in flight', call: apiCall, workers: 1 },
      { server: 'baseline (bare node:http, constant)', shape: `${conc} in flight`, call: baseCall, workers: conc },
      { server: `LocalAPI whois (${peers} peers, undici client)`, shape: `${conc} in flight`, call: apiCall, workers: conc },
    ];
    const best: (Result | null)[] = cases.map(() => null);
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < cases.length; i++) {
        const res = await load(cases[i].call, cases[i].workers, ms / rounds);
        if (!best[i] || res.reqPerSec > best[i]!.reqPerSec) best[i] = res;
      }
    }
    // Table order: baseline 1, baseline N, LocalAPI 1, LocalAPI N.
    for (const i of [0, 2, 1, 3]) rows.push({ server: cases[i].server, shape: cases[i].shape, r: best[i]! });
    await agent.close();
    await client.close();
  } finally {
    for (const c of children) c.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }

  const line = (cells: string[], w: number[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  const W = [44, 12, 10, 10, 10];
  console.log(line(['server', 'load', 'req/s', 'p50 µs', 'p99 µs'], W));
  for (const { server, shape, r } of rows) console.log(line([server, shape, r.reqPerSec.toFixed(0), r.p50us.toFixed(0), r.p99us.toFixed(0)], W));
  const [b1, bN, a1, aN] = rows.map((x) => x.r);
  console.log('');
  console.log(`ratio LocalAPI/baseline req/s: 1 in flight ${(a1.reqPerSec / b1.reqPerSec).toFixed(2)}×, ${conc} in flight ${(aN.reqPerSec / bN.reqPerSec).toFixed(2)}×`);
  const best = Math.max(a1.reqPerSec, aN.reqPerSec);
  console.log(`targets: ≥ 10,000 whois/s → ${best.toFixed(0)} (${best >= 10_000 ? 'met' : 'NOT met'}); p99 < 1 ms (1 in flight) → ${(a1.p99us / 1000).toFixed(3)} ms (${a1.p99us < 1000 ? 'met' : 'NOT met'})`);
  const mem = inMemoryWhois(peers);
  console.log(`in-memory whois (parse + Map + cached answer, no HTTP): ${mem.nsPerLookup.toFixed(0)} ns/lookup (p99 of 1000-lookup batches: ${mem.p99ns.toFixed(0)} ns)`);
  console.log(`load average during the run: ${loadavg().map((x) => x.toFixed(2)).join(' ')} on this 2-core machine shared with other work: figures vary from run to run`);
  if (values.json) {
    writeFileSync(
      values.json,
      JSON.stringify({ peers, concurrency: conc, inMemoryWhoisNs: mem.nsPerLookup, loadavg: loadavg(), results: rows.map(({ server, shape, r }) => ({ server, shape, ...r })), ratio: { serial: a1.reqPerSec / b1.reqPerSec, concurrent: aN.reqPerSec / bN.reqPerSec } }, null, 2) + '\n',
    );
  }
}
