import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StateView } from './state-view.js';
import { Store } from './store.js';

const dir = mkdtempSync(join(tmpdir(), 'gwc-view-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('StateView', () => {
  it('keeps its indexes in step with the store through refreshNode', () => {
    const store = new Store(join(dir, 'view.db'));
    const u = store.addUser('a@example.com', 'A', 'member');
    const n = store.insertNode({ machineKey: 'mkey:1', nodeKey: 'nodekey:1', userId: u.id, hostname: 'web', tags: [], hostinfo: { hostname: 'web', os: 'linux' }, ephemeral: false, keyExpiry: null });
    const v = new StateView(store);
    v.load();
    expect([v.idByName('web'), v.nodeByNodeKey('nodekey:1')?.id, v.users.get(u.id)?.login]).toEqual([n.id, n.id, 'a@example.com']);

    // lastSeen alone is not a change anyone must hear about
    store.updateNode(n.id, { lastSeen: 123 }, false);
    expect(v.refreshNode(n.id)).toMatchObject({ same: true });

    store.updateNode(n.id, { hostname: 'api', nodeKey: 'nodekey:2' });
    const r = v.refreshNode(n.id);
    expect([r.same, r.before?.hostname, r.after?.hostname]).toEqual([false, 'web', 'api']);
    expect([v.idByName('web'), v.idByName('api')]).toEqual([undefined, n.id]);
    expect([v.nodeByNodeKey('nodekey:1'), v.nodeByNodeKey('nodekey:2')?.id]).toEqual([null, n.id]);

    store.setAttr(n.id, 'custom:tier', 'gold', 5_000);
    expect(v.refreshNode(n.id).same).toBe(false); // an attribute is a change
    expect(v.attrsOf(n.id).map((a) => a.name)).toEqual(['custom:tier']);
    expect(v.nextExpiry(0)).toBe(5_000);
    expect(v.tailnetNode(v.node(n.id)!, 0).posture?.['custom:tier']).toBe('gold');

    store.deleteNode(n.id);
    expect(v.refreshNode(n.id)).toMatchObject({ after: null, same: false });
    expect([v.node(n.id), v.idByName('api'), v.nodeByNodeKey('nodekey:2'), v.attrsOf(n.id)]).toEqual([null, undefined, null, []]);
    expect(v.nextExpiry(0)).toBe(Infinity);
    store.close();
  });

  it('reloadUsers asks for a rebuild only for admins and users who own nodes', () => {
    const store = new Store(join(dir, 'users.db'));
    const v = new StateView(store);
    const owner = store.addUser('o@example.com', 'O', 'member');
    store.insertNode({ machineKey: 'mkey:9', nodeKey: 'nodekey:9', userId: owner.id, hostname: 'n', tags: [], hostinfo: { hostname: 'n', os: 'linux' }, ephemeral: false, keyExpiry: null });
    v.load();
    const member = store.addUser('m@example.com', 'M', 'member');
    const admin = store.addUser('a@example.com', 'A', 'admin');
    expect(v.reloadUsers([member.id])).toBe(false);
    expect(v.users.has(member.id)).toBe(true);
    expect(v.reloadUsers([admin.id])).toBe(true);
    store.setUserRole(owner.id, 'member');
    expect(v.reloadUsers([owner.id])).toBe(true);
    store.close();
  });
});
