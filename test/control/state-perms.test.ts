// Issue 10 item 2: control's state file holds its Noise private key. It is created 0600 (with -wal and
// -shm) in a 0700 directory, and a file group or others can reach is refused, by the Store and by the
// commands, unless --insecure-state-perms (serve) or GRANTWIRE_INSECURE_STATE_PERMS=1 (admin commands).
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { privateFileProblem } from '../../cli/state-file.js';
import { Store } from '../../control/store.js';
import { POLICY } from './fixtures.js';
import { runControl } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'gwc-perms-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const mode = (p: string): number => statSync(p).mode & 0o777;

/** A state file created by the Store and then given `m` on `which`. */
function stateWith(name: string, which: '' | '-wal' | '-shm', m: number): string {
  const path = join(root, name, 'control.db');
  const s = new Store(path);
  s.setMeta('x', '1');
  s.close();
  // closing the last connection removes -wal/-shm: recreate the one under test
  if (which !== '') writeFileSync(path + which, '', { mode: 0o600 });
  chmodSync(path + which, m);
  return path;
}

describe('control state file permissions', () => {
  it('creates the directory 0700 and the database, -wal and -shm 0600', () => {
    const path = join(root, 'fresh', 'sub', 'control.db');
    const s = new Store(path);
    s.setMeta('noise_private_key', 'ab'.repeat(32));
    expect(mode(join(root, 'fresh', 'sub'))).toBe(0o700);
    for (const p of [path, `${path}-wal`, `${path}-shm`]) expect(mode(p)).toBe(0o600);
    s.close();
  });

  it.each([
    { name: 'db world-readable', which: '' as const, m: 0o644 },
    { name: 'db group-readable', which: '' as const, m: 0o640 },
    { name: 'db other-writable', which: '' as const, m: 0o602 },
    { name: 'wal world-readable', which: '-wal' as const, m: 0o644 },
    { name: 'shm group-readable', which: '-shm' as const, m: 0o640 },
  ])('refuses a state file whose $name (mode $m); opens it with insecurePerms', ({ name, which, m }) => {
    const path = stateWith(name.replace(/\s/g, '-'), which, m);
    let err: unknown = null;
    try {
      new Store(path).close();
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ERR_CONTROL_STATE_PERMS', message: expect.stringMatching(/accessible to group or others .*--insecure-state-perms/) });
    new Store(path, { insecurePerms: true }).close();
  });

  it.each([
    { name: 'private, own file', m: 0o600, fileUid: 1000, uid: 1000, want: null },
    { name: 'group-readable', m: 0o640, fileUid: 1000, uid: 1000, want: /mode 0640/ },
    { name: 'other user owns it', m: 0o600, fileUid: 1001, uid: 1000, want: /owned by uid 1001, not by this user \(uid 1000\)/ },
    { name: 'root may use the service user file', m: 0o600, fileUid: 1001, uid: 0, want: null },
  ])('privateFileProblem: $name', ({ m, fileUid, uid, want }) => {
    const got = privateFileProblem('/s/control.db', { mode: 0o100000 | m, uid: fileUid }, uid);
    if (want === null) expect(got).toBeNull();
    else expect(got).toMatch(want);
  });

  it('privateFileProblem without the root exemption (the agent) refuses a file another user owns', () => {
    expect(privateFileProblem('/s/node.key', { mode: 0o100600, uid: 1001 }, 0, false)).toMatch(/owned by uid 1001/);
  });

  it('the commands refuse a readable state file with a clear error; the overrides open it', async () => {
    const path = stateWith('cli', '', 0o644);
    const policy = join(root, 'policy.hujson');
    writeFileSync(policy, POLICY);
    const list = await runControl(['users', 'list', '--state', path]);
    expect(list.code).toBe(1);
    expect(list.stderr).toMatch(/cannot open state .*accessible to group or others \(mode 0644\).*chmod go-rwx/);
    const serve = await runControl(['serve', '--listen', '127.0.0.1:0', '--state', path, '--policy', policy]);
    expect(serve.code).toBe(1);
    expect(serve.stderr).toMatch(/control serve: refusing to use the state file: .*--insecure-state-perms/);
    process.env.GRANTWIRE_INSECURE_STATE_PERMS = '1';
    try {
      expect((await runControl(['users', 'list', '--state', path])).code).toBe(0);
    } finally {
      delete process.env.GRANTWIRE_INSECURE_STATE_PERMS;
    }
  }, 30_000);
});
