// Access requests against a real state file, with time passed in directly: every transition, the
// permission checks, duration bounds, expiry, devices registered while approved, overlapping grants, and
// one audit entry per transition.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  accessActor,
  approveRequest,
  cancelRequest,
  createRequest,
  denyRequest,
  DEFAULT_MAX_ACCESS_MS,
  DEFAULT_PENDING_TTL_MS,
  expireDue,
  getRequest,
  grantToNewNode,
  listRequests,
  nextAccessDeadline,
  revokeRequest,
  setApprovers,
  type NewRequest,
} from './access-requests.js';
import { listAudit } from './audit-log.js';
import { Store } from './store.js';

const H = 3_600_000;
const T0 = Date.UTC(2030, 0, 1);
let dir: string;
let store: Store;
let n = 0;

function addNode(owner: string, hostname: string, tags: string[] = []) {
  const u = store.userByLogin(owner)!;
  n++;
  return store.insertNode({ machineKey: `m${n}`, nodeKey: `k${n}`, userId: u.id, hostname, tags, hostinfo: { os: 'linux', hostname }, ephemeral: false, keyExpiry: null });
}

const attrOn = (host: string, attr = 'custom:jit') => store.attrsOf(store.nodeByHostname(host)!.id).find((a) => a.name === attr) ?? null;
const ask = (o: Partial<NewRequest> = {}) => createRequest(store, { requester: 'alice@example.com', attr: 'custom:jit', value: true, durationMs: H, reason: 'incident 7', ...o }, T0);
const as = (login: string | null) => accessActor(store, login);
const auditCount = () => listAudit(store.db).length;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gw-access-'));
  store = new Store(join(dir, 'c.db'));
  store.addUser('alice@example.com', 'alice', 'member');
  store.addUser('bob@example.com', 'bob', 'member');
  store.addUser('carol@example.com', 'carol', 'member');
  store.addUser('dave@example.com', 'dave', 'member');
  store.addUser('root@example.com', 'root', 'admin');
  store.addPolicy('p.hujson', '{"groups": {"group:sre": ["dave@example.com"]}, "grants": []}');
  addNode('alice@example.com', 'laptop');
  addNode('alice@example.com', 'desktop');
  addNode('alice@example.com', 'ci-runner', ['tag:ci']);
  addNode('bob@example.com', 'bobs');
  setApprovers(store, 'custom:jit', ['bob@example.com', 'group:sre']);
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('transitions', () => {
  it('pending → approved sets the attribute with the expiry on every untagged device of the requester', () => {
    const r = ask();
    expect(r).toMatchObject({ state: 'pending', requester: 'alice@example.com', attribute: 'custom:jit', value: true, node: null, nodes: [] });
    const a = approveRequest(store, r.id, as('bob@example.com'), T0 + 1000);
    expect(a.request).toMatchObject({ state: 'approved', approver: 'bob@example.com', expires: T0 + 1000 + H, nodes: ['laptop', 'desktop'] });
    expect(attrOn('laptop')).toMatchObject({ value: true, expires: T0 + 1000 + H });
    expect(attrOn('desktop')).toMatchObject({ value: true, expires: T0 + 1000 + H });
    expect(attrOn('ci-runner')).toBeNull();
    expect(attrOn('bobs')).toBeNull();
  });

  it('--node limits it to that device, which must be the requester\'s', () => {
    const r = ask({ node: 'laptop' });
    approveRequest(store, r.id, as('root@example.com'), T0);
    expect(attrOn('laptop')).not.toBeNull();
    expect(attrOn('desktop')).toBeNull();
    expect(() => ask({ node: 'bobs' })).toThrow(/does not belong to alice/);
    expect(() => ask({ node: 'nope' })).toThrow(/no such node/);
  });

  it.each([
    { name: 'deny', run: (id: number) => denyRequest(store, id, as('dave@example.com'), 'not now', T0), state: 'denied', approver: 'dave@example.com' },
    { name: 'cancel', run: (id: number) => cancelRequest(store, id, as('alice@example.com'), T0), state: 'cancelled', approver: null },
  ])('pending → $state ($name) sets nothing', ({ run, state, approver }) => {
    const r = ask();
    expect(run(r.id).request).toMatchObject({ state, approver, closed: T0 });
    expect(attrOn('laptop')).toBeNull();
  });

  it('pending → expired when nobody decides in time', () => {
    const r = ask();
    expect(nextAccessDeadline(store)).toBe(T0 + DEFAULT_PENDING_TTL_MS);
    expect(expireDue(store, T0 + DEFAULT_PENDING_TTL_MS - 1)).toBe(0);
    expect(expireDue(store, T0 + DEFAULT_PENDING_TTL_MS)).toBe(1);
    expect(getRequest(store, r.id)).toMatchObject({ state: 'expired', closedBy: 'system' });
    expect(() => approveRequest(store, r.id, as('bob@example.com'), T0 + DEFAULT_PENDING_TTL_MS)).toThrow(/is expired; it cannot be approved/);
  });

  it('a stale pending request cannot be approved even before the timer ran', () => {
    const r = ask();
    expect(() => approveRequest(store, r.id, as('bob@example.com'), T0 + DEFAULT_PENDING_TTL_MS + 1)).toThrow(/is expired/);
    expect(getRequest(store, r.id).state).toBe('expired');
  });

  it('approved → ended at the deadline; the attribute carries the same expiry', () => {
    const r = ask();
    approveRequest(store, r.id, as('bob@example.com'), T0);
    expect(nextAccessDeadline(store)).toBe(T0 + H);
    expireDue(store, T0 + H);
    expect(getRequest(store, r.id).state).toBe('ended');
    expect(store.deleteExpiredAttrs(T0 + H).sort()).toEqual([store.nodeByHostname('laptop')!.id, store.nodeByHostname('desktop')!.id].sort());
    expect(nextAccessDeadline(store)).toBe(Infinity);
  });

  it('approved → revoked removes the attribute at once', () => {
    const r = ask();
    approveRequest(store, r.id, as('bob@example.com'), T0);
    const v = revokeRequest(store, r.id, as(null), T0 + 60_000);
    expect(v.request.state).toBe('revoked');
    expect(v.nodes).toHaveLength(2);
    expect(attrOn('laptop')).toBeNull();
  });

  it('revoking one of two overlapping approvals keeps the other one\'s access', () => {
    const a = ask({ durationMs: H });
    const b = ask({ durationMs: 3 * H, node: 'laptop' });
    approveRequest(store, a.id, as('bob@example.com'), T0);
    approveRequest(store, b.id, as('bob@example.com'), T0);
    expect(attrOn('laptop')!.expires).toBe(T0 + 3 * H);
    revokeRequest(store, b.id, as('bob@example.com'), T0 + 1000);
    expect(attrOn('laptop')!.expires).toBe(T0 + H);
    expect(attrOn('desktop')!.expires).toBe(T0 + H);
  });

  it.each([
    { from: 'denied', setup: (id: number) => denyRequest(store, id, as('bob@example.com'), 'no', T0) },
    { from: 'cancelled', setup: (id: number) => cancelRequest(store, id, as('alice@example.com'), T0) },
    { from: 'revoked', setup: (id: number) => { approveRequest(store, id, as('bob@example.com'), T0); revokeRequest(store, id, as(null), T0); } },
  ])('a $from request cannot be approved, denied, cancelled or revoked', ({ setup }) => {
    const r = ask();
    setup(r.id);
    for (const f of [
      () => approveRequest(store, r.id, as('bob@example.com'), T0),
      () => denyRequest(store, r.id, as('bob@example.com'), 'x', T0),
      () => cancelRequest(store, r.id, as('alice@example.com'), T0),
      () => revokeRequest(store, r.id, as(null), T0),
    ]) expect(f).toThrow(expect.objectContaining({ code: 'ERR_CONTROL_BAD_TRANSITION' }));
  });

  it('a pending request cannot be revoked, an approved one not cancelled', () => {
    const r = ask();
    expect(() => revokeRequest(store, r.id, as(null), T0)).toThrow(/is pending; it cannot be revoked/);
    approveRequest(store, r.id, as('bob@example.com'), T0);
    expect(() => cancelRequest(store, r.id, as('alice@example.com'), T0)).toThrow(/is approved; it cannot be cancelled/);
  });
});

