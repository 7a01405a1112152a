// LocalAPI over a real unix socket in a temp dir, with a fake backend and an injected peer-uid source
// (SO_PEERCRED needs the native addon; here the test decides which uid the caller "is").
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { spawn } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessDeniedError, LocalApiError, LocalClient, PeerNotFoundError } from './client.js';
import { FakeBackend, syntheticNetmap } from './fake-backend.js';
import { LocalApiServer, whoisAddrParam } from './server.js';
import type { WatchEvent } from './types.js';
import { seededRng } from '../types/seeded-rng.js';

const OPERATOR = 4242;
const STRANGER = 1234;

/** Raw HTTP on the socket, for headers the typed client never sends. */
function raw(socketPath: string, path: string, headers: Record<string, string>, method = 'GET'): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath, path, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('LocalAPI server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-localapi-'));
  const socketPath = join(dir, 'run', 'agentd.sock');
  const backend = new FakeBackend(syntheticNetmap(10), (src, dst) =>
    src === '100.64.0.3' && dst === '100.64.0.1' ? { 'example.com/cap/tailsql': [{ dataSrc: ['warehouse'] }] } : null,
  );
  // The uid each connection presents is chosen by the test through this variable.
  let callerUid: number | null = STRANGER;
  const server = new LocalApiServer({ socketPath, backend, peerUid: () => callerUid, daemonUid: 999, operatorUid: OPERATOR });
  const client = new LocalClient({ socketPath, connections: 1 });

  beforeAll(async () => {
    await server.listen();
  });
  afterAll(async () => {
    await client.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh client per uid, since the uid is read once per connection. */
  async function as<T>(uid: number | null, fn: (c: LocalClient) => Promise<T>): Promise<T> {
    callerUid = uid;
    const c = new LocalClient({ socketPath, connections: 1 });
    try {
      return await fn(c);
    } finally {
      await c.close();
    }
  }

  it('creates the socket 0666 in a 0755 directory', () => {
    expect(statSync(socketPath).mode & 0o777).toBe(0o666);
    expect(statSync(join(dir, 'run')).mode & 0o777).toBe(0o755);
  });

  describe('permissions by peer uid', () => {
    it.each([
      { name: 'stranger', uid: STRANGER, write: false },
      { name: 'unknown uid (no SO_PEERCRED) fails closed', uid: null, write: false },
      { name: 'root', uid: 0, write: true },
      { name: "daemon's own uid", uid: 999, write: true },
      { name: 'operator', uid: OPERATOR, write: true },
    ])('$name', async ({ uid, write }) => {
      await as(uid, async (c) => {
        expect((await c.whois('100.64.0.2')).Node.ID).toBe(2);
        expect((await c.status()).BackendState).toBeDefined();
        expect((await c.prefs()).ControlURL).toContain('http');
        expect(await c.metrics()).toContain('grantwire_test_total 1');
        for (const op of [() => c.up({ ControlURL: 'http://x' }), () => c.down(), () => c.logout(), () => c.patchPrefs({ ShieldsUp: true })]) {
          if (write) await expect(op()).resolves.not.toThrow();
          else await expect(op()).rejects.toBeInstanceOf(AccessDeniedError);
        }
      });
    });
  });

  describe('browser and host checks', () => {
    it.each([
      { name: 'Origin', headers: { host: 'local-agentd.sock', origin: 'http://evil.example' }, status: 403 },
      { name: 'Referer', headers: { host: 'local-agentd.sock', referer: 'http://evil.example/x' }, status: 403 },
      { name: 'wrong Host', headers: { host: 'evil.example' }, status: 403 },
      { name: 'right Host', headers: { host: 'local-agentd.sock' }, status: 200 },
    ])('$name → $status', async ({ headers, status }) => {
      const r = await raw(socketPath, '/localapi/v0/status', headers as unknown as Record<string, string>);
      expect(r.status).toBe(status);
      if (status !== 200) expect(JSON.parse(r.body)).toMatchObject({ code: 'forbidden', error: expect.any(String) });
    });
  });

  describe('routing errors', () => {
    const H = { host: 'local-agentd.sock' };
    it.each([
      { path: '/localapi/v0/nope', method: 'GET', status: 404, code: 'not_found' },
      { path: '/', method: 'GET', status: 404, code: 'not_found' },
      { path: '/localapi/v1/status', method: 'GET', status: 404, code: 'not_found' },
      { path: '/localapi/v0/status', method: 'POST', status: 405, code: 'method_not_allowed' },
      { path: '/localapi/v0/up', method: 'GET', status: 405, code: 'method_not_allowed' },
      { path: '/localapi/v0/whois', method: 'GET', status: 400, code: 'bad_request' },
      { path: '/localapi/v0/whois?addr=', method: 'GET', status: 400, code: 'bad_request' },
      { path: '/localapi/v0/whois?addr=banana', method: 'GET', status: 400, code: 'bad_request' },
      { path: '/localapi/v0/whois?addr=100.64.9.9', method: 'GET', status: 404, code: 'not_found' },
      { path: '/localapi/v0/explain?dst=1.2.3.4', method: 'GET', status: 400, code: 'bad_request' },
      { path: '/localapi/v0/explain?src=1.2.3.4&dst=1.2.3.5&proto=bogus', method: 'GET', status: 400, code: 'bad_request' },
    ])('$method $path → $status', async ({ path, method, status, code }) => {
      const r = await raw(socketPath, path, H, method);
      expect(r.status).toBe(status);
      expect(JSON.parse(r.body)).toMatchObject({ code, error: expect.any(String) });
      if (status === 405) expect(r.headers.allow).toBeTruthy();
    });

    it("missing addr says so", async () => {
      const r = await raw(socketPath, '/localapi/v0/whois', H);
      expect(JSON.parse(r.body).error).toBe("missing 'addr' parameter");
    });

    it('unknown address → PeerNotFoundError "no match for IP:port"', async () => {
      const err = await client.whois('100.64.200.1:443').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PeerNotFoundError);
      expect((err as Error).message).toBe('no match for IP:port');
    });

    it('bad prefs PATCH body → 400 LocalApiError', async () => {
      await as(0, async (c) => {
        const err = await c.patchPrefs({ Bogus: 1 } as never).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(LocalApiError);
        expect((err as LocalApiError).status).toBe(400);
      });
    });
  });

  // Issue 10 item 1: hostile request lines over the raw socket get a 4xx (or a closed connection) and
  // the server keeps answering.
  describe('malformed requests', () => {
    const line = (l: string, ...h: string[]): string => `${l}\r\nHost: local-agentd.sock\r\n${h.map((x) => x + '\r\n').join('')}Connection: close\r\n\r\n`;
    it.each([
      { name: 'absolute-form with an unclosed IPv6 bracket', req: line('GET http://[/ HTTP/1.1') },
      { name: 'absolute-form with port 99999', req: line('GET http://a:99999/localapi/v0/status HTTP/1.1') },
      { name: 'absolute-form with a bad percent-escape', req: line('GET http://%zz/ HTTP/1.1') },
      { name: 'absolute-form with an empty host', req: line('GET http:/// HTTP/1.1') },
      { name: 'whois with a bad percent-escape', req: line('GET /localapi/v0/whois?addr=%zz HTTP/1.1') },
      { name: 'a NUL in the target', req: line('GET /localapi/v0/\u0000 HTTP/1.1') },
      { name: 'a header line without a colon', req: line('GET /localapi/v0/status HTTP/1.1', 'garbage') },
    ])('$name', async ({ req }) => {
      const got = await new Promise<string>((resolve) => {
        const s = netConnect(socketPath);
        let t = '';
        s.on('data', (d: Buffer) => (t += d.toString('latin1')));
        s.on('close', () => resolve(t));
        s.on('error', () => resolve(t));
        s.write(req);
        setTimeout(() => s.destroy(), 2000).unref();
      });
      if (got !== '') expect(got).toMatch(/^HTTP\/1\.1 4\d\d /);
      callerUid = STRANGER;
      const r = await raw(socketPath, '/localapi/v0/status', { host: 'local-agentd.sock' });
      expect(r.status).toBe(200);
    });
  });

  describe('whois', () => {
    it.each([
      { addr: '100.64.0.3', id: 3 },
      { addr: '100.64.0.3:51234', id: 3 },
      { addr: '[fd7a:115c:a1e0::3]:443', id: 3 },
      { addr: 'fd7a:115c:a1e0::3', id: 3 },
      { addr: `nodekey:${(5).toString(16).padStart(64, '0')}`, id: 5 },
    ])('$addr', async ({ addr, id }) => {
      const who = await client.whois(addr);
      expect(who.Node.ID).toBe(id);
    });

    it('tagged node shows tagged-devices and its tags, with capabilities toward us', async () => {
      const who = await client.whois('100.64.0.3');
      expect(who.UserProfile.LoginName).toBe('tagged-devices');
      expect(who.Node.Tags).toEqual(['tag:prod-server']);
      expect(who.CapMap).toEqual({ 'example.com/cap/tailsql': [{ dataSrc: ['warehouse'] }] });
    });

    it('user node shows its user, CapMap null without capabilities', async () => {
      const who = await client.whois('100.64.0.2');
      expect(who.UserProfile.LoginName).toBe('alice@example.com');
      expect(who.CapMap).toBeNull();
      expect(who.Node.Name).toBe('node-2.example.grantwire.');
      expect(who.Node.Addresses).toEqual(['100.64.0.2/32', 'fd7a:115c:a1e0::2/128']);
    });
  });

  it('status has Self and peers keyed by node key; ?peers=false omits them', async () => {
    const st = await client.status();
    expect(st.Self?.HostName).toBe('node-1');
    expect(Object.keys(st.Peer ?? {})).toHaveLength(10);
    const tagged = Object.values(st.Peer ?? {}).find((p) => p.HostName === 'node-3');
    expect(tagged?.Tags).toEqual(['tag:prod-server']);
    expect((await client.status({ peers: false })).Peer).toBeUndefined();
  });

  it('explain passes the parsed query to the backend', async () => {
    const r = await client.explain({ src: '100.64.0.2', dst: '100.64.0.1', proto: 6, dport: 22 });
    expect(r.Query).toEqual({ src: '100.64.0.2', dst: '100.64.0.1', proto: 6, dport: 22 });
  });

  it('metrics is Prometheus text', async () => {
    const r = await raw(socketPath, '/localapi/v0/metrics', { host: 'local-agentd.sock' });
    expect(r.headers['content-type']).toContain('text/plain; version=0.0.4');
  });

  it('watch streams NDJSON events, starting with the current state', async () => {
    const ac = new AbortController();
    const seen: WatchEvent[] = [];
    const c = new LocalClient({ socketPath });
    const done = (async () => {
      for await (const ev of c.watch(ac.signal)) {
        seen.push(ev);
        if (seen.length === 1) backend.emit({ Type: 'peer', Key: 'nodekey:00', HostName: 'x', Online: false });
        if (seen.length === 2) ac.abort();
      }
    })();
    await done;
    await c.close();
    expect(seen[0]).toMatchObject({ Type: 'state' });
    expect(seen[1]).toEqual({ Type: 'peer', Key: 'nodekey:00', HostName: 'x', Online: false });
  });

  it('up failure carries control’s reason', async () => {
    backend.upFailure = 'requested tags [tag:x] are invalid or not permitted';
    try {
      await as(0, async (c) => {
        const err = await c.up({ ControlURL: 'http://x', AdvertiseTags: ['tag:x'] }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(LocalApiError);
        expect((err as Error).message).toBe('requested tags [tag:x] are invalid or not permitted');
      });
    } finally {
      backend.upFailure = null;
    }
  });
});

