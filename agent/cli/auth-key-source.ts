// Where `agent up --auth-key` takes the key from. Command lines are readable by every local user
// (/proc/PID/cmdline, ps), so besides the literal key (kept for compatibility) the key can come from a
// file (`file:PATH`, e.g. a 0600 file or a secrets mount) or from stdin (`-`), and never appear in argv.
import { readFileSync } from 'node:fs';
import { UsageError } from '../../cli/args.js';

export interface KeySources {
  readFile(path: string): string;
  readStdin(): Promise<string>;
}

async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

export const processKeySources: KeySources = { readFile: (p) => readFileSync(p, 'utf8'), readStdin: readAllStdin };

/** The auth key named by the --auth-key value: `file:PATH`, `-` (stdin) or the key itself. Surrounding whitespace is dropped. */
export async function resolveAuthKey(value: string, src: KeySources = processKeySources): Promise<string> {
  let key: string;
  let from: string;
  if (value === '-') {
    key = await src.readStdin();
    from = 'stdin';
  } else if (value.startsWith('file:')) {
    const path = value.slice('file:'.length);
    if (path === '') throw new UsageError('--auth-key file: needs a path (file:/path/to/key)');
    try {
      key = src.readFile(path);
    } catch (err) {
      throw new UsageError(`--auth-key: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    from = path;
  } else {
    return value;
  }
  key = key.trim();
  if (key === '' || /\s/.test(key)) throw new UsageError(`--auth-key: ${from} must hold exactly one key, got ${key === '' ? 'nothing' : 'several words'}`);
  return key;
}
