// Issue 15: every change, from any path, writes exactly one audit entry. One row per change path: host
// operations (what control/cli/* calls, and three real host commands), the admin API, registration,
// logout, attribute expiry and the ephemeral reaper. Each row runs its setup, then the change, and checks
// the entries written by the change alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { policyEngine } from '../../control/policy-engine.js';
import { storePolicy } from '../../control/policy-store.js';
import {
  addUser,
  createApiToken,
  createAuthKey,
  deleteNode,
  deleteUser,
  removeAttr,
  revokeApiToken,
  revokeAuthKey,
  setAttr,
  setNodeTags,
  setUserRole,
} from '../../control/admin-ops.js';
import { approveRequest, accessActor, createRequest, setApprovers } from '../../control/access-requests.js';
import { listAudit, osUser, type AuditEntry } from '../../control/audit-log.js';
import { clearWebhook, setWebhook } from '../../control/webhook-admin.js';
import { createSignInLink } from '../../control/console/sign-in-links.js';
import { call, signInAs } from '../console/helpers.js';
import { POLICY } from './fixtures.js';
import { LINUX, newAgent, runControl, startControl, waitUntil, type Harness } from './helpers.js';

let h: Harness;
let admin = '';
let seq = 0;
const uniq = (p: string) => `${p}${++seq}`;
const lastId = () => (h.store.db.prepare('SELECT COALESCE(MAX(id), 0) FROM audit_log').pluck().get() as number);

