// The relay inside control, and a standalone relay asking control: only registered, unexpired, undeleted
// nodes of the tailnet get a connection; a client that cannot prove the key it presents is refused; a
// deleted node is disconnected and nothing more reaches it. The netmap carries the relay map.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlRelay, parseRelayFlag } from '../../control/relay-hook.js';
import { generatePrivateKey, NodePublic, publicKeyFromPrivate, RelayPublic } from '../../crypto/key.js';
import { loadOrCreateRelayKey } from '../../control/server.js';
import { RelayClient } from '../../relay/client.js';
import { remoteAuthorizer } from '../../relay/remote-auth.js';
import { StandaloneRelay } from '../../relay/standalone.js';
import { LINUX, newAgent, runControl, startControl, waitUntil, type Harness, type TestAgent } from './helpers.js';

const POLICY = `{"grants": [{"src": ["*"], "dst": ["*"], "ip": ["*"]}]}`;
const SECRET = 'relay-secret-0123456789abcdef';

let h: Harness;
let relay: ControlRelay;
let alice: TestAgent;
let bob: TestAgent;
const clients: RelayClient[] = [];

function client(url: string, priv: Uint8Array, presentedPub = publicKeyFromPrivate(priv), relayKey = relay.server!.publicKey): { c: RelayClient; got: { from: string; data: string }[] } {
  const got: { from: string; data: string }[] = [];
  const c = new RelayClient({
    url,
    nodePrivate: priv,
    nodePublic: presentedPub,
    relayKey,
    onPacket: (src, buf, len) => got.push({ from: NodePublic.text(src), data: Buffer.from(buf.subarray(0, len)).toString() }),
  });
  clients.push(c);
  c.start();
  return { c, got };
}

beforeAll(async () => {
  relay = new ControlRelay({ relay: true, stunPort: null, recheckMs: 200, secret: SECRET });
  h = await startControl({ policy: POLICY, relay });
  h.addUser('alice@example.com');
  alice = newAgent(h.url);
  bob = newAgent(h.url);
  for (const [a, name] of [
    [alice, 'alice-laptop'],
    [bob, 'bob-laptop'],
  ] as const) {
    await a.client.register({ authKey: h.key({ user: 'alice@example.com' }), hostname: name, hostinfo: LINUX });
    await a.stream();
  }
});

afterAll(async () => {
  for (const c of clients) c.close();
  await alice.stop();
  await bob.stop();
  await h.close();
});

const text = (k: Uint8Array) => NodePublic.text(publicKeyFromPrivate(k));
const send = (c: RelayClient, to: Uint8Array, s: string) => c.send(publicKeyFromPrivate(to), Buffer.from(s), 0, s.length);

describe('relay inside control', () => {
  it('the netmap carries the relay map with control\'s relay', async () => {
    const nm = await alice.waitFor((m) => m.relayMap !== undefined);
    expect(nm.relayMap).toEqual({ relays: [{ name: 'control', url: '', stunHost: '', stunPort: 0, publicKey: RelayPublic.text(relay.server!.publicKey) }] });
    // The key is control's, kept in its state: a restarted control presents the same one.
    expect(Buffer.from(relay.server!.publicKey)).toEqual(Buffer.from(publicKeyFromPrivate(loadOrCreateRelayKey(h.store))));
  });

  it('forwards between tailnet nodes by node key', async () => {
    const a = client(h.url, alice.nodePrivateKey);
    const b = client(h.url, bob.nodePrivateKey);
    await waitUntil(() => a.c.connected && b.c.connected, 5000, 'both connected');
    expect(send(a.c, bob.nodePrivateKey, 'hello bob')).toBe(true);
    await waitUntil(() => b.got.length > 0, 5000, 'bob receives');
    expect(b.got[0]).toEqual({ from: text(alice.nodePrivateKey), data: 'hello bob' });
    a.c.close();
    b.c.close();
  });

  it.each([
    { name: 'a key that is not in the tailnet', mk: () => ({ priv: generatePrivateKey(), pub: undefined as Uint8Array | undefined }) },
    { name: "another node's key without its private key", mk: () => ({ priv: generatePrivateKey(), pub: publicKeyFromPrivate(alice.nodePrivateKey) }) },
  ])('refuses $name', async ({ mk }) => {
    const { priv, pub } = mk();
    const before = relay.server!.stats.refusedAuth + relay.server!.stats.refusedUnauthorized;
    const x = client(h.url, priv, pub);
    await waitUntil(() => relay.server!.stats.refusedAuth + relay.server!.stats.refusedUnauthorized > before, 5000, 'refusal');
    await new Promise((r) => setTimeout(r, 200));
    expect(x.c.connected).toBe(false);
    x.c.close();
  });

  it('disconnects a deleted node and forwards nothing more to it', async () => {
    const extra = newAgent(h.url);
    await extra.client.register({ authKey: h.key({ user: 'alice@example.com' }), hostname: 'temp', hostinfo: LINUX });
    await extra.stream();
    const a = client(h.url, alice.nodePrivateKey);
    const t = client(h.url, extra.nodePrivateKey);
    await waitUntil(() => a.c.connected && t.c.connected, 5000, 'connected');
    send(a.c, extra.nodePrivateKey, 'before');
    await waitUntil(() => t.got.length === 1, 5000, 'delivered before deletion');
    const r = await runControl(['nodes', 'delete', 'temp', '--state', h.statePath]);
    expect(r.code, r.stderr).toBe(0);
    await waitUntil(() => !relay.server!.connectedKeys().includes(text(extra.nodePrivateKey)), 5000, 'deleted node disconnected');
    const dropped = relay.server!.stats.droppedNoPeer;
    send(a.c, extra.nodePrivateKey, 'after');
    await waitUntil(() => relay.server!.stats.droppedNoPeer > dropped, 5000, 'dropped');
    await new Promise((r) => setTimeout(r, 500)); // the client reconnects on its own and is refused
    expect(t.got.map((g) => g.data)).toEqual(['before']);
    expect(relay.server!.connectedKeys()).not.toContain(text(extra.nodePrivateKey));
    await extra.stop();
  });
});

