// Issue 10 item 12: the LocalAPI socket is world-writable, so one local user must not exhaust the daemon:
// concurrent connections are capped (extra ones are closed on accept), `watch` streams are capped (503),
// and a watcher that stops reading is dropped once it is maxWatchBufferBytes behind, not buffered forever.
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeBackend, syntheticNetmap } from './fake-backend.js';
import { LocalApiServer, type LocalApiServerOptions } from './server.js';

const H = 'Host: local-agentd.sock\r\n';
let cleanup: (() => Promise<void>) | null = null;
afterEach(async () => {
  await cleanup?.();
  cleanup = null;
});

async function serve(o: Partial<LocalApiServerOptions>): Promise<{ server: LocalApiServer; backend: FakeBackend; socketPath: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-limits-'));
  const socketPath = join(dir, 'agentd.sock');
  const backend = new FakeBackend(syntheticNetmap(3), () => null);
  const server = new LocalApiServer({ socketPath, backend, ...o });
  await server.listen();
  cleanup = async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { server, backend, socketPath };
}

function get(socketPath: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath, path, agent: false, headers: { host: 'local-agentd.sock' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

function post(socketPath: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath, path, method: 'POST', agent: false, headers: { host: 'local-agentd.sock' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

async function until(pred: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * A connection that sent `raw` and then stops reading; resolves once the first bytes arrived (or it closed),
 * or after `quietMs` without any (a request still being answered).
 */
function stalled(socketPath: string, raw: string, quietMs?: number): Promise<{ s: Socket; first: string; closed: Promise<void> }> {
  return new Promise((resolve) => {
    const s = connect(socketPath);
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.once('data', (d: Buffer) => {
      s.pause();
      resolve({ s, first: d.toString('latin1'), closed });
    });
    s.once('close', () => resolve({ s, first: '', closed }));
    s.on('error', () => {});
    s.write(raw);
    if (quietMs !== undefined) setTimeout(() => resolve({ s, first: '', closed }), quietMs);
  });
}

describe('LocalAPI limits', () => {
  it('closes connections over maxConnections and serves again when one ends', async () => {
    const { socketPath } = await serve({ maxConnections: 2 });
    const idle = await Promise.all([0, 1].map(() => new Promise<Socket>((r) => { const s = connect(socketPath, () => r(s)); })));
    await new Promise((r) => setTimeout(r, 50));
    const extra = await stalled(socketPath, `GET /localapi/v0/status HTTP/1.1\r\n${H}\r\n`);
    expect(extra.first).toBe('');
    idle[0].destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(await get(socketPath, '/localapi/v0/status')).toBe(200);
    idle[1].destroy();
  });

  it('answers 503 to a watch over maxWatchers', async () => {
    const { server, socketPath } = await serve({ maxWatchers: 2 });
    const watchers = [await stalled(socketPath, `GET /localapi/v0/watch HTTP/1.1\r\n${H}\r\n`), await stalled(socketPath, `GET /localapi/v0/watch HTTP/1.1\r\n${H}\r\n`)];
    for (const w of watchers) expect(w.first).toMatch(/^HTTP\/1\.1 200 /);
    expect(server.watcherCount).toBe(2);
    expect(await get(socketPath, '/localapi/v0/watch')).toBe(503);
    watchers[0].s.destroy();
    await watchers[0].closed;
    await new Promise((r) => setTimeout(r, 50));
    expect(server.watcherCount).toBe(1);
    watchers[1].s.destroy();
  });

  it('answers 503 to a ping over maxPings in flight, and serves pings again once one ends', async () => {
    const { server, backend, socketPath } = await serve({ maxPings: 2 });
    backend.pingNoReply = true;
    const held = [0, 1].map(() => post(socketPath, '/localapi/v0/ping?ip=100.64.0.2&timeout=3000'));
    await until(() => server.pingCount === 2);
    expect(await post(socketPath, '/localapi/v0/ping?ip=100.64.0.2&timeout=1')).toBe(503);
    backend.pingNoReply = false;
    expect(await Promise.all(held)).toEqual([504, 504]);
    expect(server.pingCount).toBe(0);
    expect(await post(socketPath, '/localapi/v0/ping?ip=100.64.0.2')).toBe(200);
  });

  it('stops a ping at once when its client goes away (it does not run to its timeout)', async () => {
    const { server, backend, socketPath } = await serve({});
    backend.pingNoReply = true;
    const w = await stalled(socketPath, `POST /localapi/v0/ping?ip=100.64.0.2&timeout=60000 HTTP/1.1\r\n${H}content-length: 0\r\n\r\n`, 200);
    await until(() => server.pingCount === 1);
    w.s.destroy();
    await w.closed;
    await until(() => backend.pingsCanceled === 1 && server.pingCount === 0);
  });

  it('drops a watcher that does not read instead of buffering without bound', async () => {
    const { server, backend, socketPath } = await serve({ maxWatchBufferBytes: 64 * 1024 });
    const w = await stalled(socketPath, `GET /localapi/v0/watch HTTP/1.1\r\n${H}\r\n`);
    expect(server.watcherCount).toBe(1);
    // ~8 MB of events: far more than the kernel's socket buffer plus the 64 KiB allowance
    for (let i = 0; i < 100_000 && server.watcherCount > 0; i++) {
      backend.emit({ Type: 'peer', Key: `nodekey:${'ab'.repeat(32)}`, HostName: `host-${i}`, Online: i % 2 === 0 });
    }
    expect(server.watcherCount).toBe(0);
    await w.closed;
  });
});
