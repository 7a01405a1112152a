// Issue 15 through the admin API against a running control: members request access for themselves,
// approvers (listed users, policy groups, admins) decide, nobody decides their own, and approval opens
// access in the compiled filter of the server the requester reaches, which closes again at expiry or on
// revocation. Members reach only their own requests; the audit log is admin-only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIP, parsePrefix, prefixContains } from '../../types/ip.js';
import type { Netmap } from '../../types/netmap.js';
import { createApiToken } from '../../control/admin-ops.js';
import { setApprovers, type AccessRequest } from '../../control/access-requests.js';
import type { AuditEntry } from '../../control/audit-log.js';
import { seededRng } from '../../types/seeded-rng.js';
import { LINUX, newAgent, startControl, waitUntil, type Harness, type TestAgent } from './helpers.js';

const POLICY = `{
  "groups": {"group:sre": ["dave@example.com"]},
  "tagOwners": {"tag:prod": ["autogroup:admin"]},
  "postures": {"posture:jit": ["custom:jit-prod == true"]},
  "grants": [{"src": ["autogroup:member"], "dst": ["tag:prod"], "ip": ["tcp:22"], "srcPosture": ["posture:jit"]}],
}`;

let h: Harness;
let srv: TestAgent;
let laptop: TestAgent;
const tokens: Record<string, string> = {};
const ip = (a: TestAgent) => a.latest()!.self.addresses[0].split('/')[0];
/** Whether the netmap's packet filter admits anything from `addr` (SrcIPs may be merged into prefixes). */
const admits = (nm: Netmap, addr: string): boolean => {
  const a = parseIP(addr)!;
  return nm.packetFilter.some((r) => r.SrcIPs.some((s) => s === '*' || prefixContains(parsePrefix(s.includes('/') ? s : `${s}/${a.bytes.length === 4 ? 32 : 128}`)!, a.bytes)));
};