async function api(method: string, path: string, body?: unknown): Promise<number> {
  const res = await fetch(new URL(path, h.url), {
    method,
    headers: { authorization: `Bearer ${admin}` },
    body: body === undefined || typeof body === 'string' ? body : JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Registers a node for alice (setup); returns its hostname. */
async function node(opts: { ephemeral?: boolean } = {}): Promise<string> {
  const name = uniq('n');
  const a = newAgent(h.url);
  await a.client.register({ authKey: createAuthKey(h.store, { user: 'alice@example.com', ephemeral: opts.ephemeral }).key, hostname: name, hostinfo: LINUX });
  return name;
}

interface Row {
  name: string;
  action: string;
  /** Setup (not counted); returns what run needs. */
  setup?: () => Promise<string> | string;
  run: (arg: string) => Promise<unknown> | unknown;
  /** For changes made by a timer: wait until the entry appears. */
  async?: boolean;
  actor?: string;
  via?: string | RegExp;
}

const ROWS: Row[] = [
  // host operations (control/cli/* call these; the actor is the OS user)
  { name: 'users add', action: 'user.add', run: () => addUser(h.store, `${uniq('u')}@example.com`, 'member'), actor: osUser(), via: 'cli' },
  { name: 'users set-role', action: 'user.role', setup: () => addUser(h.store, `${uniq('u')}@example.com`, 'member').login, run: (l) => setUserRole(h.store, l, 'admin') },
  { name: 'users delete', action: 'user.delete', setup: () => addUser(h.store, `${uniq('u')}@example.com`, 'member').login, run: (l) => deleteUser(h.store, l) },
  { name: 'keys create', action: 'key.create', run: () => createAuthKey(h.store, { user: 'alice@example.com', tags: [] }) },
  { name: 'keys revoke', action: 'key.revoke', setup: () => createAuthKey(h.store, { user: 'alice@example.com' }).id, run: (id) => revokeAuthKey(h.store, id) },
  { name: 'users token create', action: 'token.create', run: () => createApiToken(h.store, 'root@example.com') },
  { name: 'users token revoke', action: 'token.revoke', setup: () => createApiToken(h.store, 'root@example.com').id, run: (id) => revokeApiToken(h.store, id) },
  { name: 'policy set', action: 'policy.set', run: () => expect(storePolicy(h.store, policyEngine, `// ${uniq('v')}\n${POLICY}`, 'p.hujson').ok).toBe(true) },
  { name: 'attrs set', action: 'attr.set', setup: () => node(), run: (n) => setAttr(h.store, n, 'custom:x', true, 3_600_000) },
  { name: 'attrs rm', action: 'attr.remove', setup: async () => { const n = await node(); setAttr(h.store, n, 'custom:x', 1, null); return n; }, run: (n) => removeAttr(h.store, n, 'custom:x') },
  { name: 'nodes tags', action: 'node.tags', setup: () => node(), run: (n) => setNodeTags(h.store, n, ['tag:web']) },
  { name: 'nodes delete', action: 'node.delete', setup: () => node(), run: (n) => deleteNode(h.store, n) },
  { name: 'access approvers set', action: 'access.approvers', run: () => setApprovers(h.store, 'custom:jit', ['bob@example.com']) },
  {
    name: 'access request',
    action: 'access.request',
    run: () => createRequest(h.store, { requester: 'alice@example.com', attr: 'custom:jit', value: true, durationMs: 60_000, reason: 'r' }),
    actor: 'alice@example.com',
  },
  {
    name: 'access approve',
    action: 'access.approve',
    setup: async () => { await node(); return String(createRequest(h.store, { requester: 'alice@example.com', attr: 'custom:jit', value: true, durationMs: 60_000, reason: 'r' }).id); },
    run: (id) => approveRequest(h.store, Number(id), accessActor(h.store, 'bob@example.com')),
    actor: 'bob@example.com',
  },
  { name: 'webhooks set', action: 'webhook.set', run: () => setWebhook(h.store, 'http://127.0.0.1:9/hook', 'sixteen-characters!') },
  { name: 'webhooks clear', action: 'webhook.clear', run: () => clearWebhook(h.store) },
  // real host commands in another process
  { name: 'CLI users add', action: 'user.add', run: async () => expect((await runControl(['users', 'add', `${uniq('c')}@example.com`, '--state', h.statePath])).code).toBe(0), actor: osUser(), via: 'cli' },
  { name: 'CLI nodes tags', action: 'node.tags', setup: () => node(), run: async (n) => expect((await runControl(['nodes', 'tags', n, 'tag:web', '--state', h.statePath])).code).toBe(0), via: 'cli' },
  {
    name: 'CLI access request --as',
    action: 'access.request',
    run: async () => expect((await runControl(['access', 'request', '--as', 'alice@example.com', '--attr', 'custom:jit', '--value', 'true', '--for', '1h', '--reason', 'cli', '--state', h.statePath])).code).toBe(0),
    actor: 'alice@example.com',
    via: `cli:${osUser()}`,
  },
  // the admin API (the actor is the token's user)
  { name: 'API POST users', action: 'user.add', run: async () => expect(await api('POST', '/api/v1/users', { login: `${uniq('a')}@example.com` })).toBe(200), actor: 'root@example.com', via: 'api' },
  { name: 'API POST keys', action: 'key.create', run: async () => expect(await api('POST', '/api/v1/keys', { user: 'alice@example.com' })).toBe(200), via: 'api' },
  { name: 'API DELETE keys', action: 'key.revoke', setup: () => createAuthKey(h.store, { user: 'alice@example.com' }).id, run: async (id) => expect(await api('DELETE', `/api/v1/keys/${id}`)).toBe(200), via: 'api' },
  { name: 'API PUT attr', action: 'attr.set', setup: () => node(), run: async (n) => expect(await api('PUT', `/api/v1/nodes/${n}/attrs/custom:y`, { value: 'v' })).toBe(200), via: 'api' },
  {
    name: 'API DELETE attr',
    action: 'attr.remove',
    setup: async () => { const n = await node(); setAttr(h.store, n, 'custom:y', 1, null); return n; },
    run: async (n) => expect(await api('DELETE', `/api/v1/nodes/${n}/attrs/custom:y`)).toBe(200),
    via: 'api',
  },
  { name: 'API PUT tags', action: 'node.tags', setup: () => node(), run: async (n) => expect(await api('PUT', `/api/v1/nodes/${n}/tags`, { tags: ['tag:web'] })).toBe(200), via: 'api' },
  { name: 'API DELETE node', action: 'node.delete', setup: () => node(), run: async (n) => expect(await api('DELETE', `/api/v1/nodes/${n}`)).toBe(200), via: 'api' },
  { name: 'API POST policy', action: 'policy.set', run: async () => expect(await api('POST', '/api/v1/policy', `// ${uniq('api')}\n${POLICY}`)).toBe(200), via: 'api' },
  { name: 'API PUT approvers', action: 'access.approvers', run: async () => expect(await api('PUT', '/api/v1/access/approvers/custom:jit', { approvers: [] })).toBe(200), via: 'api' },
  { name: 'API PUT webhook', action: 'webhook.set', run: async () => expect(await api('PUT', '/api/v1/webhook', { url: 'http://127.0.0.1:9/x', secret: 'sixteen-characters!' })).toBe(200), via: 'api' },
  { name: 'API DELETE webhook', action: 'webhook.clear', run: async () => expect(await api('DELETE', '/api/v1/webhook')).toBe(200), via: 'api' },
  { name: 'API PUT user role', action: 'user.role', setup: () => addUser(h.store, `${uniq('r')}@example.com`, 'member').login, run: async (l) => expect(await api('PUT', `/api/v1/users/${l}`, { role: 'admin' })).toBe(200), via: 'api' },
  // the console: its session calls the same API (via `console`); a one-time link is itself audited
  {
    name: 'console POST keys',
    action: 'key.create',
    setup: async () => JSON.stringify(await signInAs(h.url, h.store, 'root@example.com')),
    run: async (s) => {
      const { cookie, csrf } = JSON.parse(s) as { cookie: string; csrf: string };
      expect((await call(h.url, 'POST', '/api/v1/keys', { cookie, csrf, body: { user: 'alice@example.com' } })).status).toBe(200);
    },
    actor: 'root@example.com',
    via: 'console',
  },
  { name: 'console link', action: 'console.link', run: () => createSignInLink(h.store, h.store.userByLogin('bob@example.com')!) },
  { name: 'API access request', action: 'access.request', run: async () => expect(await api('POST', '/api/v1/access/requests', { attr: 'custom:jit', value: true, for: '1h', reason: 'api' })).toBe(200), actor: 'root@example.com', via: 'api' },
  // the agent side and timers
  {
    name: 'registration',
    action: 'node.register',
    setup: () => createAuthKey(h.store, { user: 'alice@example.com' }).key,
    run: async (key) => {
      await newAgent(h.url).client.register({ authKey: key, hostname: uniq('r'), hostinfo: LINUX });
    },
    actor: 'alice@example.com',
    via: 'registration',
  },
  {
    name: 'logout',
    action: 'node.logout',
    setup: () => '',
    run: async () => {
      const a = newAgent(h.url);
      await a.client.register({ authKey: createAuthKey(h.store, { user: 'alice@example.com' }).key, hostname: uniq('l'), hostinfo: LINUX });
      const before = lastId();
      await a.client.logout();
      return before;
    },
    actor: 'alice@example.com',
    via: 'agent',
  },
  {
    name: 'attribute expiry',
    action: 'attr.expire',
    setup: async () => {
      const n = setAttr(h.store, await node(), 'custom:soon', true, 1000);
      h.server.coordinator.refreshNode(n.id); // this process's own change: the API does the same
      return n.hostname;
    },
    run: () => undefined,
    async: true,
    actor: 'system',
    via: 'expiry',
  },
  {
    name: 'ephemeral reaper',
    action: 'node.delete',
    setup: async () => {
      const a = newAgent(h.url);
      const name = uniq('e');
      await a.client.register({ authKey: createAuthKey(h.store, { user: 'alice@example.com', ephemeral: true }).key, hostname: name, hostinfo: LINUX });
      await a.stream();
      (globalThis as { ephemeralAgent?: typeof a }).ephemeralAgent = a;
      return name;
    },
    run: async () => (globalThis as { ephemeralAgent?: { stop(): Promise<void> } }).ephemeralAgent!.stop(),
    async: true,
    actor: 'system',
    via: 'ephemeral-reaper',
  },
];

beforeAll(async () => {
  h = await startControl({ policy: POLICY, ephemeralTimeoutMs: 300 });
  h.addUser('root@example.com', 'admin');
  h.addUser('alice@example.com');
  h.addUser('bob@example.com');
  admin = createApiToken(h.store, 'root@example.com').token;
});
afterAll(() => h.close());

describe('one audit entry per change', () => {
  it.each(ROWS)('$name → one $action', async (row) => {
    const arg = row.setup ? await row.setup() : '';
    let from = lastId();
    const out = await row.run(arg);
    // `logout` registers first (setup inside run, because the agent is needed): count from its marker
    if (row.name === 'logout') from = out as number;
    if (row.async) await waitUntil(() => listAudit(h.store.db, { since: 0 }).some((e) => e.id > from && e.action === row.action), 5000, row.action);
    const added: AuditEntry[] = listAudit(h.store.db).filter((e) => e.id > from);
    expect(added.map((e) => e.action)).toEqual([row.action]);
    const [e] = added;
    expect(e.time).toBeGreaterThan(0);
    expect(e.target).not.toBe('');
    expect(e.summary).not.toBe('');
    if (row.actor !== undefined) expect(e.actor).toBe(row.actor);
    if (typeof row.via === 'string') expect(e.via).toBe(row.via);
  });

  it('the CLI lists them: audit list --json with --actor and --since', async () => {
    const out = await runControl(['audit', 'list', '--actor', 'bob@example.com', '--since', '1h', '--json', '--state', h.statePath]);
    expect(out.code).toBe(0);
    const entries = JSON.parse(out.stdout) as AuditEntry[];
    expect(entries.length).toBeGreaterThan(0);
    for (const e of entries) expect(e).toMatchObject({ time: expect.any(Number), actor: 'bob@example.com', action: expect.any(String), target: expect.any(String), summary: expect.any(String) });
    const future = await runControl(['audit', 'list', '--since', '2999-01-01', '--json', '--state', h.statePath]);
    expect(JSON.parse(future.stdout)).toEqual([]);
    expect((await runControl(['audit', 'list', '--since', 'yesterday', '--state', h.statePath])).code).toBe(2);
  }, 60_000);
});
