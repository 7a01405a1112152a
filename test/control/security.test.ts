// Security properties of the control channel and API (issue 5): a node cannot fetch another node's map or
// register with another node's key; tampering with or replaying channel traffic fails; auth keys never
// appear in logs or API output after creation.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameReader, frame } from '../../control/channel.js';
import { ControlError } from '../../control/client.js';
import { createApiToken } from '../../control/admin-ops.js';
import { proveNodeKey } from '../../control/node-key-proof.js';
import { parseServerMessage } from '../../control/protocol.js';
import { MachinePublic, publicKeyFromPrivate } from '../../crypto/key.js';
import { POLICY } from './fixtures.js';
import { LINUX, newAgent, rawChannel, runControl, startControl, waitUntil, type Harness } from './helpers.js';

let h: Harness;
const createdKeys: string[] = [];
const key = (o: Parameters<Harness['key']>[0]) => {
  const k = h.key(o);
  createdKeys.push(k);
  return k;
};

beforeAll(async () => {
  h = await startControl({ policy: POLICY });
  h.addUser('alice@example.com');
  h.addUser('bob@example.com');
  h.addUser('root@example.com', 'admin');
});
afterAll(async () => {
  await h.close();
});

function reply(ch: Awaited<ReturnType<typeof rawChannel>>['ch']): Promise<ReturnType<typeof parseServerMessage>> {
  return new Promise((resolve) => {
    ch.onMessage((t) => resolve(parseServerMessage(t)));
    ch.onClose(() => resolve(null));
  });
}

describe('node identity', () => {
  it("a machine that only knows a node's public key cannot stream its map", async () => {
    const victim = newAgent(h.url);
    await victim.client.register({ authKey: key({ user: 'alice@example.com' }), hostname: 'victim', hostinfo: LINUX });
    const { ch } = await rawChannel(h.url);
    const r = reply(ch);
    ch.send(JSON.stringify({ type: 'map', nodeKey: victim.client.nodeKey, nodeKeyProof: '00'.repeat(32), endpoints: [] }));
    expect(await r).toMatchObject({ type: 'error', code: 'bad_node_key_proof' });
  });

  it("a machine holding a stolen node private key still cannot stream that node's map (wrong machine)", async () => {
    const victim = newAgent(h.url);
    await victim.client.register({ authKey: key({ user: 'alice@example.com' }), hostname: 'victim2', hostinfo: LINUX });
    const thief = newAgent(h.url, { node: victim.nodePrivateKey });
    await expect(thief.client.streamMap({ endpoints: [] }, () => {}, new AbortController().signal)).rejects.toMatchObject({ code: 'ERR_CONTROL_REFUSED', wireCode: 'unknown_node' });
    await expect(thief.client.logout()).rejects.toMatchObject({ code: 'ERR_CONTROL_REFUSED', wireCode: 'unknown_node' });
    expect(h.store.nodeByHostname('victim2')?.keyExpiry).toBeGreaterThan(Date.now());
  });

  it('a node-key proof from another session does not verify', async () => {
    const victim = newAgent(h.url);
    await victim.client.register({ authKey: key({ user: 'alice@example.com' }), hostname: 'victim3', hostinfo: LINUX });
    // The victim's own machine opens a channel, but the proof was made for some other handshake.
    const { ch, serverKey } = await rawChannel(h.url, victim.machinePrivateKey);
    const stale = proveNodeKey(victim.nodePrivateKey, serverKey, new Uint8Array(32).fill(7), publicKeyFromPrivate(victim.machinePrivateKey));
    const r = reply(ch);
    ch.send(JSON.stringify({ type: 'map', nodeKey: victim.client.nodeKey, nodeKeyProof: stale, endpoints: [] }));
    expect(await r).toMatchObject({ type: 'error', code: 'bad_node_key_proof' });
  });

  it("cannot register with another node's key, with or without its private key", async () => {
    const victim = newAgent(h.url);
    await victim.client.register({ authKey: key({ user: 'alice@example.com' }), hostname: 'victim4', hostinfo: LINUX });
    const { ch } = await rawChannel(h.url);
    const r = reply(ch);
    ch.send(JSON.stringify({ type: 'register', nodeKey: victim.client.nodeKey, nodeKeyProof: 'ab'.repeat(32), authKey: key({ user: 'bob@example.com' }), hostname: 'x', hostinfo: LINUX, requestTags: [] }));
    expect(await r).toMatchObject({ type: 'error', code: 'bad_node_key_proof' });
    const thief = newAgent(h.url, { node: victim.nodePrivateKey });
    const err = await thief.client.register({ authKey: key({ user: 'bob@example.com' }), hostname: 'x', hostinfo: LINUX }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlError);
    expect((err as ControlError).wireCode).toBe('node_key_in_use');
    expect(h.store.nodeByHostname('victim4')?.machineKey).toBe(MachinePublic.text(publicKeyFromPrivate(victim.machinePrivateKey)));
  });
});

