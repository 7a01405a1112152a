// Issue 10 item 3: the admin API. TLS on the control listener (agents use https://, the Noise channel
// inside is unchanged); without TLS only loopback callers are answered; tokens expire and can be revoked;
// users can be demoted and deleted (their nodes removed, keys and tokens gone). Callers on other addresses
// are simulated by overriding the accepted socket's remoteAddress.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken, deleteUser, revokeApiToken, setUserRole } from '../../control/admin-ops.js';
import { ControlClient } from '../../control/client.js';
import { generatePrivateKey } from '../../crypto/key.js';
import { POLICY } from './fixtures.js';
import { LINUX, newAgent, runControl, startControl, waitUntil, type Harness } from './helpers.js';

/** Makes every connection the server accepts from now on look like it came from `addr`. */
function pretendRemote(h: Harness, event: 'connection' | 'secureConnection', addr: string): void {
  h.server.http.prependListener(event, (s: Socket) => Object.defineProperty(s, 'remoteAddress', { value: addr, configurable: true }));
}

async function api(url: string, token: string, path = '/api/v1/nodes', ca?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await undiciFetch(new URL(path, url), {
    headers: { authorization: `Bearer ${token}`, connection: 'close' },
    ...(ca !== undefined ? { dispatcher: new Agent({ connect: { ca } }) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('admin API without TLS', () => {
  let h: Harness;
  let token: string;
  beforeAll(async () => {
    h = await startControl({ policy: POLICY });
    h.addUser('root@example.com', 'admin');
    token = createApiToken(h.store, 'root@example.com').token;
  });
  afterAll(() => h.close());

  it('answers a loopback caller', async () => {
    expect((await api(h.url, token)).status).toBe(200);
  });

  it.each(['192.0.2.7', '::ffff:10.1.2.3', '2001:db8::1'])('refuses %s with 403 and says why', async (addr) => {
    const other = await startControl({ policy: POLICY, dir: mkdtempSync(join(tmpdir(), 'gwc-')) });
    try {
      other.addUser('root@example.com', 'admin');
      const t = createApiToken(other.store, 'root@example.com').token;
      pretendRemote(other, 'connection', addr);
      const r = await api(other.url, t);
      expect(r.status).toBe(403);
      expect(r.body).toMatchObject({ code: 'tls_required', error: expect.stringMatching(/only to loopback callers .*without TLS.*--tls-cert/) });
      // the agent endpoints stay open to the network
      expect((await undiciFetch(new URL('/key', other.url))).status).toBe(200);
    } finally {
      await other.close();
    }
  });
});

describe('admin tokens and users', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startControl({ policy: POLICY });
    h.addUser('root@example.com', 'admin');
    h.addUser('ops@example.com', 'admin');
    h.addUser('bob@example.com');
  });
  afterAll(() => h.close());

  it.each([
    { name: 'a valid token', make: () => createApiToken(h.store, 'root@example.com').token, want: 200 },
    { name: 'a token with time left', make: () => createApiToken(h.store, 'root@example.com', Date.now(), 60_000).token, want: 200 },
    { name: 'an expired token', make: () => createApiToken(h.store, 'root@example.com', Date.now() - 120_000, 60_000).token, want: 401 },
    {
      name: 'a revoked token',
      make: () => {
        const t = createApiToken(h.store, 'root@example.com');
        revokeApiToken(h.store, t.id);
        return t.token;
      },
      want: 401,
    },
  ])('$name → $want', async ({ make, want }) => {
    expect((await api(h.url, make())).status).toBe(want);
  });

  it("demoting a user to member ends their token's admin access (403; a member token reaches only access requests)", async () => {
    const t = createApiToken(h.store, 'ops@example.com').token;
    expect((await api(h.url, t)).status).toBe(200);
    setUserRole(h.store, 'ops@example.com', 'member');
    expect((await api(h.url, t)).status).toBe(403);
    expect((await api(h.url, t, '/api/v1/access/requests')).status).toBe(200);
    setUserRole(h.store, 'ops@example.com', 'admin');
    expect((await api(h.url, t)).status).toBe(200);
  });

  it('deleting a user removes their nodes (streams end), auth keys and tokens', async () => {
    h.addUser('carol@example.com', 'admin');
    const t = createApiToken(h.store, 'carol@example.com').token;
    const a = newAgent(h.url);
    await a.client.register({ authKey: h.key({ user: 'carol@example.com', reusable: true }), hostname: 'carol-laptop', hostinfo: LINUX });
    await a.stream();
    const spare = h.key({ user: 'carol@example.com' });
    const removed = deleteUser(h.store, 'carol@example.com');
    expect(removed).toHaveLength(1);
    // the server skips changes its own Store recorded (another process's are polled): apply them here
    for (const id of removed) h.server.coordinator.refreshNode(id);
    await waitUntil(() => a.streamError !== undefined, 5000, 'stream end');
    expect(h.store.nodeByHostname('carol-laptop')).toBeNull();
    expect((await api(h.url, t)).status).toBe(401);
    await expect(newAgent(h.url).client.register({ authKey: spare, hostname: 'x', hostinfo: LINUX })).rejects.toMatchObject({ code: 'ERR_CONTROL_REFUSED', wireCode: 'invalid_auth_key' });
    await a.stop();
  });

  it('CLI: users token create/list/revoke, set-role, delete', async () => {
    const state = ['--state', h.statePath];
    const created = await runControl(['users', 'token', 'create', 'root@example.com', '--expiry', '1h', ...state]);
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^gwapi-/);
    expect((await api(h.url, token)).status).toBe(200);
    const list = JSON.parse((await runControl(['users', 'token', 'list', '--json', ...state])).stdout) as { id: string; user: string; expires: number | null; state: string }[];
    const mine = list.find((x) => token.includes(x.id));
    expect(mine).toMatchObject({ user: 'root@example.com', state: 'valid', expires: expect.any(Number) });
    expect(JSON.stringify(list)).not.toContain(token);
    expect((await runControl(['users', 'token', 'revoke', mine!.id, ...state])).code).toBe(0);
    expect((await api(h.url, token)).status).toBe(401);
    // the old spelling still creates a token
    expect((await runControl(['users', 'token', 'root@example.com', ...state])).stdout).toMatch(/^gwapi-/);
    expect((await runControl(['users', 'set-role', 'bob@example.com', 'admin', ...state])).stdout).toBe('user bob@example.com is now admin\n');
    expect(h.store.userByLogin('bob@example.com')?.role).toBe('admin');
    const del = await runControl(['users', 'delete', 'bob@example.com', ...state]);
    expect(del.code).toBe(0);
    expect(h.store.userByLogin('bob@example.com')).toBeNull();
    expect((await runControl(['users', 'set-role', 'nobody@example.com', 'admin', ...state])).code).toBe(1);
  }, 60_000);
});

describe('control over TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gwc-tls-'));
  let h: Harness;
  let ca = '';
  beforeAll(async () => {
    // A self-signed certificate for 127.0.0.1 (node:crypto cannot make X.509 certificates; openssl can).
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=grantwire-test',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    ca = readFileSync(join(dir, 'cert.pem'), 'utf8');
    h = await startControl({ policy: POLICY, tls: { cert: ca, key: readFileSync(join(dir, 'key.pem'), 'utf8') } });
    h.addUser('root@example.com', 'admin');
    h.addUser('alice@example.com');
  });
  afterAll(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves https:// and an agent trusting the CA registers and streams over it', async () => {
    expect(h.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const client = new ControlClient({ serverUrl: h.url, machinePrivateKey: generatePrivateKey(), nodePrivateKey: generatePrivateKey(), tlsCa: ca, minBackoffMs: 50 });
    const { node } = await client.register({ authKey: h.key({ user: 'alice@example.com' }), hostname: 'tls-node', hostinfo: LINUX });
    expect(node.name).toContain('tls-node');
    const ac = new AbortController();
    const first = new Promise((resolve) => void client.streamMap({ endpoints: [] }, resolve, ac.signal));
    await expect(first).resolves.toMatchObject({ self: { name: expect.stringContaining('tls-node') } });
    ac.abort();
  });

  it('an agent that does not trust the certificate cannot connect', async () => {
    const client = new ControlClient({ serverUrl: h.url, machinePrivateKey: generatePrivateKey(), nodePrivateKey: generatePrivateKey(), connectTimeoutMs: 3000 });
    await expect(client.register({ authKey: h.key({ user: 'alice@example.com' }), hostname: 'x', hostinfo: LINUX })).rejects.toThrow();
  });

  it('with TLS the admin API answers callers on any address', async () => {
    const t = createApiToken(h.store, 'root@example.com').token;
    pretendRemote(h, 'secureConnection', '192.0.2.7');
    const r = await api(h.url, t, '/api/v1/nodes', ca);
    expect(r.status).toBe(200);
  });
});
