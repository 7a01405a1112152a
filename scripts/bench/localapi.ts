// npm run bench:localapi — whois throughput and latency through the typed undici client, against the
// real LocalApiServer (100 peers, capabilities computed and cached per peer), with a bare node:http
// handler on the same kind of socket returning a constant body as the baseline, measured in the same run.
// Each server runs in its own process (as the daemon does), the client in this one.
//
//   npm run bench:localapi [-- --duration 3 --rounds 3 --peers 100 --concurrency 1,2,4,8 --connections 4
//                              --pipelining 1 --json out.json]
// (--duration is per case, split over --rounds alternating rounds; each case reports its best round)
//
// For each load level (requests kept in flight over `connections` keep-alive connections) three cases:
// LocalClient against the baseline server, LocalClient against the LocalAPI server (ratio = what the
// server adds), and the previous client shape (undici request() + body text) against the LocalAPI server.
// The summary names the best level that keeps p99 under 1 ms, since the target is both at once.
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
    concurrency: { type: 'string', default: '1,2,4,8' },
    connections: { type: 'string', default: '4' },
    pipelining: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'string' },
    'server-prof-dir': { type: 'string' },
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
  // --server-prof-dir DIR: each server writes a V8 CPU profile there when it exits (run the client side
  // with `node --cpu-prof --import tsx scripts/bench/localapi.ts` to profile it too).
  const prof = values['server-prof-dir'] ? ['--cpu-prof', '--cpu-prof-dir', values['server-prof-dir']] : [];
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', self, '--serve', kind, '--socket', socketPath, '--peers', values.peers!], { stdio: ['ignore', 'pipe', 'inherit'] });
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

interface Case {
  server: string;
  client: string;
  inFlight: number;
  call: (i: number) => Promise<unknown>;
}

