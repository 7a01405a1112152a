// A standalone relay's static key file (`control relay --key-file FILE`): `privkey:<hex>`, created 0600
// (its directory 0700) on first start, read back on every later start so the public key agents pin stays
// the same. Like control's state file (cli/state-file.ts), an existing file that group or others can reach,
// or another user owns, is refused: whoever reads it can pose as this relay.
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { privateFileProblem } from '../../cli/state-file.js';
import { RelayPrivate } from '../../crypto/key.js';
import { GrantwireError } from '../../types/errors.js';

/** The relay's private key from `path`, generating and writing it (0600) when the file does not exist. */
export function loadOrCreateRelayKeyFile(path: string): Uint8Array {
  let text: string | null = null;
  try {
    const problem = privateFileProblem(path, statSync(path), process.getuid?.() ?? null);
    if (problem !== null) throw new GrantwireError('ERR_RELAY_KEY_FILE', `refusing to use the relay key file: ${problem}`);
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (text !== null) {
    const t = text.trim();
    const k = RelayPrivate.tryParse(t);
    if (!k) throw new GrantwireError('ERR_RELAY_KEY_FILE', `${path}: expected "privkey:" and 64 hex digits (${t.length} characters found)`);
    return k;
  }
  const dir = dirname(path);
  if (mkdirSync(dir, { recursive: true, mode: 0o700 }) !== undefined) chmodSync(dir, 0o700);
  const k = RelayPrivate.generate();
  // Temp file + rename: a crash never leaves a half-written key; 'wx' never follows someone else's file.
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, `${RelayPrivate.text(k)}\n`);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  return k;
}
