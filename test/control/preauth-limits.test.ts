// Issue 10 item 5: pre-auth resource limits. Unauthenticated channels are limited globally and per source
// address and time out; the first request is capped at 64 KiB; a node's `update` messages are
// rate-limited (coalesced, the last one always applied); a node has at most one live map stream.
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ControlClient } from '../../control/client.js';
import { memoryLogger } from '../../control/logger.js';
import { parseServerMessage } from '../../control/protocol.js';
import { UpdateLimiter } from '../../control/update-limiter.js';
import { POLICY } from './fixtures.js';
import { LINUX, newAgent, rawChannel, startControl, waitUntil, type Harness } from './helpers.js';

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

/** An HTTP Upgrade to /noise that never starts the handshake: the status, and the socket if upgraded. */
function bareUpgrade(url: string): Promise<{ status: number; socket: Socket | null }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL('/noise', url), { method: 'POST', agent: false, headers: { Connection: 'Upgrade', Upgrade: 'grantwire-noise-v1' } });
    req.on('upgrade', (_res, socket) => resolve({ status: 101, socket }));
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, socket: null });
    });
    req.on('error', reject);
    req.end();
  });
}

async function health(url: string): Promise<number> {
  return (await fetch(new URL('/health', url), { headers: { connection: 'close' } })).status;
}

describe('unauthenticated channels', () => {
  it.each([
    { name: 'per source address', limits: { maxGlobal: 100, maxPerAddress: 3, timeoutMs: 800 }, admitted: 3 },
    { name: 'globally', limits: { maxGlobal: 2, maxPerAddress: 100, timeoutMs: 800 }, admitted: 2 },
  ])('are limited $name, time out, and free their slot', async ({ limits, admitted }) => {
    h = await startControl({ policy: POLICY, preAuth: limits });
    const held: Socket[] = [];
    for (let i = 0; i < admitted; i++) {
      const r = await bareUpgrade(h.url);
      expect(r.status).toBe(101);
      held.push(r.socket as Socket);
    }
    expect((await bareUpgrade(h.url)).status).toBe(503);
    expect(await health(h.url)).toBe(200);
    // the silent channels are cut after timeoutMs
    const closed = held.map((s) => new Promise<void>((r) => s.once('close', () => r())));
    await Promise.all(closed);
    expect(h.server.preAuth.timedOut).toBe(admitted);
    const again = await bareUpgrade(h.url);
    expect(again.status).toBe(101);
    again.socket?.destroy();
  });

  it('an agent refused with 503 retries and gets in once a slot frees', async () => {
    h = await startControl({ policy: POLICY, preAuth: { maxGlobal: 1, maxPerAddress: 1, timeoutMs: 600 } });
    h.addUser('alice@example.com');
    const blocker = await bareUpgrade(h.url);
    expect(blocker.status).toBe(101);
    const a = newAgent(h.url, { connectTimeoutMs: 5000 });
    const { node } = await a.client.register({ authKey: h.key({ user: 'alice@example.com' }), hostname: 'patient', hostinfo: LINUX });
    expect(node.name).toContain('patient');
    expect(h.server.preAuth.refused).toBeGreaterThan(0);
    blocker.socket?.destroy();
  });

  it('a first request over 64 KiB closes the channel without an answer', async () => {
    h = await startControl({ policy: POLICY });
    const { ch } = await rawChannel(h.url);
    const reply = new Promise((resolve) => {
      ch.onMessage((t) => resolve(parseServerMessage(t)));
      ch.onClose(() => resolve('closed'));
    });
    ch.send(JSON.stringify({ type: 'register', nodeKey: 'nodekey:' + '00'.repeat(32), nodeKeyProof: '00', hostname: 'x'.repeat(70 * 1024), hostinfo: {}, requestTags: [] }));
    expect(await reply).toBe('closed');
    // a normal-sized bad request still gets its answer
    const second = await rawChannel(h.url);
    const answer = new Promise((resolve) => {
      second.ch.onMessage((t) => resolve(parseServerMessage(t)));
      second.ch.onClose(() => resolve('closed'));
    });
    second.ch.send(JSON.stringify({ type: 'register', nodeKey: 'nodekey:' + '00'.repeat(32), nodeKeyProof: '00', hostname: 'x', hostinfo: {}, requestTags: [] }));
    expect(await answer).toMatchObject({ type: 'error' });
  });
});