async function main(): Promise<void> {
  const ms = Number(values.duration) * 1000;
  const peers = Number(values.peers);
  const levels = values.concurrency!.split(',').map(Number);
  const conns = Number(values.connections);
  const pipelining = Number(values.pipelining);
  const dir = mkdtempSync(join(tmpdir(), 'gw-bench-localapi-'));
  const children: ChildProcess[] = [];
  const rows: { c: Case; r: Result }[] = [];
  const rounds = Number(values.rounds);
  try {
    const baseSock = join(dir, 'baseline.sock');
    const apiSock = join(dir, 'agentd.sock');
    children.push(await startServer('baseline', baseSock), await startServer('localapi', apiSock));
    // The same LocalClient on both servers: the baseline server answers every path with the constant
    // whois JSON, so the ratio isolates what the LocalAPI server adds over bare node:http.
    const baseClient = new LocalClient({ socketPath: baseSock, connections: conns, whoisPipelining: pipelining });
    const client = new LocalClient({ socketPath: apiSock, connections: conns, whoisPipelining: pipelining });
    // The client as it was before its whois fast path (undici request() + Readable body + JSON.parse on
    // an Agent), on the real server: kept so every run shows what the fast path buys.
    const oldAgent = new Agent({ connect: { socketPath: apiSock }, connections: conns, keepAliveTimeout: 30_000 });
    const addrs = Array.from({ length: peers }, (_, k) => `100.64.${((k + 2) >> 8) & 0xff}.${(k + 2) & 0xff}:${40000 + k}`);
    const baseCall = (i: number) => baseClient.whois(addrs[i % peers]);
    const apiCall = (i: number) => client.whois(addrs[i % peers]);
    const oldCall = async (i: number) => {
      const res = await request(`http://local-agentd.sock/localapi/v0/whois?addr=${encodeURIComponent(addrs[i % peers])}`, { dispatcher: oldAgent });
      return JSON.parse(await res.body.text()) as unknown;
    };
    for (const f of [baseCall, apiCall, oldCall]) await load(f, 4, 300); // warm-up (JIT, connections)
    // Rounds alternate all cases so that bursts of load from other work hit them alike; the table keeps
    // each case's best round (the least disturbed one).
    const cases: Case[] = [];
    for (const n of levels) {
      cases.push({ server: 'baseline (bare node:http, constant)', client: 'LocalClient', inFlight: n, call: baseCall });
      cases.push({ server: `LocalAPI whois (${peers} peers)`, client: 'LocalClient', inFlight: n, call: apiCall });
      cases.push({ server: `LocalAPI whois (${peers} peers)`, client: 'request() (old)', inFlight: n, call: oldCall });
    }
    const best: (Result | null)[] = cases.map(() => null);
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < cases.length; i++) {
        const res = await load(cases[i].call, cases[i].inFlight, ms / rounds);
        if (!best[i] || res.reqPerSec > best[i]!.reqPerSec) best[i] = res;
      }
    }
    for (let i = 0; i < cases.length; i++) rows.push({ c: cases[i], r: best[i]! });
    await Promise.all([baseClient.close(), client.close(), oldAgent.close()]);
  } finally {
    for (const c of children) c.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }

  const line = (cells: string[], w: number[]) => cells.map((c, i) => (i < 2 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  const W = [36, 16, 9, 8, 8, 8, 10];
  console.log(`${conns} connections, whois pipelining ${pipelining}, best of ${rounds} alternating rounds of ${(ms / rounds / 1000).toFixed(1)} s per case`);
  console.log(line(['server', 'client', 'in flight', 'req/s', 'p50 µs', 'p99 µs', 'vs base'], W));
  const ratios: { inFlight: number; ratio: number }[] = [];
  for (const { c, r } of rows) {
    const base = rows.find((x) => x.c.inFlight === c.inFlight && x.c.server.startsWith('baseline'))!.r;
    const ratio = r.reqPerSec / base.reqPerSec;
    if (c.client === 'LocalClient' && !c.server.startsWith('baseline')) ratios.push({ inFlight: c.inFlight, ratio });
    console.log(line([c.server, c.client, String(c.inFlight), r.reqPerSec.toFixed(0), r.p50us.toFixed(0), r.p99us.toFixed(0), `${ratio.toFixed(2)}×`], W));
  }
  console.log('');
  const api = rows.filter((x) => x.c.client === 'LocalClient' && !x.c.server.startsWith('baseline'));
  const ok = api.filter((x) => x.r.p99us < 1000).sort((x, y) => y.r.reqPerSec - x.r.reqPerSec)[0];
  if (ok) {
    const met = ok.r.reqPerSec >= 10_000;
    console.log(`targets (≥ 10,000 whois/s with p99 < 1 ms, LocalClient): best point with p99 < 1 ms is ${ok.c.inFlight} in flight → ${ok.r.reqPerSec.toFixed(0)} req/s, p99 ${(ok.r.p99us / 1000).toFixed(3)} ms (${met ? 'met' : 'NOT met'})`);
  } else console.log('targets (≥ 10,000 whois/s with p99 < 1 ms, LocalClient): NOT met (no load level kept p99 under 1 ms)');
  const mem = inMemoryWhois(peers);
  console.log(`in-memory whois (parse + Map + cached answer, no HTTP): ${mem.nsPerLookup.toFixed(0)} ns/lookup (p99 of 1000-lookup batches: ${mem.p99ns.toFixed(0)} ns)`);
  console.log(`load average during the run: ${loadavg().map((x) => x.toFixed(2)).join(' ')} on this 2-core machine shared with other work: figures vary from run to run`);
  if (values.json) {
    writeFileSync(
      values.json,
      JSON.stringify(
        { peers, connections: conns, pipelining, inMemoryWhoisNs: mem.nsPerLookup, loadavg: loadavg(), results: rows.map(({ c, r }) => ({ server: c.server, client: c.client, inFlight: c.inFlight, ...r })), ratioVsBaseline: ratios },
        null,
        2,
      ) + '\n',
    );
  }
}
