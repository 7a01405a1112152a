// Issue 15, the console's security: CSRF-less writes refused, cookie flags, a member cannot reach admin
// endpoints, the console is not served to non-loopback callers without TLS (the admin API's rule; other
// addresses are simulated by overriding the accepted socket's remoteAddress, as in admin-api-access), and
// one-time links work once. Plain HTTP, no browser.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../../control/admin-ops.js';
import { CONTENT_SECURITY_POLICY } from '../../control/console/http-security.js';
import { createSignInLink } from '../../control/console/sign-in-links.js';
import { POLICY } from '../control/fixtures.js';
import { LINUX, newAgent, runControl, startControl, type Harness, type TestAgent } from '../control/helpers.js';
import { call, postLogin, signInAs } from './helpers.js';

function pretendRemote(h: Harness, event: 'connection' | 'secureConnection', addr: string): void {
  h.server.http.prependListener(event, (s: Socket) => Object.defineProperty(s, 'remoteAddress', { value: addr, configurable: true }));
}

describe('console over plain HTTP (loopback)', () => {
  let h: Harness;
  let token: string;
  const agents: TestAgent[] = [];
  beforeAll(async () => {
    h = await startControl({ policy: POLICY });
    h.addUser('root@example.com', 'admin');
    h.addUser('alice@example.com');
    h.addUser('bob@example.com');
    token = createApiToken(h.store, 'root@example.com').token;
    for (const [user, name] of [['alice@example.com', 'alice-laptop'], ['bob@example.com', 'bob-laptop']]) {
      const a = newAgent(h.url);
      await a.client.register({ authKey: h.key({ user }), hostname: name, hostinfo: LINUX });
      agents.push(a);
    }
  });
  afterAll(async () => {
    for (const a of agents) await a.stop();
    await h.close();
  });

  it('serves the page, its modules and preact/htm from node_modules with a strict CSP and no-store', async () => {
    const page = await call(h.url, 'GET', '/admin/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).toMatch(/default-src 'self'/);
    expect(CONTENT_SECURITY_POLICY).toMatch(/frame-ancestors 'none'/);
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('cache-control')).toBe('no-store');
    const html = String(page.body.text);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/); // no inline script
    expect(html).not.toMatch(/\bstyle=|<style/);
    for (const path of ['/admin/static/app.js', '/admin/static/policy.js', '/admin/vendor/preact.js', '/admin/vendor/hooks.js', '/admin/vendor/htm.js']) {
      const r = await call(h.url, 'GET', path);
      expect(r.status, path).toBe(200);
      expect(r.headers.get('content-type'), path).toMatch(/^text\/javascript/);
      expect(r.headers.get('content-security-policy'), path).toBe(CONTENT_SECURITY_POLICY);
    }
    const hooks = String((await call(h.url, 'GET', '/admin/vendor/hooks.js')).body.text);
    expect(hooks).toContain('from"./preact.js"');
    expect(hooks).not.toMatch(/from\s*"preact"/);
    for (const path of ['/admin/static/../server.ts', '/admin/static/nope.js', '/admin/vendor/react.js', '/admin/static/%2e%2e%2fserver.ts', '/admin/other']) {
      expect((await call(h.url, 'GET', path)).status, path).toBe(404);
    }
  });

  it('an admin token signs in: the cookie is HttpOnly, SameSite=Strict, not Secure without TLS', async () => {
    const r = await postLogin(h.url, { token });
    expect(r.status).toBe(303);
    expect(r.location).toBe('/admin/');
    expect(r.setCookie).toMatch(/^gw_console=[A-Za-z0-9_-]{40,};/);
    const flags = r.setCookie!.split(';').map((s) => s.trim());
    expect(flags).toEqual(expect.arrayContaining(['HttpOnly', 'SameSite=Strict', 'Path=/']));
    expect(flags).not.toContain('Secure');
    const s = await call(h.url, 'GET', '/admin/session', { cookie: r.cookie! });
    expect(s.body).toMatchObject({ login: 'root@example.com', role: 'admin', csrf: expect.any(String) });
    expect(s.headers.get('cache-control')).toBe('no-store');
  });

  it("a member's API token signs in to a member session", async () => {
    const r = await postLogin(h.url, { token: createApiToken(h.store, 'bob@example.com').token });
    expect(r.location).toBe('/admin/');
    expect((await call(h.url, 'GET', '/admin/session', { cookie: r.cookie! })).body).toMatchObject({ login: 'bob@example.com', role: 'member' });
  });

  it.each([
    { name: 'a malformed token', form: { token: 'nope' } },
    { name: 'an unknown token', form: { token: 'gwapi-000000000000-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } },
    { name: 'a malformed link', form: { link: 'gwlnk-x' } },
    { name: 'nothing', form: {} },
  ])('$name does not sign in', async ({ form }) => {
    const r = await postLogin(h.url, form);
    expect(r).toMatchObject({ status: 303, location: '/admin/?signin=failed', cookie: null });
  });

  it('a sign-in form posted from another origin is refused', async () => {
    const r = await postLogin(h.url, { token }, { origin: 'https://evil.example' });
    expect(r.status).toBe(403);
    expect(r.cookie).toBeNull();
  });

  it('a one-time link works once; expired links and links of a demoted session user stop working', async () => {
    const bob = h.store.userByLogin('bob@example.com')!;
    const link = createSignInLink(h.store, bob);
    const first = await postLogin(h.url, { link: link.secret });
    expect(first.status).toBe(303);
    expect(first.location).toBe('/admin/');
    expect(first.cookie).not.toBeNull();
    const again = await postLogin(h.url, { link: link.secret });
    expect(again).toMatchObject({ location: '/admin/?signin=failed', cookie: null });
    const expired = createSignInLink(h.store, bob, 60_000, Date.now() - 120_000);
    expect(await postLogin(h.url, { link: expired.secret })).toMatchObject({ location: '/admin/?signin=failed', cookie: null });
    // a wrong secret with a real id does not burn the link
    const real = createSignInLink(h.store, bob);
    expect(await postLogin(h.url, { link: real.secret.slice(0, -4) + 'AAAA' })).toMatchObject({ cookie: null });
    expect((await postLogin(h.url, { link: real.secret })).cookie).not.toBeNull();
    // only the hash is stored
    const rows = h.store.db.prepare('SELECT * FROM console_links').all();
    expect(JSON.stringify(rows)).not.toContain(link.secret.split('-')[2]);
  });

  const WRITES: { method: string; path: string; body?: unknown }[] = [
    { method: 'POST', path: '/api/v1/keys', body: { user: 'alice@example.com' } },
    { method: 'DELETE', path: '/api/v1/keys/000000000000' },
    { method: 'PUT', path: '/api/v1/nodes/alice-laptop/tags', body: { tags: [] } },
    { method: 'PUT', path: '/api/v1/nodes/alice-laptop/attrs/custom:x', body: { value: true } },
    { method: 'DELETE', path: '/api/v1/nodes/bob-laptop' },
    { method: 'POST', path: '/api/v1/users', body: { login: 'eve@example.com' } },
    { method: 'PUT', path: '/api/v1/users/bob@example.com', body: { role: 'admin' } },
    { method: 'POST', path: '/api/v1/policy', body: POLICY },
  ];

  it.each(WRITES)('$method $path with the session cookie but no CSRF token → 403, and nothing changes', async (w) => {
    const { cookie, csrf } = await signInAs(h.url, h.store, 'root@example.com');
    const policyBefore = h.server.coordinator.policyVersion;
    const keysBefore = h.store.listAuthKeys().length;
    for (const bad of [undefined, 'wrong', csrf.slice(1)]) {
      const r = await call(h.url, w.method, w.path, { cookie, csrf: bad, body: w.body });
      expect(r.status).toBe(403);
      expect(r.body.code).toBe('csrf');
    }
    // the right token, but sent from another origin
    expect((await call(h.url, w.method, w.path, { cookie, csrf, body: w.body, origin: 'http://evil.example' })).status).toBe(403);
    expect(h.server.coordinator.policyVersion).toBe(policyBefore);
    expect(h.store.listAuthKeys()).toHaveLength(keysBefore);
    expect(h.store.userByLogin('eve@example.com')).toBeNull();
    expect(h.store.userByLogin('bob@example.com')?.role).toBe('member');
    expect(h.store.nodeByHostname('bob-laptop')).not.toBeNull();
  });

  it('with its CSRF token (from the same origin) the session writes like a bearer token', async () => {
    const { cookie, csrf } = await signInAs(h.url, h.store, 'root@example.com');
    const r = await call(h.url, 'POST', '/api/v1/keys', { cookie, csrf, body: { user: 'alice@example.com' }, origin: h.url });
    expect(r.status).toBe(200);
    expect(r.body.key).toMatch(/^gwkey-/);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const d = await call(h.url, 'DELETE', `/api/v1/keys/${String(r.body.id)}`, { cookie, csrf });
    expect(d.status).toBe(200);
    // another session's token is not this one's
    const other = await signInAs(h.url, h.store, 'root@example.com');
    expect((await call(h.url, 'GET', '/api/v1/nodes', { cookie, csrf: other.csrf })).status).toBe(403);
  });

  it('a member sees only their own devices and is refused every admin endpoint', async () => {
    const { cookie, csrf } = await signInAs(h.url, h.store, 'alice@example.com');
    const me = await call(h.url, 'GET', '/api/v1/me', { cookie, csrf });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ login: 'alice@example.com', role: 'member' });
    expect((me.body.nodes as { name: string }[]).map((n) => n.name)).toEqual(['alice-laptop']);
    const admin: { method: string; path: string; body?: unknown }[] = [
      { method: 'GET', path: '/api/v1/nodes' },
      { method: 'GET', path: '/api/v1/users' },
      { method: 'GET', path: '/api/v1/keys' },
      { method: 'GET', path: '/api/v1/policy' },
      { method: 'GET', path: '/api/v1/stats' },
      { method: 'POST', path: '/api/v1/policy/check', body: POLICY },
      ...WRITES,
    ];
    for (const w of admin) {
      const r = await call(h.url, w.method, w.path, { cookie, csrf, body: w.body });
      expect(r.status, `${w.method} ${w.path}`).toBe(403);
      expect(r.body.code).toBe('forbidden');
    }
    expect(h.store.userByLogin('bob@example.com')?.role).toBe('member');
  });

  it('signing out ends the session; a write to logout needs the CSRF token', async () => {
    const { cookie, csrf } = await signInAs(h.url, h.store, 'root@example.com');
    expect((await call(h.url, 'POST', '/admin/logout', { cookie })).status).toBe(403);
    expect((await call(h.url, 'GET', '/admin/session', { cookie })).status).toBe(200);
    const out = await call(h.url, 'POST', '/admin/logout', { cookie, csrf });
    expect(out.status).toBe(303);
    expect(out.headers.get('set-cookie')).toMatch(/Max-Age=0/);
    expect((await call(h.url, 'GET', '/admin/session', { cookie })).status).toBe(401);
    expect((await call(h.url, 'GET', '/api/v1/nodes', { cookie, csrf })).status).toBe(401);
  });

  it('demoting the signed-in admin takes effect on the next call', async () => {
    h.addUser('ops@example.com', 'admin');
    const { cookie, csrf } = await signInAs(h.url, h.store, 'ops@example.com');
    expect((await call(h.url, 'GET', '/api/v1/nodes', { cookie, csrf })).status).toBe(200);
    h.store.setUserRole(h.store.userByLogin('ops@example.com')!.id, 'member');
    expect((await call(h.url, 'GET', '/api/v1/nodes', { cookie, csrf })).status).toBe(403);
  });

  it('policy check reports diagnostics at line:col; preview says who can reach what', async () => {
    const { cookie, csrf } = await signInAs(h.url, h.store, 'root@example.com');
    const bad = POLICY.replace('"tag:web"]', '"tag:nope"]');
    const chk = await call(h.url, 'POST', '/api/v1/policy/check', { cookie, csrf, body: bad });
    expect(chk.status).toBe(200);
    expect(chk.body.ok).toBe(false);
    const line = bad.split('\n').findIndex((l) => l.includes('tag:nope')) + 1;
    expect(chk.body.diagnostics).toEqual([expect.objectContaining({ line, col: expect.any(Number), message: expect.stringContaining('tag:nope') })]);
    expect((await call(h.url, 'POST', '/api/v1/policy/check', { cookie, csrf, body: POLICY })).body).toEqual({ ok: true, diagnostics: [] });
    // a draft that lets everyone reach alice-laptop on tcp/22
    const draft = POLICY.replace('"grants": [', '"grants": [\n    {"src": ["autogroup:member"], "dst": ["alice@example.com"], "ip": ["tcp:22"]},');
    const pv = await call(h.url, 'POST', '/api/v1/policy/preview?node=alice-laptop', { cookie, csrf, body: draft });
    expect(pv.status).toBe(200);
    expect(pv.body.draft).toEqual({ node: 'alice-laptop', inbound: [{ peer: 'bob-laptop', owner: 'bob@example.com', access: ['tcp:22'] }], outbound: [] });
    expect(pv.body.active).toEqual({ node: 'alice-laptop', inbound: [], outbound: [] });
    const out = await call(h.url, 'POST', '/api/v1/policy/preview?node=bob-laptop', { cookie, csrf, body: draft });
    expect((out.body.draft as { outbound: unknown }).outbound).toEqual([{ peer: 'alice-laptop', owner: 'alice@example.com', access: ['tcp:22'] }]);
    expect((await call(h.url, 'POST', '/api/v1/policy/preview?node=nope', { cookie, csrf, body: draft })).status).toBe(404);
    expect(h.server.coordinator.activePolicy.text).toBe(POLICY);
  });

  it('the events stream needs a session and reports changes', async () => {
    expect((await call(h.url, 'GET', '/admin/events')).status).toBe(401);
    const { cookie } = await signInAs(h.url, h.store, 'root@example.com');
    const ac = new AbortController();
    const res = await fetch(new URL('/admin/events', h.url), { headers: { cookie }, signal: ac.signal });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    h.addUser('carol@example.com');
    let text = '';
    while (!text.includes('event: change')) text += new TextDecoder().decode((await reader.read()).value);
    expect(text).toMatch(/data: \{"kinds":\[[^\]]*"user"/);
    ac.abort();
  });

  it('CLI: control console link --as prints a link that signs in once', async () => {
    const r = await runControl(['console', 'link', '--as', 'bob@example.com', '--url', h.url, '--state', h.statePath]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/one-time sign-in for bob@example.com, valid until/);
    const m = /^(http:\/\/127\.0\.0\.1:\d+)\/admin\/#link=(gwlnk-\S+)\n$/.exec(r.stdout);
    expect(m?.[1]).toBe(h.url);
    expect((await postLogin(h.url, { link: m![2] })).cookie).not.toBeNull();
    expect((await postLogin(h.url, { link: m![2] })).cookie).toBeNull();
    expect((await runControl(['console', 'link', '--as', 'nobody@example.com', '--state', h.statePath])).code).toBe(1);
  }, 30_000);
});

