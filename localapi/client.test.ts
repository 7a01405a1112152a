// The client's whois fast path (its own undici dispatch handler on a Pool, optionally pipelined) must
// behave exactly like the general path: same answers, same typed errors, no mix-ups between requests in
// flight on one connection. Real server, real unix socket, fake backend.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalApiBadResponseError, LocalApiError, LocalApiUnreachableError, LocalClient, PeerNotFoundError } from './client.js';
import { FakeBackend, syntheticNetmap } from './fake-backend.js';
import { LocalApiServer } from './server.js';

const PEERS = 50;
/** Addresses of the synthetic netmap's peers (node i owns 100.64.x.y for i + 2), with a source port. */
const addrOf = (k: number) => `100.64.${((k + 2) >> 8) & 0xff}.${(k + 2) & 0xff}:${40000 + k}`;

describe('LocalClient whois fast path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-localapi-client-'));
  const socketPath = join(dir, 'agentd.sock');
  const backend = new FakeBackend(syntheticNetmap(PEERS));
  const server = new LocalApiServer({ socketPath, backend, peerUid: () => null });

  beforeAll(async () => {
    await server.listen();
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    { name: 'one connection, no pipelining', connections: 1, whoisPipelining: 1 },
    { name: 'one connection, pipelining 8', connections: 1, whoisPipelining: 8 },
    { name: 'four connections, pipelining 4', connections: 4, whoisPipelining: 4 },
    // The one-shot path (agent CLI): whois over node:http, undici never loaded.
    { name: 'no whois Pool, two connections', connections: 2, whoisPipelining: 1, whoisPool: false },
  ])('$name: 400 concurrent lookups each get their own peer (differential vs the backend)', async ({ connections, whoisPipelining, whoisPool }) => {
    const c = new LocalClient({ socketPath, connections, whoisPipelining, whoisPool });
    try {
      const ks = Array.from({ length: 400 }, (_, i) => (i * 7) % PEERS);
      const got = await Promise.all(ks.map((k) => c.whois(addrOf(k))));
      for (let i = 0; i < ks.length; i++) {
        const want = backend.whois({ kind: 'ip', ip: addrOf(ks[i]).split(':')[0], port: null });
        expect(got[i]).toEqual(JSON.parse(JSON.stringify(want)));
      }
    } finally {
      await c.close();
    }
  });

  it.each([
    { name: 'one pipelined connection', opts: { connections: 1, whoisPipelining: 8 } },
    { name: 'no whois Pool', opts: { connections: 1, whoisPool: false } },
  ])('$name: errors interleaved with answers stay typed and in order', async ({ opts }) => {
    const c = new LocalClient({ socketPath, ...opts });
    try {
      const inputs = ['100.64.200.1:443', addrOf(3), 'banana', addrOf(4), '', addrOf(5)];
      const out = await Promise.all(inputs.map((a) => c.whois(a).then((v) => v, (e: unknown) => e)));
      expect(out[0]).toBeInstanceOf(PeerNotFoundError);
      expect((out[0] as Error).message).toBe('no match for IP:port');
      expect((out[1] as { Node: { Name: string } }).Node.Name).toBe(backend.whois({ kind: 'ip', ip: '100.64.0.5', port: null })!.Node.Name);
      expect(out[2]).toBeInstanceOf(LocalApiError);
      expect(out[2]).not.toBeInstanceOf(PeerNotFoundError);
      expect(out[2]).toMatchObject({ status: 400, code: 'ERR_LOCALAPI', wireCode: 'bad_request' });
      expect((out[4] as LocalApiError).message).toBe("missing 'addr' parameter");
      expect((out[5] as { Node: { ID: number } }).Node.ID).toBe(backend.whois({ kind: 'ip', ip: '100.64.0.7', port: null })!.Node.ID);
    } finally {
      await c.close();
    }
  });

  it.each([{ whoisPool: true }, { whoisPool: false }])('no daemon (whoisPool $whoisPool) → LocalApiError status 0 with the socket error code and a hint', async ({ whoisPool }) => {
    const c = new LocalClient({ socketPath: join(dir, 'nobody.sock'), whoisPool });
    try {
      const err = await c.whois(addrOf(0)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LocalApiError);
      expect(err).toBeInstanceOf(LocalApiUnreachableError);
      expect(err).toMatchObject({ status: 0, code: 'ERR_LOCALAPI_UNREACHABLE', wireCode: 'ENOENT', cause: { code: 'ENOENT' } });
      expect((err as Error).message).toMatch(/is the agent daemon running/);
    } finally {
      await c.close();
    }
  });

  it.each([{ whoisPool: true }, { whoisPool: false }])('a 2xx answer that is not JSON (whoisPool $whoisPool) → LocalApiError bad_response, not a crash', async ({ whoisPool }) => {
    const sock = join(dir, `junk-${whoisPool}.sock`);
    const junk = createServer((_req, res) => res.end('<html>'));
    await new Promise<void>((r) => junk.listen(sock, r));
    const c = new LocalClient({ socketPath: sock, whoisPool });
    try {
      const err = await c.whois(addrOf(0)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LocalApiError);
      expect(err).toBeInstanceOf(LocalApiBadResponseError);
      expect(err).toMatchObject({ code: 'ERR_LOCALAPI_BAD_RESPONSE', wireCode: 'bad_response' });
    } finally {
      await c.close();
      await new Promise((r) => junk.close(r));
    }
  });
});

describe('LocalClient and a daemon that is still starting', () => {
  // A daemon claims its socket before it has loaded its state and answers 503 `starting` until then
  // (agent/daemon.ts): the client asks again instead of failing `agent up` right after the daemon starts.
  const cases = [
    { name: '503 starting twice, then the answer: retried', answers: [503, 503, 200], code: 'starting', wantCalls: 3, ok: true },
    { name: '503 with another code: not retried', answers: [503, 200], code: 'too_many_pings', wantCalls: 1, ok: false },
    { name: '500: not retried', answers: [500, 200], code: 'internal', wantCalls: 1, ok: false },
  ];
  it.each(cases)('$name', async ({ answers, code, wantCalls, ok }) => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-localapi-starting-'));
    const socketPath = join(dir, 'agentd.sock');
    let calls = 0;
    const srv = createServer((req, res) => {
      const status = answers[Math.min(calls++, answers.length - 1)];
      req.resume();
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 200 ? JSON.stringify({ BackendState: 'Running' }) : JSON.stringify({ error: 'not now', code }));
    });
    await new Promise<void>((r) => srv.listen(socketPath, r));
    const c = new LocalClient({ socketPath });
    try {
      const got = await c.up({}).then((v) => v, (e: unknown) => e);
      expect(calls).toBe(wantCalls);
      if (ok) expect(got).toEqual({ BackendState: 'Running' });
      else {
        expect(got).toBeInstanceOf(LocalApiError);
        expect((got as LocalApiError).wireCode).toBe(code);
      }
    } finally {
      await c.close();
      await new Promise<void>((r) => srv.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