// Found by test/robustness: node:http keeps server sockets half-open, so a peer's FIN alone never ended an
// upgraded socket. A client that hung up mid-handshake held its pre-auth slot (and descriptor) until the
// 10 s timeout, and a map stream's socket stayed open for good after its agent left.
describe('a peer that hangs up', () => {
  const HANG_UPS: { name: string; hangUp: (url: string) => Promise<void> }[] = [
    {
      name: 'right after the upgrade',
      hangUp: async (url) => void (await bareUpgrade(url)).socket?.end(),
    },
    {
      name: 'in the middle of the first frame',
      hangUp: async (url) => {
        const { socket } = await bareUpgrade(url);
        socket?.end(Buffer.from([0, 0, 0, 96, 1, 2, 3]));
      },
    },
    {
      name: 'after the Noise handshake, before its first request',
      hangUp: async (url) => void (await rawChannel(url)).socket.end(),
    },
  ];

  it.each(HANG_UPS)('$name frees its pre-auth slot and socket at once', async ({ hangUp }) => {
    h = await startControl({ policy: POLICY, preAuth: { maxGlobal: 100, maxPerAddress: 100, timeoutMs: 10_000 } });
    const serverSide: Socket[] = [];
    h.server.http.on('upgrade', (_req, s: Socket) => serverSide.push(s));
    await hangUp(h.url);
    await waitUntil(() => serverSide.length === 1 && serverSide[0].destroyed && h?.server.preAuth.pending === 0, 2000, 'slot and socket freed');
    expect(h.server.preAuth.timedOut).toBe(0);
  });

  it("control closes a map stream's socket when the agent leaves", async () => {
    h = await startControl({ policy: POLICY });
    h.addUser('alice@example.com');
    const a = newAgent(h.url);
    await a.client.register({ authKey: h.key({ user: 'alice@example.com' }), hostname: 'leaver', hostinfo: LINUX });
    const serverSide: Socket[] = [];
    h.server.http.on('upgrade', (_req, s: Socket) => serverSide.push(s));
    await a.stream([]);
    expect(serverSide).toHaveLength(1);
    await a.stop();
    await waitUntil(() => serverSide[0].destroyed, 3000, "control's end of the stream closed");
  });
});

describe('registered nodes', () => {
  it('update messages are rate-limited and coalesced; the last one is applied', async () => {
    h = await startControl({ policy: POLICY, updateRate: { burst: 3, intervalMs: 200 } });
    h.addUser('alice@example.com');
    const a = newAgent(h.url);
    await a.client.register({ authKey: h.key({ user: 'alice@example.com' }), hostname: 'chatty', hostinfo: LINUX });
    await a.stream(['192.0.2.1:1']);
    const spy = vi.spyOn(h.server.coordinator, 'updateFromAgent');
    for (let i = 0; i < 50; i++) a.client.updateEndpoints([`192.0.2.1:${1000 + i}`]);
    await new Promise((r) => setTimeout(r, 300));
    // 3 at once, then one per 200 ms: far fewer than 50 in 300 ms
    expect(spy.mock.calls.length).toBeLessThanOrEqual(5);
    await waitUntil(() => h?.store.nodeByHostname('chatty')?.endpoints[0] === '192.0.2.1:1049', 3000, 'last update applied');
    spy.mockRestore();
    await a.stop();
  });

  it('a new map stream for a node replaces the old one', async () => {
    h = await startControl({ policy: POLICY });
    h.addUser('alice@example.com');
    const first = newAgent(h.url);
    await first.client.register({ authKey: h.key({ user: 'alice@example.com' }), hostname: 'twice', hostinfo: LINUX });
    // the first stream through a raw client, so it does not reconnect and fight back
    const log = memoryLogger();
    const old = new ControlClient({ serverUrl: h.url, machinePrivateKey: first.machinePrivateKey, nodePrivateKey: first.nodePrivateKey, logger: log, minBackoffMs: 60_000, maxBackoffMs: 60_000 });
    const ac = new AbortController();
    const got = new Promise((r) => void old.streamMap({ endpoints: [] }, r, ac.signal));
    await got;
    const second = newAgent(h.url, { machine: first.machinePrivateKey, node: first.nodePrivateKey });
    await second.stream();
    await waitUntil(() => log.lines.some((l) => l.includes('map stream failed')), 3000, 'old stream closed');
    expect(h.server.liveStreams.replaced).toBe(1);
    expect(h.server.coordinator.isOnline(h.store.nodeByHostname('twice')!.id)).toBe(true);
    ac.abort();
    await second.stop();
  });
});

describe('UpdateLimiter', () => {
  it('applies a burst, then one per interval, merging fields with the newest winning', () => {
    vi.useFakeTimers();
    try {
      let t = 0;
      const applied: { e?: number; h?: string }[] = [];
      const l = new UpdateLimiter<{ e?: number; h?: string }>((u) => applied.push(u), { burst: 2, intervalMs: 100 }, () => t);
      l.offer({ e: 1 });
      l.offer({ e: 2 });
      l.offer({ e: 3 });
      l.offer({ h: 'x' });
      l.offer({ e: 4, h: undefined });
      expect(applied).toEqual([{ e: 1 }, { e: 2 }]);
      t = 100;
      vi.advanceTimersByTime(100);
      expect(applied).toEqual([{ e: 1 }, { e: 2 }, { e: 4, h: 'x' }]);
      expect(l.coalesced).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });
});
