// A standalone relay's authorizer against a fake control that can say yes, say no, refuse the secret,
// break (HTTP 500, malformed JSON) or go away entirely: a key control approved keeps working for
// LAST_KNOWN_GOOD_MS after control's last "yes" while control is unreachable; a key control never approved
// never works; a definite "no" (or a refused secret) wins at once and is not undone by a later outage.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { generatePrivateKey, NodePublic, publicKeyFromPrivate } from '../crypto/key.js';
import { RelayClient } from './client.js';
import { AUTHORIZE_PATH, LAST_KNOWN_GOOD_MS, remoteAuthorizer } from './remote-auth.js';
import { StandaloneRelay } from './standalone.js';
import { waitFor } from '../test/netns.js';

const SECRET = 'fake-control-secret-0123456789';
const A = `nodekey:${'a'.repeat(64)}`;
const B = `nodekey:${'b'.repeat(64)}`;

type Mode = 'serve' | 'http500' | 'malformed' | 'forbidden' | 'hang';

/** A fake control: `approved` keys are authorized; `mode` breaks it on purpose; stop() makes it go away. */
class FakeControl {
  approved = new Set<string>();
  mode: Mode = 'serve';
  asked = 0;
  private server: Server | null = null;
  private port = 0;

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        this.asked++;
        if (this.mode === 'hang') return;
        if (req.url !== AUTHORIZE_PATH || req.headers.authorization !== `Bearer ${SECRET}` || this.mode === 'forbidden') {
          res.writeHead(403).end('{"error":"relay secret required"}');
          return;
        }
        if (this.mode === 'http500') return void res.writeHead(500).end('{}');
        if (this.mode === 'malformed') return void res.writeHead(200).end('{"authorized":');
        const key = (JSON.parse(body) as { nodeKey: string }).nodeKey;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ authorized: this.approved.has(key) }));
      });
    });
    await new Promise<void>((r) => server.listen(this.port, '127.0.0.1', r));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Goes away: the port refuses connections. */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    s?.closeAllConnections();
    await new Promise<void>((r) => (s ? s.close(() => r()) : r()));
  }
}

let fake: FakeControl;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await fake?.stop();
});

const until = (pred: () => boolean, ms = 5000): Promise<boolean> => waitFor(pred, ms, 20);

async function setup(): Promise<{ ask: (k: string) => Promise<boolean>; clock: { t: number } }> {
  fake = new FakeControl();
  await fake.start();
  const clock = { t: 1_000_000 };
  const authorize = remoteAuthorizer(fake.url, SECRET, { cacheMs: 100, now: () => clock.t });
  // The relay server treats a rejection as "no".
  const ask = async (k: string): Promise<boolean> => {
    try {
      return await authorize(k);
    } catch {
      return false;
    }
  };
  return { ask, clock };
}

describe('relay/remote-auth: last-known-good when control is unreachable', () => {
  it.each<{ name: string; outage: (f: FakeControl) => Promise<void> }>([
    { name: 'control stopped (connection refused)', outage: (f) => f.stop() },
    { name: 'control answers HTTP 500', outage: async (f) => void (f.mode = 'http500') },
    { name: 'control sends malformed JSON', outage: async (f) => void (f.mode = 'malformed') },
  ])('$name: an approved key is still admitted, a never-approved key is not, and the grace ends', async ({ outage }) => {
    const { ask, clock } = await setup();
    fake.approved.add(A);
    expect(await ask(A)).toBe(true);
    expect(await ask(B)).toBe(false);
    await outage(fake);
    clock.t += 60_000;
    expect(await ask(A)).toBe(true);
    expect(await ask(B)).toBe(false);
    clock.t += LAST_KNOWN_GOOD_MS - 60_000 - 1;
    expect(await ask(A)).toBe(true);
    clock.t += 2;
    expect(await ask(A)).toBe(false); // LAST_KNOWN_GOOD_MS after control's last "yes"
  });

  it('every fresh "yes" restarts the grace period', async () => {
    const { ask, clock } = await setup();
    fake.approved.add(A);
    expect(await ask(A)).toBe(true);
    clock.t += LAST_KNOWN_GOOD_MS - 1000;
    expect(await ask(A)).toBe(true); // asked control again (cache long expired): a new "yes"
    await fake.stop();
    clock.t += LAST_KNOWN_GOOD_MS - 1000;
    expect(await ask(A)).toBe(true);
  });

  it('a definite "no" wins at once and an outage afterwards does not bring the key back', async () => {
    const { ask, clock } = await setup();
    fake.approved.add(A);
    expect(await ask(A)).toBe(true);
    fake.approved.delete(A); // control deleted the node
    clock.t += 101; // past the fresh-answer cache
    expect(await ask(A)).toBe(false);
    await fake.stop();
    clock.t += 1000;
    expect(await ask(A)).toBe(false);
  });

  it('a refused secret (HTTP 403) drops every last-known-good key', async () => {
    const { ask, clock } = await setup();
    fake.approved.add(A);
    expect(await ask(A)).toBe(true);
    fake.mode = 'forbidden';
    clock.t += 101;
    expect(await ask(A)).toBe(false);
    fake.mode = 'http500';
    clock.t += 1000;
    expect(await ask(A)).toBe(false);
  });

  it('while control is known down, callers do not each wait for another timeout', async () => {
    const { ask, clock } = await setup();
    fake.approved.add(A);
    expect(await ask(A)).toBe(true);
    fake.mode = 'http500';
    clock.t += 101;
    const before = fake.asked;
    expect(await ask(A)).toBe(true);
    expect(await ask(A)).toBe(true);
    expect(await ask(B)).toBe(false);
    expect(fake.asked).toBe(before + 1);
  });
});

describe('a standalone relay whose control goes away', () => {
  it('keeps approved nodes (connected and reconnecting), refuses others, and cuts a node control says no to once it is back', async () => {
    fake = new FakeControl();
    await fake.start();
    const relay = new StandaloneRelay({ authorize: remoteAuthorizer(fake.url, SECRET, { cacheMs: 100 }), recheckMs: 100 }, false);
    const addr = await relay.listen('127.0.0.1', 0);
    cleanups.push(() => relay.close());
    const url = `http://127.0.0.1:${addr.port}`;
    const mk = (priv: Uint8Array): RelayClient => {
      const c = new RelayClient({ url, nodePrivate: priv, nodePublic: publicKeyFromPrivate(priv), relayKey: relay.relay.publicKey, onPacket: () => {} });
      cleanups.push(() => c.close());
      c.start();
      return c;
    };
    const alice = generatePrivateKey();
    const stranger = generatePrivateKey();
    fake.approved.add(NodePublic.text(publicKeyFromPrivate(alice)));
    const a1 = mk(alice);
    expect(await until(() => a1.connected)).toBe(true);

    await fake.stop();
    await new Promise((r) => setTimeout(r, 600)); // several rechecks, all failing to reach control
    expect(a1.connected).toBe(true);
    expect(relay.relay.stats.revoked).toBe(0);
    a1.close();
    const a2 = mk(alice); // a reconnect while control is down
    expect(await until(() => a2.connected)).toBe(true);
    const s = mk(stranger);
    expect(await until(() => relay.relay.stats.refusedUnauthorized >= 1)).toBe(true);
    expect(s.connected).toBe(false);

    fake.approved.clear(); // control deleted alice meanwhile
    await fake.start();
    expect(await until(() => !a2.connected && relay.relay.stats.revoked === 1)).toBe(true);
  });
});
