import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
