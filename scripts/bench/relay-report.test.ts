// bench:relay's command line and report, without root and without running the benchmark: flags parse to
// the documented defaults, bad flags are usage errors (exit 2 from the script), samples summarize to
// median and spread with ratios to their same-run baseline.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../lab/tailnet-lab.js';
import { formatTable, median, parseBenchArgs, summarize, USAGE, type BenchArgs, type RowSpec } from './relay-report.js';

const MIB = 1 << 20;

describe('parseBenchArgs', () => {
  it.each<{ name: string; argv: string[]; want: Partial<BenchArgs> }>([
    { name: 'defaults', argv: [], want: { quick: false, json: null, reps: 5, seconds: 3, lab: true, bytes: 64 * MIB, rounds: 2 } },
    { name: '--quick', argv: ['--quick'], want: { quick: true, reps: 2, seconds: 1, bytes: 16 * MIB, rounds: 1 } },
    { name: '--json FILE', argv: ['--json', '/tmp/out.json'], want: { json: '/tmp/out.json' } },
    { name: '--json=FILE', argv: ['--json=/tmp/x.json'], want: { json: '/tmp/x.json' } },
    { name: '--reps overrides --quick', argv: ['--quick', '--reps', '7'], want: { quick: true, reps: 7 } },
    { name: '--seconds fractional', argv: ['--seconds', '0.5'], want: { seconds: 0.5 } },
    { name: '--no-lab', argv: ['--no-lab'], want: { lab: false } },
  ])('$name', ({ argv, want }) => {
    const p = parseBenchArgs(argv);
    expect(p.kind).toBe('run');
    if (p.kind === 'run') expect(p.args).toMatchObject(want);
  });

  it.each([['--help'], ['-h'], ['--quick', '--help']])('%s asks for help', (...argv) => {
    expect(parseBenchArgs(argv).kind).toBe('help');
  });

  it.each<{ name: string; argv: string[]; want: RegExp }>([
    { name: 'unknown flag', argv: ['--bogus'], want: /bogus/ },
    { name: 'positional', argv: ['extra'], want: /extra/ },
    { name: '--json without a file', argv: ['--json'], want: /json/ },
    { name: '--json empty', argv: ['--json='], want: /--json: expected a file name/ },
    { name: '--reps zero', argv: ['--reps', '0'], want: /--reps: expected an integer 1\.\.100, got "0"/ },
    { name: '--reps not a number', argv: ['--reps', 'five'], want: /--reps/ },
    { name: '--reps fractional', argv: ['--reps', '2.5'], want: /--reps/ },
    { name: '--seconds negative', argv: ['--seconds', '-1'], want: /--seconds/ },
    { name: '--seconds too long', argv: ['--seconds', '601'], want: /--seconds/ },
    { name: '--quick with a value', argv: ['--quick=yes'], want: /quick/ },
  ])('$name is a usage error', ({ argv, want }) => {
    const p = parseBenchArgs(argv);
    expect(p.kind).toBe('usage-error');
    if (p.kind === 'usage-error') expect(p.message).toMatch(want);
  });
});

describe('median', () => {
  it.each<{ xs: number[]; want: number | null }>([
    { xs: [], want: null },
    { xs: [3], want: 3 },
    { xs: [5, 1, 3], want: 3 },
    { xs: [4, 1, 3, 2], want: 2.5 },
  ])('$xs → $want', ({ xs, want }) => expect(median(xs)).toBe(want));
});

describe('summarize', () => {
  const specs: RowSpec[] = [
    { section: 's', name: 'direct', unit: 'Mbit/s', samples: [200, 100, 300] },
    { section: 's', name: 'relay', unit: 'Mbit/s', samples: [50, 40], baseline: 'direct' },
    { section: 's', name: 'lost', unit: 'ms', samples: [], baseline: 'direct', note: 'skipped: no root' },
    { section: 's', name: 'infinite', unit: 'x', samples: [Infinity, 2] },
  ];
  const rows = summarize(specs);

  it('takes the median and the spread of each row', () => {
    expect(rows[0]).toMatchObject({ median: 200, min: 100, max: 300, n: 3 });
    expect(rows[1]).toMatchObject({ median: 45, min: 40, max: 50, n: 2 });
  });

  it('gives the ratio to the baseline row of the same section', () => {
    expect(rows[1].ratio).toBeCloseTo(45 / 200, 10);
    expect(rows[0].ratio).toBeUndefined();
  });

  it('reports an unmeasured row as null, with its note', () => {
    expect(rows[2]).toMatchObject({ median: null, min: null, max: null, n: 0, ratio: null, note: 'skipped: no root' });
  });

  it('leaves non-finite samples out', () => {
    expect(rows[3]).toMatchObject({ median: 2, n: 1 });
  });

  it('refuses a baseline that is not a row of the section', () => {
    expect(() => summarize([{ section: 'a', name: 'x', unit: 'u', samples: [1], baseline: 'nope' }])).toThrow(/baseline "nope" is not a row of section "a"/);
  });

  it('prints one Markdown row per figure with spread and ratio', () => {
    const lines = formatTable(rows).trimEnd().split('\n');
    expect(lines).toHaveLength(2 + rows.length);
    expect(lines[2]).toBe('| s | direct | 200 | Mbit/s | 100–300 (3) |  |  |');
    expect(lines[3]).toBe('| s | relay | 45.0 | Mbit/s | 40.0–50.0 (2) | 0.23 × direct |  |');
    expect(lines[4]).toBe('| s | lost | – | ms |  |  | skipped: no root |');
  });
});

describe('scripts/bench/relay.ts command line (no benchmark run)', () => {
  const script = join(ROOT, 'scripts', 'bench', 'relay.ts');
  const runScript = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });

  it('--help prints the usage and exits 0', () => {
    const r = runScript(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(USAGE);
  }, 60_000);

  it.each([['--bogus'], ['--reps', 'x']])('%s: usage on stderr, exit 2, nothing measured', (...args) => {
    const r = runScript(args);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('usage: npm run bench:relay');
    expect(r.stdout).toBe('');
  }, 60_000);
});