describe('permissions', () => {
  it.each([
    { name: 'a member who is not an approver', who: 'carol@example.com', ok: false },
    { name: 'the requester (listed or not)', who: 'alice@example.com', ok: false },
    { name: 'a listed user', who: 'bob@example.com', ok: true },
    { name: 'a member of a listed group', who: 'dave@example.com', ok: true },
    { name: 'an admin', who: 'root@example.com', ok: true },
  ])('$name approving → ok=$ok', ({ who, ok }) => {
    const r = ask();
    if (ok) expect(approveRequest(store, r.id, as(who), T0).request.state).toBe('approved');
    else expect(() => approveRequest(store, r.id, as(who), T0)).toThrow(expect.objectContaining({ code: 'ERR_CONTROL_FORBIDDEN' }));
    if (!ok) expect(getRequest(store, r.id).state).toBe('pending');
  });

  it('the requester cannot approve their own request even when listed or an admin', () => {
    setApprovers(store, 'custom:jit', ['alice@example.com']);
    expect(() => approveRequest(store, ask().id, as('alice@example.com'), T0)).toThrow(/cannot approve their own request/);
    store.setUserRole(store.userByLogin('alice@example.com')!.id, 'admin');
    expect(() => approveRequest(store, ask().id, as('alice@example.com'), T0)).toThrow(/cannot approve their own request/);
  });

  it('approvers must be users or groups of the active policy', () => {
    expect(() => setApprovers(store, 'custom:jit', ['nobody@example.com'])).toThrow(/not a user/);
    expect(() => setApprovers(store, 'custom:jit', ['group:nope'])).toThrow(/not a group of the active policy/);
    expect(() => setApprovers(store, 'jit', [])).toThrow(/expected custom:name/);
  });
});

