import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './schema.js';
import { Store } from './store.js';

const dir = mkdtempSync(join(tmpdir(), 'gwc-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Store', () => {
  it('uses WAL and records applied migrations once', () => {
    const path = join(dir, 'a.db');
    const s = new Store(path);
    expect(s.db.pragma('journal_mode', { simple: true })).toBe('wal');
    s.close();
    const again = new Store(path);
    const rows = again.db.prepare('SELECT version FROM migrations').all();
    expect(rows).toHaveLength(MIGRATIONS.length);
    again.close();
  });

  it('refuses a database from a newer schema', () => {
    const path = join(dir, 'newer.db');
    new Store(path).close();
    const db = new Database(path);
    db.prepare('INSERT INTO migrations (version, applied) VALUES (?, ?)').run(MIGRATIONS.length + 1, 0);
    db.close();
    expect(() => new Store(path)).toThrow(/schema version/);
  });

  it('consumes a one-off key exactly once, a reusable one many times', () => {
    const s = new Store(join(dir, 'b.db'));
    const u = s.addUser('a@example.com', 'A', 'member');
    s.insertAuthKey({ id: 'k1', hash: 'h', userId: u.id, reusable: false, ephemeral: false, tags: [], created: 0, expires: null });
    s.insertAuthKey({ id: 'k2', hash: 'h', userId: u.id, reusable: true, ephemeral: false, tags: [], created: 0, expires: null });
    expect(s.consumeAuthKey('k1')).toBe(true);
    expect(s.consumeAuthKey('k1')).toBe(false);
    expect(s.consumeAuthKey('k2')).toBe(true);
    expect(s.consumeAuthKey('k2')).toBe(true);
    expect(s.authKey('k2')?.uses).toBe(2);
    s.close();
  });

  it('keeps hostnames unique and addresses stable; records changes for other processes', () => {
    const path = join(dir, 'c.db');
    const s = new Store(path);
    const u = s.addUser('a@example.com', 'A', 'member');
    const mk = (i: number) => ({ machineKey: `mkey:${i}`, nodeKey: `nodekey:${i}`, userId: u.id, hostname: 'web', tags: [], hostinfo: { hostname: 'web', os: 'linux' }, ephemeral: false, keyExpiry: null });
    const a = s.insertNode(mk(1));
    const b = s.insertNode(mk(2));
    expect([a.hostname, b.hostname]).toEqual(['web', 'web-1']);
    expect([a.v4, b.v4]).toEqual(['100.64.0.1', '100.64.0.2']);
    s.deleteNode(a.id);
    const c = s.insertNode(mk(3));
    expect(c.v4).toBe('100.64.0.3'); // not reusing a's address right away
    const other = new Store(path);
    const before = other.dataVersion();
    const seq = other.lastChangeSeq();
    s.setAttr(b.id, 'custom:x', true, null);
    expect(other.dataVersion()).not.toBe(before);
    const ch = other.changesSince(seq);
    expect(ch).toEqual([expect.objectContaining({ kind: 'attr', ref: b.id, origin: s.origin })]);
    other.close();
    s.close();
  });

  it('deletes expired attributes and reports the nodes', () => {
    const s = new Store(join(dir, 'd.db'));
    const u = s.addUser('a@example.com', 'A', 'member');
    const n = s.insertNode({ machineKey: 'mkey:1', nodeKey: 'nodekey:1', userId: u.id, hostname: 'h', tags: [], hostinfo: { hostname: 'h', os: 'linux' }, ephemeral: false, keyExpiry: null });
    s.setAttr(n.id, 'custom:a', 1, 1000);
    s.setAttr(n.id, 'custom:b', 'x', null);
    expect(s.deleteExpiredAttrs(999)).toEqual([]);
    expect(s.deleteExpiredAttrs(1000)).toEqual([n.id]);
    expect(s.attrsOf(n.id).map((a) => a.name)).toEqual(['custom:b']);
    s.close();
  });
});
