import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ChangeFeed } from './change-feed.js';
import { Store } from './store.js';

const dir = mkdtempSync(join(tmpdir(), 'gwc-feed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ChangeFeed', () => {
  it('reports what other processes committed, grouped; skips its own store; null when nothing changed', () => {
    const path = join(dir, 'feed.db');
    const mine = new Store(path);
    const admin = new Store(path); // another process (an admin command) on the same file
    const stats = { externalChanges: 0 };
    const feed = new ChangeFeed(mine, stats);
    const early = admin.addUser('early@example.com', 'E', 'member');
    feed.start(); // what was there before start is the caller's initial load, not a change
    expect(feed.read()).toBeNull();

    // this connection's own commits do not move its data_version, and their rows are skipped by origin below
    const own = mine.addUser('own@example.com', 'O', 'member');
    expect(feed.read()).toBeNull();

    const u = admin.addUser('bob@example.com', 'B', 'member');
    const n = admin.insertNode({ machineKey: 'mkey:1', nodeKey: 'nodekey:1', userId: u.id, hostname: 'web', tags: [], hostinfo: { hostname: 'web', os: 'linux' }, ephemeral: false, keyExpiry: null });
    admin.setAttr(n.id, 'custom:x', 'y', null);
    admin.addPolicy('p.hujson', '{}');
    const got = feed.read();
    expect(got).toEqual({ policy: true, users: new Set([u.id]), nodes: new Set([n.id]) });
    expect(got?.users.has(own.id)).toBe(false);
    expect(feed.read()).toBeNull();
    expect(stats.externalChanges).toBeGreaterThanOrEqual(4);
    expect(early.id).toBeLessThan(u.id);
    feed.prune(); // below the threshold: keeps everything
    expect(admin.changesSince(0).length).toBeGreaterThan(0);
    mine.close();
    admin.close();
  });
});
