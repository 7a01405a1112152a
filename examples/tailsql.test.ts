// The example app's authorization, end to end over a real LocalAPI socket with a fake backend whose
// capsFor plays the policy: analyst gets the warehouse, prod gets everything, alice nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalClient } from '../localapi/client.js';
import { FakeBackend, syntheticNetmap } from '../localapi/fake-backend.js';
import { LocalApiServer } from '../localapi/server.js';
import { allowedSources } from './tailsql-auth.js';
import { createTailsqlHandler } from './tailsql.js';

describe('allowedSources', () => {
  const ALL = ['warehouse', 'finance', 'prod-db'];
  it.each([
    { name: 'no capmap', cap: null, want: null },
    { name: 'other capability only', cap: { 'example.com/cap/other': [{}] }, want: null },
    { name: 'warehouse', cap: { 'example.com/cap/tailsql': [{ dataSrc: ['warehouse'] }] }, want: ['warehouse'] },
    { name: 'star', cap: { 'example.com/cap/tailsql': [{ dataSrc: ['*'] }] }, want: ALL },
    { name: 'union of grants, unknown ignored', cap: { 'example.com/cap/tailsql': [{ dataSrc: ['finance'] }, { dataSrc: ['warehouse', 'nope'] }] }, want: ['warehouse', 'finance'] },
    { name: 'malformed values', cap: { 'example.com/cap/tailsql': [null, 'x', { dataSrc: 'warehouse' }] as unknown[] }, want: [] },
  ])('$name', ({ cap, want }) => {
    expect(allowedSources(cap as Record<string, unknown[]> | null, ALL)).toEqual(want);
  });
});

describe('tailsql handler over the LocalAPI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-tailsql-'));
  const socketPath = join(dir, 'agentd.sock');
  // Peers 100.64.0.2 (analyst), 100.64.0.3 (prod), 100.64.0.4 (no capability); the caller address is
  // faked by giving the handler a socket whose remoteAddress we choose.
  const nm = syntheticNetmap(3);
  const backend = new FakeBackend(nm, (src) =>
    src === '100.64.0.2' ? { 'example.com/cap/tailsql': [{ dataSrc: ['warehouse'] }] } : src === '100.64.0.3' ? { 'example.com/cap/tailsql': [{ dataSrc: ['*'] }] } : null,
  );
  const api = new LocalApiServer({ socketPath, backend });
  const client = new LocalClient({ socketPath });
  let app: Server;
  let callerIP = '100.64.0.2';
  let appPort = 0;

  beforeAll(async () => {
    await api.listen();
    const handler = createTailsqlHandler(client);
    app = createServer((req, res) => {
      // Pretend the connection came from the tailnet address under test.
      Object.defineProperty(req.socket, 'remoteAddress', { value: callerIP, configurable: true });
      void handler(req, res);
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    appPort = (app.address() as { port: number }).port;
  });
  afterAll(async () => {
    app.close();
    await client.close();
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: appPort, path, agent: false }, (res) => {
        let t = '';
        res.on('data', (c) => (t += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(t) as Record<string, unknown> }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it.each([
    { caller: '100.64.0.2', path: '/', status: 200, sources: ['warehouse'] },
    { caller: '100.64.0.2', path: '/query?src=warehouse', status: 200 },
    { caller: '100.64.0.2', path: '/query?src=finance', status: 403 },
    { caller: '100.64.0.3', path: '/', status: 200, sources: ['warehouse', 'finance', 'prod-db'] },
    { caller: '100.64.0.3', path: '/query?src=prod-db', status: 200 },
    { caller: '100.64.0.4', path: '/', status: 403 },
    { caller: '100.64.0.4', path: '/query?src=warehouse', status: 403 },
    { caller: '10.9.9.9', path: '/', status: 403 },
    // malformed absolute-form targets (issue 10 item 1): 400, never a thrown error
    { caller: '100.64.0.2', path: 'http://[/', status: 400 },
    { caller: '100.64.0.2', path: 'http://a:99999/', status: 400 },
    { caller: '100.64.0.2', path: 'http://%zz/', status: 400 },
  ])('$caller $path → $status', async ({ caller, path, status, sources }) => {
    callerIP = caller;
    const r = await get(path);
    expect(r.status).toBe(status);
    if (sources) expect(r.body.sources).toEqual(sources);
  });
});
