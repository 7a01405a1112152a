// Every registration outcome (issue 5, "Done when"), through a real server and the real client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlError, ControlRefusedError } from '../../control/client.js';
import { TAGGED_DEVICES_USER } from '../../types/netmap.js';
import { MESH_POLICY, POLICY } from './fixtures.js';
import { LINUX, newAgent, startControl, waitUntil, type Harness } from './helpers.js';


let h: Harness;
beforeAll(async () => {
  h = await startControl({ policy: POLICY, ephemeralTimeoutMs: 300 });
  h.addUser('alice@example.com');
  h.addUser('bob@example.com');
  h.addUser('carol@example.com', 'admin');
});
afterAll(async () => {
  await h.close();
});

async function refusal(p: Promise<unknown>): Promise<ControlError> {
  try {
    await p;
  } catch (err) {
    // Control answered and said no: the refusal class, its ERR_ code, control's reason in wireCode.
    expect(err).toBeInstanceOf(ControlRefusedError);
    expect(err).toMatchObject({ code: 'ERR_CONTROL_REFUSED' });
    return err as ControlError;
  }
  throw new Error('expected a refusal');
}

function reg(authKey: string | undefined, requestTags: string[] = [], hostname = 'node') {
  return newAgent(h.url).client.register({ authKey, hostname, hostinfo: LINUX, requestTags });
}

