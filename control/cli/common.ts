// Shared plumbing for control's host commands: opening the state file, reporting local errors, and the
// `--state` flag every admin command takes.
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { HelpRequested, UsageError } from '../../cli/args.js';
import { GrantwireError } from '../../types/errors.js';
import { Store } from '../store.js';

export const STATE_FLAG = { state: { type: 'string' as const } };
export const DEFAULT_STATE = './.grantwire/control.db';

/**
 * Opens (creating if needed) the state database named by --state (or $GRANTWIRE_CONTROL_STATE). A state
 * file group or others can read is refused (state-file.ts) unless `insecurePerms` (serve's
 * --insecure-state-perms) or $GRANTWIRE_INSECURE_STATE_PERMS=1 (for the admin commands).
 */
export function openStore(state: string | undefined, insecurePerms = false): Store {
  const path = state ?? process.env.GRANTWIRE_CONTROL_STATE ?? DEFAULT_STATE;
  return new Store(path, { insecurePerms: insecurePerms || process.env.GRANTWIRE_INSECURE_STATE_PERMS === '1' });
}

/** Runs an admin action; GrantwireErrors become a one-line message on stderr and exit code 1. */
export async function withStore(state: string | undefined, fn: (store: Store) => number | Promise<number>): Promise<number> {
  let store: Store;
  try {
    store = openStore(state);
  } catch (err) {
    process.stderr.write(`control: cannot open state ${state ?? DEFAULT_STATE}: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    return await fn(store);
  } catch (err) {
    // Usage errors share the root class but keep their own exit path (usage text, exit 2) in cli/args.ts.
    if (err instanceof GrantwireError && !(err instanceof UsageError) && !(err instanceof HelpRequested)) {
      process.stderr.write(`control: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    store.close();
  }
}

export function readTextFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function formatTime(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Left-aligned columns. */
export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()).join('\n') + '\n';
}
