// npm run bench:relay [-- --quick] [--json FILE] [--reps N] [--seconds S] [--no-lab]
// The relay against the direct path in one run: raw datagrams on loopback (relay-datagram.ts, no root),
// then, as root, real agents behind two endpoint-independent NATs (relay-lab.ts): time from up to the first
// packet via the relay and to the direct upgrade (median and spread of N runs), TCP through WireGuard
// over the relay vs direct, and the relay process's CPU per Gbit/s. Every figure that has a baseline
// measured in the same run is also printed as the ratio to it. Usage: relay-report.ts.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { datagramRows } from './relay-datagram.js';
import { labMissing, labRows, skippedLabRows } from './relay-lab.js';
import { formatTable, parseBenchArgs, summarize, USAGE, type RowSpec } from './relay-report.js';

async function main(): Promise<number> {
  const parsed = parseBenchArgs(process.argv.slice(2));
  if (parsed.kind === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (parsed.kind === 'usage-error') {
    process.stderr.write(`bench:relay: ${parsed.message}\n${USAGE}`);
    return 2;
  }
  const args = parsed.args;
  const log = (line: string): void => void process.stderr.write(`bench:relay: ${line}\n`);
  const specs: RowSpec[] = await datagramRows(args.seconds, args.reps);
  if (args.lab) {
    const missing = labMissing();
    if (missing.length > 0) {
      log(`lab rows skipped: needs ${missing.join('; ')}`);
      specs.push(...skippedLabRows(`skipped: needs ${missing.join('; ')}`));
    } else specs.push(...(await labRows(args, log)));
  }
  const rows = summarize(specs);
  const load = loadavg().map((x) => Number(x.toFixed(2)));
  process.stdout.write(`load average at the end: ${load.join(', ')}\n`);
  process.stdout.write(formatTable(rows));
  if (args.json !== null) {
    const body = { rows, quick: args.quick, reps: args.reps, loadavg: load, node: process.version, sha: createHash('sha256').update(JSON.stringify(rows)).digest('hex').slice(0, 8) };
    writeFileSync(args.json, JSON.stringify(body, null, 2) + '\n');
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench:relay: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