describe('standalone relay authorized by control', () => {
  it('admits tailnet nodes and refuses other keys; a wrong secret gets no answer from control', async () => {
    const sa = new StandaloneRelay({ authorize: remoteAuthorizer(h.url, SECRET, { cacheMs: 100 }), recheckMs: 200 }, false);
    const addr = await sa.listen('127.0.0.1', 0);
    const url = `http://127.0.0.1:${addr.port}`;
    try {
      const a = client(url, alice.nodePrivateKey, undefined, sa.relay.publicKey);
      await waitUntil(() => a.c.connected, 5000, 'alice admitted');
      const stranger = client(url, generatePrivateKey(), undefined, sa.relay.publicKey);
      await waitUntil(() => sa.relay.stats.refusedUnauthorized > 0, 5000, 'stranger refused');
      expect(stranger.c.connected).toBe(false);
      await expect(remoteAuthorizer(h.url, 'wrong-secret-0123456789')(text(alice.nodePrivateKey))).rejects.toThrow(/403/);
      a.c.close();
      stranger.c.close();
    } finally {
      await sa.close();
    }
  });
});

describe('a standalone relay\'s key and how control lists it', () => {
  const KEY = `relaykey:${'ab'.repeat(32)}`;
  it.each([
    { flag: `r2=http://192.0.2.7:8443;key=${KEY};stun=8443`, want: { name: 'r2', url: 'http://192.0.2.7:8443', stunHost: '', stunPort: 8443, publicKey: KEY } },
    { flag: `r2=http://[2001:db8::7]:8443;stun=3478;key=${KEY.toUpperCase().replace('RELAYKEY', 'relaykey')}`, want: { name: 'r2', url: 'http://[2001:db8::7]:8443', stunHost: '', stunPort: 3478, publicKey: KEY } },
    { flag: 'r2=http://192.0.2.7:8443;stun=8443', want: null }, // no key: agents could not pin it
    { flag: 'r2=http://192.0.2.7:8443', want: null },
    { flag: `r2=http://192.0.2.7:8443;key=nodekey:${'ab'.repeat(32)}`, want: null },
    { flag: `r2=http://192.0.2.7:8443;key=${KEY};key=${KEY}`, want: null },
    { flag: `r2=http://192.0.2.7:8443;key=${KEY};stun=70000`, want: null },
    { flag: `r2=http://192.0.2.7:8443;key=${KEY};color=red`, want: null },
  ])('--extra-relay $flag', ({ flag, want }) => {
    expect(parseRelayFlag(flag)).toEqual(want);
  });

  it('control relay --print-key creates the key file 0600 once, prints the same key after, and refuses a readable file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-relaykey-'));
    const file = join(dir, 'sub', 'relay.key');
    const first = await runControl(['relay', '--key-file', file, '--print-key']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout.trim()).toMatch(/^relaykey:[0-9a-f]{64}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toMatch(/^privkey:[0-9a-f]{64}\n$/);
    const again = await runControl(['relay', '--key-file', file, '--print-key']);
    expect(again.stdout).toBe(first.stdout);
    chmodSync(file, 0o644);
    const refused = await runControl(['relay', '--key-file', file, '--print-key']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refusing to use the relay key file: .* accessible to group or others/);
  });
});
