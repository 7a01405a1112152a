// Control's state file holds its Noise private key, auth-key and token hashes: whoever reads it can pose
// as control to every agent. So the directory is created 0700 and the database (with SQLite's -wal and
// -shm, which SQLite creates with the main file's mode) 0600, and an existing file that group or others
// can read or write, or that another user owns, is refused unless the operator says otherwise
// (`--insecure-state-perms`). The agent applies the same rule to its key files (agent/state-store.ts).
import { chmodSync, closeSync, mkdirSync, openSync, statSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { GrantwireError } from '../types/errors.js';

/** Refused mode bits: any access for group or others. */
const FOREIGN_BITS = 0o077;

/**
 * Why `path` (described by `st`) is not private to `uid`, or null when it is. Nobody may use a file that
 * group or others can reach. With `rootExempt`, root may use files another user owns (control's admin
 * commands run by root against the service user's state); the agent daemon runs as root and must not
 * trust a key another user could have written, so it passes false. Pure: control and the agent share it.
 */
export function privateFileProblem(path: string, st: Pick<Stats, 'mode' | 'uid'>, uid: number | null, rootExempt = true): string | null {
  if ((st.mode & FOREIGN_BITS) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    return `${path} is accessible to group or others (mode ${mode}); it holds secrets: run chmod go-rwx ${path}`;
  }
  if (uid !== null && !(rootExempt && uid === 0) && st.uid !== uid) return `${path} is owned by uid ${st.uid}, not by this user (uid ${uid})`;
  return null;
}

export interface StateFileOptions {
  /** Open a state file that fails the checks anyway (logged by the caller). */
  insecurePerms?: boolean;
}

/**
 * Makes `path` ready for SQLite: creates its directory 0700 and the file 0600 when missing; checks an
 * existing file (and its -wal/-shm). Throws ERR_CONTROL_STATE_PERMS with the fix in the message.
 */
export function prepareStateFile(path: string, o: StateFileOptions = {}): void {
  if (path === ':memory:' || path === '') return;
  const dir = dirname(path);
  if (mkdirSync(dir, { recursive: true, mode: 0o700 }) !== undefined) chmodSync(dir, 0o700);
  const uid = process.getuid?.() ?? null;
  for (const p of [path, `${path}-wal`, `${path}-shm`]) {
    let st: Stats;
    try {
      st = statSync(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      if (p === path) closeSync(openSync(p, 'a', 0o600));
      continue;
    }
    const problem = privateFileProblem(p, st, uid);
    if (problem !== null && !o.insecurePerms) {
      throw new GrantwireError('ERR_CONTROL_STATE_PERMS', `refusing to use the state file: ${problem} (or pass --insecure-state-perms)`);
    }
  }
}

/** After SQLite opened the file: -wal and -shm exist now; make sure they are 0600 whatever the umask. */
export function tightenStateFiles(path: string, o: StateFileOptions = {}): void {
  if (path === ':memory:' || path === '' || o.insecurePerms) return;
  for (const p of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      if ((statSync(p).mode & FOREIGN_BITS) !== 0) chmodSync(p, 0o600);
    } catch {
      // not created (yet): SQLite makes it with the main file's mode
    }
  }
}
