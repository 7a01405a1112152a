// The audit log: append-only at the database, filters, the ambient actor, the policy diff summary.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliActor, currentActor, lineDiffSummary, listAudit, osUser, recordAudit, withActor } from './audit-log.js';
import { Store } from './store.js';

let dir: string;
let store: Store;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gw-audit-'));
  store = new Store(join(dir, 'c.db'));
});
afterAll(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('recordAudit / listAudit', () => {
  it('records the ambient actor, an explicit one, and filters by time, actor and action', async () => {
    recordAudit(store.db, { action: 'user.add', target: 'a@example.com', summary: 's1', time: 1000 });
    await withActor({ actor: 'root@example.com', via: 'api' }, async () => {
      await new Promise((r) => setTimeout(r, 1));
      recordAudit(store.db, { action: 'node.tags', target: 'n1', summary: 's2', time: 2000, before: { tags: [] }, after: { tags: ['tag:x'] } });
    });
    recordAudit(store.db, { action: 'attr.expire', target: 'n1 custom:x', summary: 's3', time: 3000, actor: 'system', via: 'expiry' });
    const all = listAudit(store.db);
    expect(all.map((e) => [e.actor, e.via, e.action])).toEqual([
      [osUser(), 'cli', 'user.add'],
      ['root@example.com', 'api', 'node.tags'],
      ['system', 'expiry', 'attr.expire'],
    ]);
    expect(all[1]).toMatchObject({ before: { tags: [] }, after: { tags: ['tag:x'] }, time: 2000 });
    expect(listAudit(store.db, { since: 2000 }).map((e) => e.summary)).toEqual(['s2', 's3']);
    expect(listAudit(store.db, { actor: 'root@example.com' }).map((e) => e.summary)).toEqual(['s2']);
    expect(listAudit(store.db, { action: 'node' }).map((e) => e.summary)).toEqual(['s2']);
    expect(listAudit(store.db, { limit: 1 }).map((e) => e.summary)).toEqual(['s3']);
  });

  it.each([
    { name: 'UPDATE', sql: "UPDATE audit_log SET actor = 'someone-else'" },
    { name: 'DELETE', sql: 'DELETE FROM audit_log' },
  ])('the database refuses $name (append-only)', ({ sql }) => {
    expect(() => store.db.prepare(sql).run()).toThrow(/append-only/);
  });

  it('cliActor: the OS user, or --as with the OS user in via', () => {
    expect(cliActor(undefined)).toEqual({ actor: osUser(), via: 'cli' });
    expect(cliActor('bob@example.com')).toEqual({ actor: 'bob@example.com', via: `cli:${osUser()}` });
    expect(currentActor()).toEqual({ actor: osUser(), via: 'cli' });
  });

  it('a huge snapshot is replaced by its size', () => {
    recordAudit(store.db, { action: 'policy.set', target: 'p', summary: 'big', after: 'x'.repeat(10_000) });
    expect(listAudit(store.db, { limit: 1 })[0].after).toEqual({ truncated: true, bytes: 10_002 });
  });
});

describe('lineDiffSummary', () => {
  it.each([
    { name: 'identical', a: 'a\nb\nc', b: 'a\nb\nc', want: '+0 -0 lines' },
    { name: 'one line added', a: 'a\nc', b: 'a\nb\nc', want: '+1 -0 lines' },
    { name: 'one line changed', a: 'a\nb\nc', b: 'a\nB\nc', want: '+1 -1 lines' },
    { name: 'from nothing', a: '', b: 'a\nb', want: '+2 -1 lines' },
    { name: 'reordered', a: 'a\nb', b: 'b\na', want: '+1 -1 lines' },
  ])('$name → $want', ({ a, b, want }) => {
    expect(lineDiffSummary(a, b)).toBe(want);
  });

  it('very long texts fall back to line counts', () => {
    expect(lineDiffSummary('x\n'.repeat(3000), 'y\n'.repeat(10))).toBe('3001 → 11 lines');
  });
});