describe('bounds and input', () => {
  it.each([
    { name: 'the default maximum', durationMs: DEFAULT_MAX_ACCESS_MS, ok: true },
    { name: 'over the default maximum', durationMs: DEFAULT_MAX_ACCESS_MS + 1, ok: false },
    { name: 'zero', durationMs: 0, ok: false },
  ])('$name', ({ durationMs, ok }) => {
    if (ok) expect(ask({ durationMs }).state).toBe('pending');
    else expect(() => ask({ durationMs })).toThrow(expect.objectContaining({ code: 'ERR_CONTROL_BAD_DURATION' }));
  });

  it('a per-attribute maximum', () => {
    setApprovers(store, 'custom:jit', ['bob@example.com'], 2 * H);
    expect(() => ask({ durationMs: 3 * H })).toThrow(/at most 2h, asked for 3h/);
    expect(ask({ durationMs: 2 * H }).state).toBe('pending');
  });

  it.each([
    { name: 'no reason', o: { reason: '  ' }, err: /needs a reason/ },
    { name: 'bad attribute', o: { attr: 'jit' }, err: /expected custom:name/ },
    { name: 'unknown requester', o: { requester: 'x@example.com' }, err: /no such user/ },
  ])('$name is refused', ({ o, err }) => {
    expect(() => ask(o)).toThrow(err);
  });
});

describe('devices registered while approved', () => {
  it('get the attribute until the access ends; tagged ones and other users\' do not', () => {
    const r = ask();
    approveRequest(store, r.id, as('bob@example.com'), T0);
    const tablet = addNode('alice@example.com', 'tablet');
    expect(grantToNewNode(store, tablet, T0 + 10)).toBe(true);
    expect(attrOn('tablet')).toMatchObject({ value: true, expires: T0 + H });
    expect(getRequest(store, r.id).nodes).toContain('tablet');
    expect(grantToNewNode(store, addNode('alice@example.com', 'srv', ['tag:ci']), T0)).toBe(false);
    expect(grantToNewNode(store, addNode('bob@example.com', 'bob2'), T0)).toBe(false);
    // revoking removes it from the late device too
    revokeRequest(store, r.id, as(null), T0 + 20);
    expect(attrOn('tablet')).toBeNull();
  });
});

describe('audit', () => {
  it('each transition writes exactly one entry with its actor', () => {
    const steps: [string, () => unknown][] = [
      ['access.request', () => ask()],
      ['access.approve', () => approveRequest(store, 1, as('bob@example.com'), T0)],
      ['access.revoke', () => revokeRequest(store, 1, as('bob@example.com'), T0)],
      ['access.request', () => ask()],
      ['access.deny', () => denyRequest(store, 2, as('dave@example.com'), 'no', T0)],
      ['access.request', () => ask()],
      ['access.cancel', () => cancelRequest(store, 3, as('alice@example.com'), T0)],
      ['access.request', () => ask()],
      ['access.expire', () => expireDue(store, T0 + DEFAULT_PENDING_TTL_MS)],
      ['access.approvers', () => setApprovers(store, 'custom:jit', [])],
    ];
    for (const [action, step] of steps) {
      const before = auditCount();
      step();
      const added = listAudit(store.db).slice(before);
      expect(added.map((e) => e.action)).toEqual([action]);
    }
    const byAction = Object.fromEntries(listAudit(store.db).map((e) => [e.action, e]));
    expect(byAction['access.approve']).toMatchObject({ actor: 'bob@example.com', target: 'request 1' });
    expect(byAction['access.expire']).toMatchObject({ actor: 'system', via: 'expiry' });
    expect(listRequests(store, { state: 'revoked' }, T0).map((r) => r.id)).toEqual([1]);
  });
});