describe('socket claiming', () => {
  it('refuses to start when a live daemon listens: address already in use', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-localapi-'));
    const socketPath = join(dir, 'agentd.sock');
    const first = new LocalApiServer({ socketPath, backend: new FakeBackend(null) });
    await first.listen();
    const second = new LocalApiServer({ socketPath, backend: new FakeBackend(null) });
    await expect(second.listen()).rejects.toThrow(/address already in use/);
    await first.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('removes a stale socket file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-localapi-'));
    const socketPath = join(dir, 'agentd.sock');
    // Leave a socket file behind with nobody listening: a listener that dies by SIGKILL never unlinks.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('up'))`]);
    await new Promise<void>((r) => child.stdout.once('data', () => r()));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    expect(statSync(socketPath).isSocket()).toBe(true);
    const srv = new LocalApiServer({ socketPath, backend: new FakeBackend(null) });
    await srv.listen();
    const c = new LocalClient({ socketPath });
    expect((await c.status()).BackendState).toBe('Running');
    await c.close();
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to replace a regular file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-localapi-'));
    const socketPath = join(dir, 'agentd.sock');
    writeFileSync(socketPath, 'not a socket');
    const srv = new LocalApiServer({ socketPath, backend: new FakeBackend(null) });
    await expect(srv.listen()).rejects.toThrow(/not a socket/);
    rmSync(dir, { recursive: true, force: true });
  });
});

