// bench:relay's command line and report, apart from the measurements so that they can be tested without
// root: flag parsing (a bad flag is a usage error, exit 2), the summary of repeated samples (median and
// spread), and the table / JSON output, where every figure with a baseline measured in the same run also
// carries the ratio to it.
import { parseArgs } from 'node:util';

export const USAGE = `usage: npm run bench:relay -- [--quick] [--json FILE] [--reps N] [--seconds S] [--no-lab]

Throughput and cost of the relay against the direct path, measured in one run:
  raw datagrams    1400-byte datagrams through a relay vs node:dgram, one process on loopback
  lab (root)       two agent daemons behind two endpoint-independent NAT routers (nftables, namespaces
                   gwq-*), control and a standalone relay on a public TEST-NET bridge: time from up to the
                   first ICMP echo reply through the tailnet (via the relay) and to the direct upgrade, N
                   times; TCP through WireGuard forced over the relay (direct UDP blocked) vs direct; the
                   relay process's CPU per Gbit/s

  --quick        fewer repetitions and bytes (2 timing runs, 16 MiB per transfer)
  --json FILE    also write the rows as JSON to FILE
  --reps N       repetitions of the timing runs and of the datagram rows (default 5, quick 2)
  --seconds S    seconds per raw datagram row (default 3, quick 1)
  --no-lab       only the raw datagram rows (no namespaces; what runs without root anyway)
  -h, --help     this text

GRANTWIRE_KEEP_BENCH=1 keeps the lab's logs (control, relay, each daemon) and prints where.
`;

export interface BenchArgs {
  quick: boolean;
  json: string | null;
  reps: number;
  seconds: number;
  lab: boolean;
  /** Bytes per TCP transfer through the tailnet. */
  bytes: number;
  /** Relay/direct transfer pairs. */
  rounds: number;
}

export type ParsedArgs = { kind: 'run'; args: BenchArgs } | { kind: 'help' } | { kind: 'usage-error'; message: string };

/** Parses argv (without node and the script); never throws. */
export function parseBenchArgs(argv: string[]): ParsedArgs {
  let values: { quick?: boolean; json?: string; reps?: string; seconds?: string; 'no-lab'?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        quick: { type: 'boolean' },
        json: { type: 'string' },
        reps: { type: 'string' },
        seconds: { type: 'string' },
        'no-lab': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    return { kind: 'usage-error', message: (err as Error).message };
  }
  if (values.help) return { kind: 'help' };
  const quick = values.quick === true;
  const reps = values.reps === undefined ? (quick ? 2 : 5) : Number(values.reps);
  if (!Number.isInteger(reps) || reps < 1 || reps > 100) return { kind: 'usage-error', message: `--reps: expected an integer 1..100, got ${JSON.stringify(values.reps)}` };
  const seconds = values.seconds === undefined ? (quick ? 1 : 3) : Number(values.seconds);
  if (!(seconds > 0 && seconds <= 600)) return { kind: 'usage-error', message: `--seconds: expected a number of seconds in (0, 600], got ${JSON.stringify(values.seconds)}` };
  if (values.json === '') return { kind: 'usage-error', message: '--json: expected a file name' };
  return { kind: 'run', args: { quick, json: values.json ?? null, reps, seconds, lab: values['no-lab'] !== true, bytes: (quick ? 16 : 64) << 20, rounds: quick ? 1 : 2 } };
}

/** One reported figure: the median of its samples, with the spread, and optionally its baseline's median. */
export interface Row {
  section: string;
  name: string;
  unit: string;
  /** null: not measured (note says why). */
  median: number | null;
  min: number | null;
  max: number | null;
  n: number;
  /** The name of the row this one is compared with (same section), and the ratio median / its median. */
  baseline?: string;
  ratio?: number | null;
  note?: string;
}

export interface RowSpec {
  section: string;
  name: string;
  unit: string;
  samples: readonly number[];
  baseline?: string;
  note?: string;
}

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Summarizes samples into rows and fills each ratio from the baseline row of the same section. */
export function summarize(specs: readonly RowSpec[]): Row[] {
  const rows: Row[] = specs.map((s) => {
    const finite = s.samples.filter((x) => Number.isFinite(x));
    return {
      section: s.section,
      name: s.name,
      unit: s.unit,
      median: median(finite),
      min: finite.length > 0 ? Math.min(...finite) : null,
      max: finite.length > 0 ? Math.max(...finite) : null,
      n: finite.length,
      ...(s.baseline !== undefined ? { baseline: s.baseline } : {}),
      ...(s.note !== undefined ? { note: s.note } : {}),
    };
  });
  for (const r of rows) {
    if (r.baseline === undefined) continue;
    const b = rows.find((x) => x.section === r.section && x.name === r.baseline);
    if (!b) throw new Error(`row ${JSON.stringify(r.name)}: baseline ${JSON.stringify(r.baseline)} is not a row of section ${JSON.stringify(r.section)}`);
    r.ratio = r.median !== null && b.median !== null && b.median !== 0 ? r.median / b.median : null;
  }
  return rows;
}

function fmt(v: number | null): string {
  if (v === null) return '–';
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
}

/** A Markdown table: median, spread (min–max over n samples), ratio to the baseline row. */
export function formatTable(rows: readonly Row[]): string {
  const out = ['| section | measure | median | unit | min–max (n) | × baseline | note |', '|---|---|---:|---|---|---:|---|'];
  for (const r of rows) {
    const spread = r.n > 1 ? `${fmt(r.min)}–${fmt(r.max)} (${r.n})` : r.n === 1 ? '(1)' : '';
    const ratio = r.ratio === undefined || r.ratio === null ? '' : `${r.ratio.toFixed(2)} × ${r.baseline}`;
    out.push(`| ${r.section} | ${r.name} | ${fmt(r.median)} | ${r.unit} | ${spread} | ${ratio} | ${r.note ?? ''} |`);
  }
  return out.join('\n') + '\n';
}