/** A TCP proxy in front of control that can record or alter the agent → control byte stream. */
async function proxy(mode: { tamperFrame?: number; record?: Buffer[] }): Promise<{ url: string; server: Server }> {
  const target = new URL(h.url);
  const server = createServer((client: Socket) => {
    const upstream = connect(Number(target.port), target.hostname);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.pipe(client);
    let header = Buffer.alloc(0);
    let inFrames = false;
    const reader = new FrameReader();
    let index = 0;
    client.on('data', (d: Buffer) => {
      mode.record?.push(Buffer.from(d));
      if (mode.tamperFrame === undefined) return void upstream.write(d);
      if (!inFrames) {
        header = Buffer.concat([header, d]);
        const end = header.indexOf('\r\n\r\n');
        if (end < 0) return;
        upstream.write(header.subarray(0, end + 4));
        d = header.subarray(end + 4);
        inFrames = true;
      }
      for (const f of reader.push(d) ?? []) {
        const body = Buffer.from(f);
        if (index++ === mode.tamperFrame) body[body.length - 1] ^= 0x80;
        upstream.write(frame(body));
      }
    });
    client.on('close', () => upstream.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

describe('channel integrity', () => {
  it.each([
    { name: 'the handshake message', frameIndex: 0 },
    { name: 'the register request', frameIndex: 1 },
  ])('an on-path change to $name makes registration fail and changes nothing', async ({ frameIndex }) => {
    const p = await proxy({ tamperFrame: frameIndex });
    try {
      const k = key({ user: 'alice@example.com' });
      const nodesBefore = h.store.listNodes().length;
      const a = newAgent(p.url);
      await expect(a.client.register({ authKey: k, hostname: 'tampered', hostinfo: LINUX })).rejects.toThrow();
      expect(h.store.listNodes().length).toBe(nodesBefore);
      expect(h.store.authKey(k.split('-')[1])?.uses).toBe(0);
    } finally {
      p.server.close();
    }
  });

  it('replaying a recorded registration session registers nothing', async () => {
    const record: Buffer[] = [];
    const p = await proxy({ record });
    try {
      const k = key({ user: 'alice@example.com', reusable: true });
      await newAgent(p.url).client.register({ authKey: k, hostname: 'recorded', hostinfo: LINUX });
      const nodesBefore = h.store.listNodes().length;
      expect(h.store.authKey(k.split('-')[1])?.uses).toBe(1);
      // Replay the agent's bytes verbatim on a fresh connection straight to control.
      const target = new URL(h.url);
      const s = connect(Number(target.port), target.hostname);
      const got: Buffer[] = [];
      s.on('data', (d: Buffer) => got.push(d));
      await new Promise<void>((r) => s.once('connect', () => r()));
      for (const b of record) s.write(b);
      await new Promise<void>((r) => s.once('close', () => r()));
      expect(h.store.listNodes().length).toBe(nodesBefore);
      expect(h.store.authKey(k.split('-')[1])?.uses).toBe(1);
      // control answered the replayed handshake (it cannot tell) but closed once the request failed to decrypt
      expect(Buffer.concat(got).toString('latin1')).toContain('101 Switching Protocols');
    } finally {
      p.server.close();
    }
  });

  it('a passive observer sees no key, hostname or policy in the traffic', async () => {
    const record: Buffer[] = [];
    const p = await proxy({ record });
    try {
      const k = key({ user: 'alice@example.com' });
      const a = newAgent(p.url);
      await a.client.register({ authKey: k, hostname: 'secret-host', hostinfo: LINUX });
      const wire = Buffer.concat(record).toString('latin1');
      expect(wire).not.toContain(k.slice(19));
      expect(wire).not.toContain('secret-host');
      expect(wire).not.toContain(a.client.nodeKey.slice(8));
    } finally {
      p.server.close();
    }
  });
});

describe('secrets stay secret', () => {
  it('auth keys never appear in logs, CLI listings or API output after creation', async () => {
    // exercise success and every refusal path, plus a request that carries a key in an odd field
    const good = key({ user: 'alice@example.com', reusable: true });
    await newAgent(h.url).client.register({ authKey: good, hostname: 'ok', hostinfo: LINUX });
    const once = key({ user: 'alice@example.com' });
    await newAgent(h.url).client.register({ authKey: once, hostname: 'ok2', hostinfo: LINUX });
    await newAgent(h.url).client.register({ authKey: once, hostname: 'reuse', hostinfo: LINUX }).catch(() => {});
    await newAgent(h.url).client.register({ authKey: good, hostname: 'tags', hostinfo: LINUX, requestTags: ['tag:db'] }).catch(() => {});
    await newAgent(h.url).client.register({ authKey: good, hostname: good, hostinfo: LINUX }).catch(() => {});
    const token = createApiToken(h.store, 'root@example.com').token;
    const api = async (path: string) => (await fetch(new URL(path, h.url), { headers: { authorization: `Bearer ${token}` } })).text();
    const outputs = [
      h.logs.join('\n'),
      await api('/api/v1/keys'),
      await api('/api/v1/nodes'),
      (await runControl(['keys', 'list', '--json', '--state', h.statePath])).stdout,
      (await runControl(['keys', 'list', '--state', h.statePath])).stdout,
      (await runControl(['nodes', 'list', '--json', '--state', h.statePath])).stdout,
    ];
    const hashes = h.store.listAuthKeys().map((k) => k.hash);
    for (const out of outputs) {
      for (const k of createdKeys) expect(out).not.toContain(k.slice(19));
      expect(out).not.toContain(token.slice(19));
      for (const hash of hashes) expect(out).not.toContain(hash);
      expect(out).not.toContain(h.store.getMeta('noise_private_key'));
    }
    expect(h.logs.join('\n')).toMatch(/registration refused code=auth_key_used/);
  });
});

describe('admin API', () => {
  it('requires an admin bearer token', async () => {
    const get = (token?: string) => fetch(new URL('/api/v1/nodes', h.url), { headers: token ? { authorization: `Bearer ${token}` } : {} });
    expect((await get()).status).toBe(401);
    expect((await get('gwapi-000000000000-AAAAAAAAAAAAAAAAAAAAAAAA')).status).toBe(401);
    const token = createApiToken(h.store, 'root@example.com').token;
    expect((await get(token.slice(0, -2) + 'xx')).status).toBe(401);
    const ok = await get(token);
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { nodes: { name: string; online: boolean }[] };
    expect(body.nodes.length).toBeGreaterThan(0);
    // a member's token (issue 15: members manage their own access requests) reaches no admin route
    const member = createApiToken(h.store, 'bob@example.com').token;
    expect((await get(member)).status).toBe(403);
  });

  it('reads and sets the policy and attributes; a bad policy is refused with diagnostics', async () => {
    const token = createApiToken(h.store, 'root@example.com').token;
    const auth = { authorization: `Bearer ${token}` };
    const pol = (await (await fetch(new URL('/api/v1/policy', h.url), { headers: auth })).json()) as { version: number; text: string };
    expect(pol.text).toBe(POLICY);
    const bad = await fetch(new URL('/api/v1/policy', h.url), { method: 'POST', headers: auth, body: '{"nope": 1}' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { diagnostics: string[] }).diagnostics[0]).toMatch(/^policy\.hujson:1:2: /);
    const good = await fetch(new URL('/api/v1/policy', h.url), { method: 'POST', headers: auth, body: POLICY + '\n' });
    expect(((await good.json()) as { version: number }).version).toBe(pol.version + 1);
    const n = h.store.listNodes()[0];
    const put = await fetch(new URL(`/api/v1/nodes/${n.id}/attrs/custom:jit`, h.url), { method: 'PUT', headers: auth, body: '{"value": true, "expiry": "1h"}' });
    expect(put.status).toBe(200);
    expect(h.store.attrsOf(n.id)[0]).toMatchObject({ name: 'custom:jit', value: true });
    await waitUntil(() => h.server.coordinator.policyVersion === pol.version + 1);
  });
});

describe('admin API bodies', () => {
  // Found by test/robustness: `PUT …/attrs/…` with the body `null` read a property of null (500).
  const ROUTES = [
    { method: 'PUT', path: (id: number) => `/api/v1/nodes/${id}/attrs/custom:x` },
    { method: 'PUT', path: (id: number) => `/api/v1/nodes/${id}/tags` },
    { method: 'POST', path: () => '/api/v1/keys' },
    { method: 'POST', path: () => '/api/v1/users' },
  ];
  const BODIES = ['null', '[]', '5', '"x"', 'true', '{', '', '{"value":null}'];
  let nodeId = 0;
  beforeAll(async () => {
    nodeId = (await newAgent(h.url).client.register({ authKey: key({ user: 'alice@example.com' }), hostname: 'bodies', hostinfo: LINUX })).node.id;
  });
  it.each(ROUTES.flatMap((r) => BODIES.map((body) => ({ ...r, body, route: r.path(0).replace('/0/', '/ID/') }))))('$method $route answers 400 to the body $body', async ({ method, path, body }) => {
    const token = createApiToken(h.store, 'root@example.com').token;
    const r = await fetch(new URL(path(nodeId), h.url), { method, headers: { authorization: `Bearer ${token}` }, body });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { code: string }).code).toBe('bad_request');
  });
});

describe('pinned control key', () => {
  it('an agent pinned to the right key works; pinned to another key it never talks', async () => {
    const probe = newAgent(h.url);
    const key = await probe.client.serverPublicKey();
    const { ControlClient } = await import('../../control/client.js');
    const { generatePrivateKey } = await import('../../crypto/key.js');
    const good = new ControlClient({ serverUrl: h.url, controlPublicKey: key, machinePrivateKey: generatePrivateKey(), nodePrivateKey: generatePrivateKey() });
    await good.register({ authKey: h.key({ user: 'alice@example.com' }), hostname: 'pinned', hostinfo: LINUX });
    const wrong = new ControlClient({ serverUrl: h.url, controlPublicKey: publicKeyFromPrivate(generatePrivateKey()), machinePrivateKey: generatePrivateKey(), nodePrivateKey: generatePrivateKey() });
    const k = h.key({ user: 'alice@example.com' });
    await expect(wrong.register({ authKey: k, hostname: 'impostor', hostinfo: LINUX })).rejects.toThrow();
    expect(h.store.authKey(k.split('-')[1])?.uses).toBe(0);
  });
});

describe('admin API writes', () => {
  it('adds users, creates and revokes keys, and sets node tags', async () => {
    const token = createApiToken(h.store, 'root@example.com').token;
    const call = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(new URL(path, h.url), { method, headers: { authorization: `Bearer ${token}` }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    expect((await call('POST', '/api/v1/users', { login: 'frank@example.com', name: 'Frank' })).status).toBe(200);
    expect((await call('POST', '/api/v1/users', { login: 'frank@example.com' })).status).toBe(400);
    const created = await call('POST', '/api/v1/keys', { user: 'frank@example.com', reusable: true, expiry: '1h' });
    expect(created.status).toBe(200);
    const key = created.body.key as string;
    expect(key).toMatch(/^gwkey-/);
    const a = newAgent(h.url);
    const { node } = await a.client.register({ authKey: key, hostname: 'frank-box', hostinfo: LINUX });
    expect(JSON.stringify((await call('GET', '/api/v1/keys')).body)).not.toContain(key.slice(19));
    const tagged = await call('PUT', `/api/v1/nodes/${node.id}/tags`, { tags: ['tag:web'] });
    expect(tagged.body.tags).toEqual(['tag:web']);
    expect(h.server.coordinator.node(node.id)?.tags).toEqual(['tag:web']);
    expect((await call('PUT', `/api/v1/nodes/${node.id}/tags`, { tags: ['tag:undeclared'] })).status).toBe(400);
    expect((await call('DELETE', `/api/v1/keys/${created.body.id as string}`)).status).toBe(200);
    const stats = (await call('GET', '/api/v1/stats')).body;
    expect(stats.policyVersion).toBe(h.server.coordinator.policyVersion);
    expect(typeof stats.netmapsSent).toBe('number');
    await expect(newAgent(h.url).client.register({ authKey: key, hostname: 'late', hostinfo: LINUX })).rejects.toMatchObject({ code: 'ERR_CONTROL_REFUSED', wireCode: 'auth_key_revoked' });
  });
});