// The whois fast path reads `addr` without URLSearchParams; it must agree with URLSearchParams on every
// input (differential, seeded random query strings over the characters that matter: %, +, &, =).
describe('whoisAddrParam', () => {
  it.each([
    'addr=100.64.0.2:443',
    'addr=%5Bfd7a%3A115c%3Aa1e0%3A%3A2%5D%3A80',
    'addr=a+b',
    'addr=%ZZ',
    'addr=%E0%A4%A',
    'addr=',
    '',
    'x=1&addr=2',
    'addr=1&addr=2',
    'addr',
    'ADDR=1',
  ])('%j agrees with URLSearchParams', (q) => {
    expect(whoisAddrParam(q)).toBe(new URLSearchParams(q).get('addr'));
  });

  it('agrees with URLSearchParams on 20,000 random query strings', () => {
    const rnd = seededRng(0x9e3779b9);
    const alphabet = ['a', '1', '.', ':', '[', ']', '%', '%2', '%3A', '%C3%A9', '%ZZ', '+', '&', '=', 'addr='];
    for (let i = 0; i < 20_000; i++) {
      let q = rnd() < 0.8 ? 'addr=' : '';
      const n = Math.floor(rnd() * 8);
      for (let k = 0; k < n; k++) q += alphabet[Math.floor(rnd() * alphabet.length)];
      expect(whoisAddrParam(q), q).toBe(new URLSearchParams(q).get('addr'));
    }
  });
});