async function api(who: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(new URL(path, h.url), {
    method,
    headers: { authorization: `Bearer ${tokens[who]}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
const request = async (who: string, body: Record<string, unknown>) => {
  const r = await api(who, 'POST', '/api/v1/access/requests', body);
  expect(r.status).toBe(200);
  return r.body.request as AccessRequest;
};
const act = (who: string, id: number, verb: string, body?: unknown) => api(who, 'POST', `/api/v1/access/requests/${id}/${verb}`, body ?? {});
const JIT = { attr: 'custom:jit-prod', value: true, for: '1h', reason: 'incident 42' };

beforeAll(async () => {
  h = await startControl({ policy: POLICY });
  for (const [login, role] of [['alice', 'member'], ['bob', 'member'], ['carol', 'member'], ['dave', 'member'], ['root', 'admin']] as const) {
    h.addUser(`${login}@example.com`, role);
    tokens[login] = createApiToken(h.store, `${login}@example.com`).token;
  }
  setApprovers(h.store, 'custom:jit-prod', ['bob@example.com', 'group:sre']);
  srv = newAgent(h.url);
  laptop = newAgent(h.url);
  await srv.client.register({ authKey: h.key({ user: 'root@example.com', tags: ['tag:prod'] }), hostname: 'prod-db', hostinfo: LINUX, requestTags: ['tag:prod'] });
  await laptop.client.register({ authKey: h.key({ user: 'alice@example.com' }), hostname: 'alice-laptop', hostinfo: LINUX });
  await srv.stream(['192.0.2.1:1']);
  await laptop.stream(['192.0.2.2:1']);
});
afterAll(async () => {
  await srv.stop();
  await laptop.stop();
  await h.close();
});

describe('access requests over the admin API', () => {
  it('GET /api/v1/me names the token user', async () => {
    // (with the console merged, `me` also lists the caller's own untagged devices)
    expect((await api('alice', 'GET', '/api/v1/me')).body).toMatchObject({ login: 'alice@example.com', role: 'member', nodes: expect.any(Array) });
  });

  it('approval opens access in the server\'s compiled filter; a device registered meanwhile gets it; revocation closes it', async () => {
    // Peers by policy: before approval the laptop may not reach the server, so it is not even its peer.
    expect(admits(await srv.waitFor(() => true), ip(laptop))).toBe(false);
    const r = await request('alice', JIT);
    expect(r).toMatchObject({ state: 'pending', requester: 'alice@example.com', attribute: 'custom:jit-prod', value: true, node: null, reason: 'incident 42' });
    // refused: a member who is not an approver, and the requester herself
    expect(await act('carol', r.id, 'approve')).toMatchObject({ status: 403, body: { code: 'forbidden', error: expect.stringMatching(/not an approver/) } });
    expect(await act('alice', r.id, 'approve')).toMatchObject({ status: 403, body: { code: 'forbidden', error: expect.stringMatching(/own request/) } });
    expect(admits(srv.latest()!, ip(laptop))).toBe(false);
    // a listed approver (a member) approves
    const ok = await act('bob', r.id, 'approve');
    expect(ok).toMatchObject({ status: 200, body: { request: { state: 'approved', approver: 'bob@example.com', nodes: ['alice-laptop'] } } });
    await srv.waitFor((m) => admits(m, ip(laptop)), 2000);
    // alice registers another device while approved: it is covered too
    const phone = newAgent(h.url);
    await phone.client.register({ authKey: h.key({ user: 'alice@example.com' }), hostname: 'alice-phone', hostinfo: LINUX });
    await phone.stream(['192.0.2.3:1']);
    await srv.waitFor((m) => admits(m, ip(phone)), 2000);
    // the requester gives it up early: both close
    expect(await act('alice', r.id, 'revoke')).toMatchObject({ status: 200, body: { request: { state: 'revoked', closedBy: 'alice@example.com' } } });
    await srv.waitFor((m) => !admits(m, ip(laptop)) && !admits(m, ip(phone)), 2000);
    await phone.stop();
  });

  it('expiry closes access on its own, and the request ends', async () => {
    const r = await request('alice', { ...JIT, for: '1500ms', node: 'alice-laptop' });
    expect((await act('dave', r.id, 'approve')).status).toBe(200); // dave approves through group:sre
    await srv.waitFor((m) => admits(m, ip(laptop)), 2000);
    await srv.waitFor((m) => !admits(m, ip(laptop)), 5000);
    await waitUntil(() => h.store.db.prepare('SELECT state FROM access_requests WHERE id = ?').pluck().get(r.id) === 'ended', 5000, 'request ended');
    expect((await api('alice', 'GET', `/api/v1/access/requests/${r.id}`)).body.request).toMatchObject({ state: 'ended', closedBy: 'system' });
  });

  it('deny needs a reason; a denied request cannot be approved (409); cancel is the requester\'s', async () => {
    const r = await request('alice', JIT);
    expect((await act('root', r.id, 'deny', {})).status).toBe(400);
    expect(await act('root', r.id, 'deny', { reason: 'use the runbook' })).toMatchObject({ status: 200, body: { request: { state: 'denied', decisionReason: 'use the runbook', approver: 'root@example.com' } } });
    expect(await act('bob', r.id, 'approve')).toMatchObject({ status: 409, body: { code: 'bad_transition' } });
    const c = await request('alice', JIT);
    expect((await act('bob', c.id, 'cancel')).status).toBe(403);
    expect(await act('alice', c.id, 'cancel')).toMatchObject({ status: 200, body: { request: { state: 'cancelled' } } });
    expect((await act('alice', 99999, 'cancel')).status).toBe(404);
  });

  it.each([
    { name: 'no reason', body: { ...JIT, reason: '' }, status: 400 },
    { name: 'too long', body: { ...JIT, for: '25h' }, status: 400 },
    { name: 'bad duration', body: { ...JIT, for: 'soon' }, status: 400 },
    { name: 'object value', body: { ...JIT, value: { a: 1 } }, status: 400 },
    { name: 'someone else\'s node', body: { ...JIT, node: 'prod-db' }, status: 400 },
  ])('a request with $name → $status', async ({ body, status }) => {
    expect((await api('alice', 'POST', '/api/v1/access/requests', body)).status).toBe(status);
  });

  it('members see their own requests and those they may approve; the state filter works', async () => {
    const mine = (await api('alice', 'GET', '/api/v1/access/requests')).body.requests as AccessRequest[];
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((r) => r.requester === 'alice@example.com')).toBe(true);
    expect(((await api('carol', 'GET', '/api/v1/access/requests')).body.requests as AccessRequest[])).toEqual([]);
    expect(((await api('bob', 'GET', '/api/v1/access/requests')).body.requests as AccessRequest[]).length).toBe(mine.length);
    const denied = (await api('root', 'GET', '/api/v1/access/requests?state=denied')).body.requests as AccessRequest[];
    expect(denied.map((r) => r.state)).toEqual(['denied']);
    expect((await api('root', 'GET', '/api/v1/access/requests?state=bogus')).status).toBe(400);
    expect((await api('carol', 'GET', `/api/v1/access/requests/${mine[0].id}`)).status).toBe(404);
  });

  it.each([
    { who: 'alice', method: 'GET', path: '/api/v1/audit', status: 403 },
    { who: 'alice', method: 'GET', path: '/api/v1/nodes', status: 403 },
    { who: 'alice', method: 'POST', path: '/api/v1/keys', status: 403 },
    { who: 'alice', method: 'PUT', path: '/api/v1/access/approvers/custom:jit-prod', status: 403 },
    { who: 'alice', method: 'GET', path: '/api/v1/webhook', status: 403 },
    { who: 'alice', method: 'GET', path: '/api/v1/access/approvers', status: 200 },
    { who: 'root', method: 'GET', path: '/api/v1/audit', status: 200 },
  ])('$who $method $path → $status', async ({ who, method, path, status }) => {
    expect((await api(who, method, path, method === 'GET' ? undefined : { approvers: [] })).status).toBe(status);
  });

  it('admins set approvers; the audit log shows each step with its actor', async () => {
    const put = await api('root', 'PUT', '/api/v1/access/approvers/custom:jit-prod', { approvers: ['bob@example.com', 'group:sre'], max: '8h' });
    expect(put).toMatchObject({ status: 200, body: { attr: 'custom:jit-prod', approvers: ['bob@example.com', 'group:sre'], maxMs: 8 * 3_600_000 } });
    expect((await api('root', 'PUT', '/api/v1/access/approvers/custom:jit-prod', { approvers: ['group:nope'] })).status).toBe(400);
    const entries = (await api('root', 'GET', '/api/v1/audit?action=access')).body.entries as AuditEntry[];
    const steps = entries.map((e) => `${e.action} ${e.actor} ${e.via}`);
    expect(steps).toEqual(expect.arrayContaining([
      'access.request alice@example.com api',
      'access.approve bob@example.com api',
      'access.revoke alice@example.com api',
      'access.approve dave@example.com api',
      'access.end system expiry',
      'access.deny root@example.com api',
      'access.cancel alice@example.com api',
      'access.approvers root@example.com api',
    ]));
    const byActor = (await api('root', 'GET', '/api/v1/audit?actor=bob%40example.com')).body.entries as AuditEntry[];
    expect(byActor.every((e) => e.actor === 'bob@example.com')).toBe(true);
    expect(byActor[0]).toMatchObject({ time: expect.any(Number), target: expect.stringMatching(/^request \d+$/), summary: expect.stringContaining('approved') });
  });

  it('fuzz: random paths, methods and bodies on the access routes get a clear 4xx or 200, never a 500', async () => {
    const next = seededRng(4242);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)];
    const paths = ['/api/v1/access/requests', '/api/v1/access/requests/1', '/api/v1/access/requests/1/approve', '/api/v1/access/requests/x/deny',
      '/api/v1/access/requests/99999999999999999999/revoke', '/api/v1/access/approvers/custom:q', '/api/v1/access/approvers/%ZZ', '/api/v1/audit?since=abc',
      '/api/v1/audit?limit=0', '/api/v1/webhook', '/api/v1/access/requests?state=%00'];
    const bodies = ['', 'null', '[]', '{"attr": 1}', '{"attr": "custom:q", "value": true, "for": "1h", "reason": "r"}', '{"approvers": [1]}', '{"reason": ""}',
      '{"url": "javascript:x", "secret": "0123456789abcdef"}', '{"attr": "custom:q", "value": true, "for": "99999999h", "reason": "r"}', '\u0000{'];
    const deadline = Date.now() + 8000;
    for (let i = 0; i < 300 && Date.now() < deadline; i++) {
      const who = pick(['alice', 'carol', 'root']);
      const method = pick(['GET', 'POST', 'PUT', 'DELETE']);
      const res = await fetch(new URL(pick(paths), h.url), {
        method,
        headers: { authorization: `Bearer ${tokens[who]}` },
        body: method === 'GET' ? undefined : pick(bodies),
      });
      const body = (await res.json()) as { code?: string };
      expect([200, 400, 403, 404, 409]).toContain(res.status);
      if (res.status !== 200) expect(typeof body.code).toBe('string');
    }
  }, 30_000);
});