describe('console refused to non-loopback callers without TLS', () => {
  it.each(['192.0.2.7', '::ffff:198.51.100.3', '2001:db8::1'])('%s gets 403 tls_required for every console route', async (addr) => {
    const h = await startControl({ policy: POLICY });
    try {
      h.addUser('root@example.com', 'admin');
      const token = createApiToken(h.store, 'root@example.com').token;
      pretendRemote(h, 'connection', addr);
      for (const [method, path] of [['GET', '/admin'], ['GET', '/admin/'], ['GET', '/admin/static/app.js'], ['GET', '/admin/vendor/preact.js'], ['GET', '/admin/session'], ['GET', '/admin/events']]) {
        const r = await call(h.url, method, path);
        expect(r.status, path).toBe(403);
        expect(r.body.code).toBe('tls_required');
      }
      const login = await postLogin(h.url, { token });
      expect(login.status).toBe(403);
      expect(login.cookie).toBeNull();
    } finally {
      await h.close();
    }
  });
});

describe('console over TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gwc-tls-'));
  let h: Harness;
  let ca = '';
  beforeAll(async () => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=grantwire-test',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    ca = readFileSync(join(dir, 'cert.pem'), 'utf8');
    h = await startControl({ policy: POLICY, tls: { cert: ca, key: readFileSync(join(dir, 'key.pem'), 'utf8') } });
    h.addUser('root@example.com', 'admin');
    pretendRemote(h, 'secureConnection', '203.0.113.9');
  });
  afterAll(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is served to any address, and the cookie is Secure with the __Host- prefix', async () => {
    expect((await call(h.url, 'GET', '/admin/', { ca })).status).toBe(200);
    const r = await postLogin(h.url, { token: createApiToken(h.store, 'root@example.com').token }, { ca });
    expect(r.status).toBe(303);
    expect(r.setCookie).toMatch(/^__Host-gw_console=/);
    expect(r.setCookie!.split(';').map((s) => s.trim())).toEqual(expect.arrayContaining(['HttpOnly', 'SameSite=Strict', 'Secure', 'Path=/']));
    const { cookie, csrf } = await signInAs(h.url, h.store, 'root@example.com', ca);
    expect((await call(h.url, 'GET', '/api/v1/nodes', { cookie, csrf, ca })).status).toBe(200);
    expect((await call(h.url, 'POST', '/api/v1/policy', { cookie, body: POLICY, ca })).status).toBe(403);
    // the plain-HTTP cookie name means nothing here
    expect((await call(h.url, 'GET', '/admin/session', { cookie: cookie.replace('__Host-', ''), ca })).status).toBe(401);
  });
});
