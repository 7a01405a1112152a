import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_PREFS, StateStore } from './state-store.js';

const root = mkdtempSync(join(tmpdir(), 'gw-agent-state-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('StateStore', () => {
  it('creates keys 0600 in a 0700 dir and returns the same keys after a restart', async () => {
    const dir = join(root, 'a');
    const k1 = await new StateStore(dir).loadKeys();
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const f of ['machine.key', 'node.key']) expect(statSync(join(dir, f)).mode & 0o777).toBe(0o600);
    const k2 = await new StateStore(dir).loadKeys();
    expect(Buffer.from(k2.nodePrivateKey).equals(Buffer.from(k1.nodePrivateKey))).toBe(true);
    expect(Buffer.from(k2.machinePrivateKey).equals(Buffer.from(k1.machinePrivateKey))).toBe(true);
    expect(Buffer.from(k1.machinePrivateKey).equals(Buffer.from(k1.nodePrivateKey))).toBe(false);
  });

  it('persists prefs and registration 0600; defaults when absent', async () => {
    const s = new StateStore(join(root, 'b'));
    expect(await s.loadState()).toEqual({ prefs: DEFAULT_PREFS, registered: false, nodeId: null, controlKey: null });
    const st = { prefs: { ...DEFAULT_PREFS, ControlURL: 'http://127.0.0.1:1', Hostname: 'h', AdvertiseTags: ['tag:a'], WantRunning: true, LoggedOut: false }, registered: true, nodeId: 4, controlKey: 'ab'.repeat(32) };
    await s.saveState(st);
    expect(statSync(join(root, 'b', 'state.json')).mode & 0o777).toBe(0o600);
    expect(await new StateStore(join(root, 'b')).loadState()).toEqual(st);
  });

  it('rejects a corrupt key file with a clear error, and never logs the key', async () => {
    const dir = join(root, 'c');
    await new StateStore(dir).loadKeys();
    writeFileSync(join(dir, 'node.key'), 'privkey:nothex');
    await expect(new StateStore(dir).loadKeys()).rejects.toThrow(/node\.key: not a 32-byte hex private key/);
  });

  it('rotateNodeKey writes a new node key', async () => {
    const dir = join(root, 'd');
    const s = new StateStore(dir);
    const k = await s.loadKeys();
    const n = await s.rotateNodeKey();
    expect(Buffer.from(n).equals(Buffer.from(k.nodePrivateKey))).toBe(false);
    expect(readFileSync(join(dir, 'node.key'), 'utf8')).toContain(Buffer.from(n).toString('hex'));
  });
});

// Issue 10 item 2: the agent's keys let anyone pose as this node, so a state dir or key file group or
// others can reach, or another user owns, is refused (never silently repaired) unless insecurePerms.
describe('StateStore permissions', () => {
  it.each([
    { name: 'machine.key world-readable', setup: (d: string) => chmodSync(join(d, 'machine.key'), 0o644), uid: undefined, want: /machine\.key is accessible to group or others \(mode 0644\)/ },
    { name: 'node.key group-readable', setup: (d: string) => chmodSync(join(d, 'node.key'), 0o640), uid: undefined, want: /node\.key is accessible to group or others/ },
    { name: 'state dir 0755', setup: (d: string) => chmodSync(d, 0o755), uid: undefined, want: /is accessible to group or others \(mode 0755\)/ },
    { name: 'files owned by another user', setup: () => {}, uid: 4242, want: /owned by uid \d+, not by this user \(uid 4242\)/ },
  ])('$name is refused; accepted with insecurePerms', async ({ name, setup, uid, want }) => {
    const dir = join(root, `perm-${name.replace(/\W/g, '-')}`);
    const keys = await new StateStore(dir).loadKeys();
    setup(dir);
    const opts = uid === undefined ? {} : { uid };
    await expect(new StateStore(dir, opts).loadKeys()).rejects.toMatchObject({ code: 'ERR_STATE_PERMS', message: expect.stringMatching(want) });
    const again = await new StateStore(dir, { ...opts, insecurePerms: true }).loadKeys();
    expect(Buffer.from(again.nodePrivateKey).equals(Buffer.from(keys.nodePrivateKey))).toBe(true);
  });

  it('a world-readable state.json is refused', async () => {
    const dir = join(root, 'perm-state');
    const s = new StateStore(dir);
    await s.saveState({ prefs: DEFAULT_PREFS, registered: false, nodeId: null, controlKey: null });
    chmodSync(join(dir, 'state.json'), 0o644);
    await expect(new StateStore(dir).loadState()).rejects.toMatchObject({ code: 'ERR_STATE_PERMS' });
  });
});
