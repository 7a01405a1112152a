// Shared command-line plumbing for bin/control and bin/agent: flag parsing that turns every misuse into
// a usage message (exit 2) instead of a stack trace, and duration parsing (`30s`, `5m`, `1h`, `7d`).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { HelpRequested, UsageError } from '../types/errors.js';

// Thrown for bad flags or arguments (exit 2) and for --help (exit 0); defined with the other errors.
export { HelpRequested, UsageError } from '../types/errors.js';


type Options = NonNullable<ParseArgsConfig['options']>;

export interface ParsedCommand<O extends Options> {
  values: { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : O[K] extends { multiple: true } ? string[] : string };
  positionals: string[];
}

/** Strict parse: unknown flags, missing values and stray positionals (beyond `maxPositionals`) are UsageErrors. */
export function parseCommand<O extends Options>(argv: string[], options: O, maxPositionals = 0): ParsedCommand<O> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if ((parsed.values as Record<string, unknown>).help) throw new HelpRequested();
  if (parsed.positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument: ${parsed.positionals[maxPositionals]}`);
  }
  return parsed as unknown as ParsedCommand<O>;
}

export function requireFlag(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing required flag --${flag}`);
  return value;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `500ms`, `30s`, `5m`, `1h`, `7d` (or a sum like `1h30m`) into milliseconds; null if malformed. */
export function parseDuration(text: string): number | null {
  const re = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    matched = re.lastIndex;
  }
  if (matched !== text.length || text.length === 0) return null;
  return Math.round(total);
}

/** A subcommand module: `run` returns the process exit code. */
export interface CommandModule {
  usage: string;
  run(argv: string[]): Promise<number>;
}

/**
 * Dispatches `argv` to the longest matching command path. Each table entry lazily imports its module so
 * that `bin/control policy check` does not load SQLite and `bin/agent wg` does not load undici.
 */
export async function dispatch(
  program: string,
  argv: string[],
  table: Record<string, () => Promise<CommandModule>>,
): Promise<number> {
  const names = Object.keys(table).sort((a, b) => b.split(' ').length - a.split(' ').length);
  const overview = `usage: ${program} <command> [flags]\n\ncommands:\n${Object.keys(table)
    .map((n) => `  ${program} ${n}`)
    .join('\n')}\n\nRun '${program} <command> --help' for a command's flags.`;
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(overview + '\n');
    return argv.length === 0 ? 2 : 0;
  }
  for (const name of names) {
    const words = name.split(' ');
    if (words.every((w, i) => argv[i] === w)) {
      const mod = await table[name]();
      try {
        return await mod.run(argv.slice(words.length));
      } catch (err) {
        if (err instanceof HelpRequested) {
          process.stdout.write(mod.usage.trimEnd() + '\n');
          return 0;
        }
        if (err instanceof UsageError) {
          process.stderr.write(`${program} ${name}: ${err.message}\n${mod.usage.trimEnd()}\n`);
          return 2;
        }
        throw err;
      }
    }
  }
  process.stderr.write(`${program}: unknown command: ${argv.join(' ')}\n${overview}\n`);
  return 2;
}