describe('auth keys', () => {
  it.each([
    { name: 'garbage', key: 'not-a-key' },
    { name: 'unknown id', key: 'gwkey-0123456789ab-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
  ])('refuses a bad key ($name)', async ({ key }) => {
    const e = await refusal(reg(key));
    expect(e.wireCode).toBe('invalid_auth_key');
    expect(e.message).toBe('invalid auth key');
  });

  it('refuses a real key id with the wrong secret', async () => {
    const key = h.key({ user: 'alice@example.com' });
    const wrong = key.slice(0, -4) + (key.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect((await refusal(reg(wrong))).message).toBe('invalid auth key');
    await expect(reg(key)).resolves.toBeTruthy(); // the real one still works: the bad try did not consume it
  });

  it('refuses a missing key for an unknown node', async () => {
    expect((await refusal(reg(undefined))).wireCode).toBe('invalid_auth_key');
  });

  it('refuses an expired key', async () => {
    const key = h.key({ user: 'alice@example.com', expiresInMs: 20 });
    await new Promise((r) => setTimeout(r, 40));
    const e = await refusal(reg(key));
    expect([e.wireCode, e.message]).toEqual(['auth_key_expired', 'auth key expired']);
  });

  it('refuses a revoked key', async () => {
    const key = h.key({ user: 'alice@example.com', reusable: true });
    h.store.revokeAuthKey(key.split('-')[1]);
    const e = await refusal(reg(key));
    expect([e.wireCode, e.message]).toEqual(['auth_key_revoked', 'auth key revoked']);
  });

  it('accepts a one-off key once, then refuses it', async () => {
    const key = h.key({ user: 'alice@example.com' });
    await reg(key, [], 'once-a');
    const e = await refusal(reg(key, [], 'once-b'));
    expect([e.wireCode, e.message]).toEqual(['auth_key_used', 'auth key already used']);
  });

  it('accepts a reusable key many times', async () => {
    const key = h.key({ user: 'bob@example.com', reusable: true });
    const ids = new Set<number>();
    for (let i = 0; i < 3; i++) ids.add((await reg(key, [], 'reuse')).node.id);
    expect(ids.size).toBe(3);
  });
});

describe('tags', () => {
  it('refuses tags the user does not own, with the exact text', async () => {
    const key = h.key({ user: 'bob@example.com', reusable: true });
    const e = await refusal(reg(key, ['tag:web']));
    expect(e.wireCode).toBe('tags_not_permitted');
    expect(e.message).toBe('requested tags [tag:web] are invalid or not permitted');
    expect((await refusal(reg(key, ['tag:db', 'tag:nope', 'tag:ci']))).message).toBe('requested tags [tag:nope tag:ci] are invalid or not permitted');
    expect((await refusal(reg(key, ['bogus']))).message).toBe('requested tags [bogus] are invalid or not permitted');
  });

  it('grants tags owned via a group, directly, and via autogroup:admin', async () => {
    expect((await reg(h.key({ user: 'alice@example.com' }), ['tag:web'])).node.tags).toEqual(['tag:web']);
    expect((await reg(h.key({ user: 'bob@example.com' }), ['tag:db'])).node.tags).toEqual(['tag:db']);
    expect((await reg(h.key({ user: 'carol@example.com' }), ['tag:ci', 'tag:worker'])).node.tags).toEqual(['tag:ci', 'tag:worker']);
  });

  it('applies the tags a key was created with; the node belongs to tagged-devices', async () => {
    const key = h.key({ user: 'bob@example.com', tags: ['tag:web'] });
    const { node } = await reg(key);
    expect(node.tags).toEqual(['tag:web']);
    expect(node.user).toBe(TAGGED_DEVICES_USER.id);
  });

  it('a key tag owns the tags it owns (tag:ci → tag:worker)', async () => {
    const key = h.key({ user: 'bob@example.com', tags: ['tag:ci'] });
    expect((await reg(key, ['tag:worker'])).node.tags).toEqual(['tag:worker']);
  });

  it('an admin command cannot create a key with undeclared tags', () => {
    expect(() => h.key({ user: 'bob@example.com', tags: ['tag:undeclared'] })).toThrow(/not declared/);
  });
});

describe('nodes', () => {
  it('allocates matching IPv4/IPv6 addresses and keeps them on re-registration', async () => {
    const a = newAgent(h.url);
    const first = await a.client.register({ authKey: h.key({ user: 'alice@example.com' }), hostname: 'stable', hostinfo: LINUX });
    const [v4, v6] = first.node.addresses;
    expect(v4).toMatch(/^100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.\d+\.\d+\/32$/);
    const host = v4.split('/')[0].split('.').map(Number);
    const n = ((host[1] - 64) << 16) + (host[2] << 8) + host[3];
    expect(v6).toBe(`fd7a:115c:a1e0::${n.toString(16)}/128`.replace(/::(\w{1,4})(\w{4})\//, '::$1:$2/'));
    // same node key, same machine: same node, even with a used one-off key, and none consumed
    const again = await a.client.register({ authKey: 'gwkey-000000000000-AAAAAAAAAAAAAAAAAAAA', hostname: 'stable', hostinfo: LINUX });
    expect(again.node.id).toBe(first.node.id);
    expect(again.node.addresses).toEqual(first.node.addresses);
    // same machine, new node key (key rotation): same node and addresses, new node key
    const rotated = newAgent(h.url, { machine: a.machinePrivateKey });
    const r = await rotated.client.register({ authKey: h.key({ user: 'alice@example.com' }), hostname: 'stable', hostinfo: LINUX });
    expect(r.node.id).toBe(first.node.id);
    expect(r.node.addresses).toEqual(first.node.addresses);
    expect(r.node.nodeKey).toBe(rotated.client.nodeKey);
  });

  it('refuses a node key that another machine registered', async () => {
    const a = newAgent(h.url);
    await a.client.register({ authKey: h.key({ user: 'alice@example.com' }), hostname: 'victim', hostinfo: LINUX });
    const thief = newAgent(h.url, { node: a.nodePrivateKey });
    const e = await refusal(thief.client.register({ authKey: h.key({ user: 'bob@example.com' }), hostname: 'thief', hostinfo: LINUX }));
    expect(e.wireCode).toBe('node_key_in_use');
  });

  it('a machine that renames itself is renamed on re-registration; a uniqueness suffix is kept', async () => {
    const a = newAgent(h.url);
    const key = h.key({ user: 'alice@example.com', reusable: true });
    const first = await a.client.register({ authKey: key, hostname: 'old-name', hostinfo: LINUX });
    const again = await a.client.register({ hostname: 'new-name', hostinfo: LINUX });
    expect([again.node.id, again.node.name]).toEqual([first.node.id, 'new-name']);
    await reg(key, [], 'twin');
    const b = newAgent(h.url);
    const twin1 = await b.client.register({ authKey: key, hostname: 'twin', hostinfo: LINUX });
    expect(twin1.node.name).toBe('twin-1');
    expect((await b.client.register({ hostname: 'twin', hostinfo: LINUX })).node.name).toBe('twin-1');
  });

  it('makes hostnames unique within the tailnet', async () => {
    const a = await reg(h.key({ user: 'alice@example.com' }), [], 'dup');
    const b = await reg(h.key({ user: 'alice@example.com' }), [], 'dup');
    expect(a.node.name).toBe('dup');
    expect(b.node.name).toBe('dup-1');
  });

  it('ephemeral: removed after its stream ends (timeout) and at once on logout', async () => {
    const key = h.key({ user: 'alice@example.com', ephemeral: true, reusable: true });
    const a = newAgent(h.url);
    const { node } = await a.client.register({ authKey: key, hostname: 'eph-a', hostinfo: LINUX });
    expect(h.store.node(node.id)?.ephemeral).toBe(true);
    await a.stream();
    await a.stop();
    expect(h.store.node(node.id)).not.toBeNull();
    await waitUntil(() => h.store.node(node.id) === null, 3000, 'ephemeral removal');

    const b = newAgent(h.url);
    const nb = (await b.client.register({ authKey: key, hostname: 'eph-b', hostinfo: LINUX })).node;
    await b.stream();
    await b.client.logout();
    expect(h.store.node(nb.id)).toBeNull();
    await b.stop();
  });

  it('a logged-out (non-ephemeral) node cannot stream until it registers again', async () => {
    const a = newAgent(h.url);
    await a.client.register({ authKey: h.key({ user: 'alice@example.com' }), hostname: 'leaver', hostinfo: LINUX });
    await a.client.logout();
    const e = await refusal(a.client.streamMap({ endpoints: [] }, () => {}, new AbortController().signal));
    expect(e.wireCode).toBe('node_key_expired');
    await a.client.register({ authKey: h.key({ user: 'alice@example.com' }), hostname: 'leaver', hostinfo: LINUX });
    await a.stream();
    await a.stop();
  });
});

describe('node key expiry', () => {
  it('cuts an expired node from every netmap', async () => {
    // Long enough that a loaded CI box still sees `a` in b's netmap before a's key expires.
    const h2 = await startControl({ policy: MESH_POLICY, nodeKeyExpiryMs: 4000 });
    try {
      h2.addUser('alice@example.com');
      const key = h2.key({ user: 'alice@example.com', reusable: true });
      const a = newAgent(h2.url);
      const b = newAgent(h2.url);
      await a.client.register({ authKey: key, hostname: 'a', hostinfo: LINUX });
      await new Promise((r) => setTimeout(r, 500));
      await b.client.register({ authKey: key, hostname: 'b', hostinfo: LINUX });
      await a.stream();
      await b.stream();
      await b.waitFor((nm) => nm.peers.some((p) => p.name === 'a'));
      await b.waitFor((nm) => nm.peers.length === 0, 8000);
      await waitUntil(() => a.streamError !== undefined, 8000, 'a kicked');
      expect(a.streamError).toBeInstanceOf(ControlRefusedError);
      expect((a.streamError as ControlError).wireCode).toBe('node_key_expired');
      await a.stop();
      await b.stop();
    } finally {
      await h2.close();
    }
  });
});

describe('ephemeral nodes across a restart', () => {
  it('an ephemeral node whose stream ended before a restart is still removed after the timeout', async () => {
    const h1 = await startControl({ policy: POLICY, ephemeralTimeoutMs: 600 });
    h1.addUser('alice@example.com');
    const a = newAgent(h1.url);
    const { node } = await a.client.register({ authKey: h1.key({ user: 'alice@example.com', ephemeral: true }), hostname: 'eph', hostinfo: LINUX });
    await a.stream();
    await a.stop();
    await h1.stop();
    const h2 = await startControl({ dir: h1.dir, ephemeralTimeoutMs: 600 });
    try {
      expect(h2.store.node(node.id)).not.toBeNull();
      await waitUntil(() => h2.store.node(node.id) === null, 3000, 'ephemeral removal after restart');
    } finally {
      await h2.close();
    }
  });
});
