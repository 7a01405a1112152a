// `npm run bench:cli`: CLI start-up, wall time of whole processes, against `node -e 0` measured in the same
// run (issue 17 target: `agent --help` and `agent status` with no daemon at most 2x the baseline).
//
//   node -e 0                  the baseline: node's own start-up
//   agent --help               bin/agent → dist/: the launcher, the dispatcher, no command module
//   agent status (no daemon)   + the status command and the LocalAPI client (node:http, no undici); exits 1
//                              with "cannot reach the agent"
//   agent status (daemon)      the same against a LocalAPI server with a fake backend in this process
//   agent whois (daemon)       whois through node:http (the CLI never loads undici)
//   control --help             bin/control → dist/
//   control nodes list         + SQLite (better-sqlite3) on an empty state file
//   tsx agent --help           for reference: the previous launcher (TypeScript through tsx at run time)
//
// Each case runs `--runs` times (15), cases interleaved round by round so load drift hits all alike; the
// table shows median and minimum, and the median's ratio to the baseline's median.
// Needs a build (`npm run build`). Flags: --runs N --json FILE
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FakeBackend, syntheticNetmap } from '../../localapi/fake-backend.js';
import { LocalApiServer } from '../../localapi/server.js';

const { values } = parseArgs({ options: { runs: { type: 'string' }, json: { type: 'string' } } });
const RUNS = Number(values.runs ?? 15);
const ROOT = join(import.meta.dirname, '..', '..');
const AGENT = join(ROOT, 'bin', 'agent');
const CONTROL = join(ROOT, 'bin', 'control');

if (!existsSync(join(ROOT, 'dist', 'agent', 'cli', 'main.js'))) {
  process.stderr.write('bench:cli: dist/ is missing: run `npm run build` first\n');
  process.exit(1);
}

interface Case {
  name: string;
  file: string;
  args: string[];
  env?: Record<string, string>;
  /** Expected exit code and a fragment of stdout+stderr: a case that does not do its job is not timed. */
  want: { code: number; output: RegExp };
}

const dir = mkdtempSync(join(tmpdir(), 'gw-bench-cli-'));
const absentSocket = join(dir, 'absent.sock');
const liveSocket = join(dir, 'agentd.sock');
const stateFile = join(dir, 'control.db');
const server = new LocalApiServer({ socketPath: liveSocket, backend: new FakeBackend(syntheticNetmap(20)), peerUid: () => null });
await server.listen();

const CASES: Case[] = [
  { name: 'node -e 0', file: process.execPath, args: ['-e', '0'], want: { code: 0, output: /^$/ } },
  { name: 'agent --help', file: AGENT, args: ['--help'], want: { code: 0, output: /usage: agent/ } },
  { name: 'agent status (no daemon)', file: AGENT, args: ['status'], env: { GRANTWIRE_SOCKET: absentSocket }, want: { code: 1, output: /cannot reach the agent/ } },
  { name: 'agent status (daemon)', file: AGENT, args: ['status'], env: { GRANTWIRE_SOCKET: liveSocket }, want: { code: 0, output: /100\.64\./ } },
  { name: 'agent whois (daemon)', file: AGENT, args: ['whois', '100.64.0.3'], env: { GRANTWIRE_SOCKET: liveSocket }, want: { code: 0, output: /Machine/ } },
  { name: 'control --help', file: CONTROL, args: ['--help'], want: { code: 0, output: /usage: control/ } },
  { name: 'control nodes list (empty)', file: CONTROL, args: ['nodes', 'list', '--state', stateFile], want: { code: 0, output: /ID\s+NAME/ } },
  {
    name: 'tsx agent --help (before)',
    file: process.execPath,
    args: ['--import', `file://${join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')}`, join(ROOT, 'agent', 'cli', 'main.ts'), '--help'],
    want: { code: 0, output: /usage: agent/ },
  },
];

/** One run: wall milliseconds from spawn to exit, checked against the case's expectation. */
function runOnce(c: Case): Promise<number> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...c.env };
  delete env.GRANTWIRE_FROM_SOURCE; // time the compiled CLIs, as installed
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    execFile(c.file, c.args, { env, timeout: 30_000 }, (err, stdout, stderr) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      const out = stdout + stderr;
      if (code !== c.want.code || !c.want.output.test(out)) {
        reject(new Error(`${c.name}: exit ${code}, want ${c.want.code} and output matching ${c.want.output}; got:\n${out}`));
      } else resolve(ms);
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const times = CASES.map(() => [] as number[]);
try {
  for (const c of CASES) await runOnce(c); // warm-up: page cache, the state file's schema
  for (let r = 0; r < RUNS; r++) {
    for (let i = 0; i < CASES.length; i++) times[i].push(await runOnce(CASES[i]));
  }
} finally {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}

const base = median(times[0]);
const rows = CASES.map((c, i) => ({ name: c.name, medianMs: median(times[i]), minMs: Math.min(...times[i]), ratio: median(times[i]) / base }));
process.stdout.write(`CLI start-up (node ${process.version}, ${RUNS} runs per case, load average ${loadavg()[0].toFixed(1)})\n`);
process.stdout.write(`${'case'.padEnd(30)} ${'median ms'.padStart(10)} ${'min ms'.padStart(8)} ${'x node -e 0'.padStart(12)}\n`);
for (const r of rows) {
  process.stdout.write(`${r.name.padEnd(30)} ${r.medianMs.toFixed(1).padStart(10)} ${r.minMs.toFixed(1).padStart(8)} ${r.ratio.toFixed(2).padStart(12)}\n`);
}
if (values.json) writeFileSync(values.json, JSON.stringify({ node: process.version, runs: RUNS, loadavg: loadavg(), rows }, null, 2) + '\n');
