// Map streaming: netmap contents match the compiled policy; every kind of change (policy, attributes,
// endpoints, online state, tags, deletion) reaches connected streams within 1 s, including changes made by
// admin commands in another process; a bad policy is rejected and the old one keeps serving; restart
// loses nothing.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePolicy, PolicyCompiler } from '../../policy/index.js';
import { tailnetFromStore } from '../../control/policy-store.js';
import type { Netmap } from '../../types/netmap.js';
import { TAGGED_DEVICES_USER } from '../../types/netmap.js';
import { LINUX, newAgent, runControl, startControl, waitUntil, type Harness, type TestAgent } from './helpers.js';
import { MESH_POLICY as POLICY } from './fixtures.js';

const WITHIN_MS = 1000;
let h: Harness;
let alice: TestAgent; // alice's laptop (member, group:eng)
let bob: TestAgent; // bob's laptop (member)
let web: TestAgent; // tag:web
let db: TestAgent; // tag:db

/** The rules an independent compiler produces for `name` over the stored tailnet. */
function expectedFilter(name: string, policyText: string) {
  const p = parsePolicy(policyText, 'policy.hujson');
  if (!p.policy) throw new Error('bad policy');
  return new PolicyCompiler(p.policy, tailnetFromStore(h.store)).compileNode(name);
}

function srcIPsOn(nm: Netmap, port: number): string[] {
  return nm.packetFilter.filter((r) => r.DstPorts?.some((d) => d.Ports.First <= port && port <= d.Ports.Last)).flatMap((r) => r.SrcIPs);
}

const ip4 = (a: TestAgent) => a.latest()!.self.addresses[0].split('/')[0];

beforeAll(async () => {
  h = await startControl({ policy: POLICY });
  h.addUser('alice@example.com');
  h.addUser('bob@example.com');
  const mk = async (user: string, hostname: string, tags: string[], ep: string) => {
    const a = newAgent(h.url);
    await a.client.register({ authKey: h.key({ user }), hostname, hostinfo: LINUX, requestTags: tags });
    await a.stream([ep], LINUX);
    return a;
  };
  alice = await mk('alice@example.com', 'alice-laptop', [], '192.0.2.10:41641');
  bob = await mk('bob@example.com', 'bob-laptop', [], '192.0.2.11:41641');
  web = await mk('alice@example.com', 'web-1', ['tag:web'], '192.0.2.12:41641');
  db = await mk('bob@example.com', 'db-1', ['tag:db'], '192.0.2.13:41641');
  for (const a of [alice, bob, web, db]) await a.waitFor((nm) => nm.peers.length === 3 && nm.peers.every((p) => p.online));
});

afterAll(async () => {
  for (const a of [alice, bob, web, db]) await a?.stop();
  await h.close();
});

describe('netmap contents', () => {
  it('each node gets exactly its compiled filter, its capMap, and every other node as a peer', () => {
    for (const a of [alice, bob, web, db]) {
      const nm = a.latest()!;
      const want = expectedFilter(nm.self.name, POLICY);
      expect(nm.packetFilter, nm.self.name).toEqual(want.rules);
      expect(nm.packetFilterOrigins).toEqual(want.origins);
      expect(nm.capMap).toEqual(want.capMap);
      expect(nm.policyVersion).toBe(h.server.coordinator.policyVersion);
      expect(nm.self.nodeKey).toBe(a.client.nodeKey);
      expect(nm.peers.map((p) => p.name).sort()).toEqual(['alice-laptop', 'bob-laptop', 'db-1', 'web-1'].filter((n) => n !== nm.self.name));
    }
  });

  it('web-1 admits group:eng (alice) on tcp/443 only; db-1 admits nobody without the jit posture', () => {
    const w = web.latest()!;
    expect(srcIPsOn(w, 443)).toContain(ip4(alice));
    expect(srcIPsOn(w, 443)).not.toContain(ip4(bob));
    expect(w.packetFilter.every((r) => r.IPProto === undefined || r.IPProto.join() === '6')).toBe(true);
    expect(srcIPsOn(db.latest()!, 5432)).toEqual([]);
    // alice admits only MESH_POLICY's SSH from member devices
    expect(alice.latest()!.packetFilter.flatMap((r) => r.DstPorts ?? []).every((d) => d.Ports.First === 22 && d.Ports.Last === 22)).toBe(true);
  });

  it('peers carry addresses, allowedIPs, endpoints, tags, owner and online state; tagged nodes use tagged-devices', () => {
    const nm = alice.latest()!;
    const w = nm.peers.find((p) => p.name === 'web-1')!;
    expect(w.endpoints).toEqual(['192.0.2.12:41641']);
    expect(w.allowedIPs).toEqual(w.addresses);
    expect(w.tags).toEqual(['tag:web']);
    expect(w.user).toBe(TAGGED_DEVICES_USER.id);
    expect(w.online).toBe(true);
    expect(w.machineKey).toBeUndefined();
    const b = nm.peers.find((p) => p.name === 'bob-laptop')!;
    const bobProfile = nm.userProfiles.find((u) => u.id === b.user)!;
    expect(bobProfile.loginName).toBe('bob@example.com');
    expect(nm.userProfiles).toContainEqual(TAGGED_DEVICES_USER);
  });
});

describe('changes reach streams within 1 s', () => {
  it('endpoint change', async () => {
    const t0 = Date.now();
    alice.client.updateEndpoints(['198.51.100.7:41641']);
    await bob.waitFor((nm) => nm.peers.find((p) => p.name === 'alice-laptop')?.endpoints[0] === '198.51.100.7:41641', WITHIN_MS);
    expect(Date.now() - t0).toBeLessThan(WITHIN_MS);
  });

  it('reconnect (the host roamed): a fresh stream and a full netmap at once, no stream error', async () => {
    const n = alice.netmaps.length;
    const t0 = Date.now();
    alice.client.reconnect('network changed');
    await alice.waitFor(() => alice.netmaps.length > n, WITHIN_MS);
    expect(Date.now() - t0).toBeLessThan(WITHIN_MS);
    expect(alice.streamError).toBeUndefined();
    // The new stream is live: updates on it reach peers as before.
    alice.client.updateEndpoints(['198.51.100.9:41641']);
    await bob.waitFor((nm) => nm.peers.find((p) => p.name === 'alice-laptop')?.endpoints[0] === '198.51.100.9:41641', WITHIN_MS);
  });

  it('a policy change set by `control policy set` in another process', async () => {
    const v = h.server.coordinator.policyVersion;
    const next = POLICY.replace('"ip": ["tcp:443"]', '"ip": ["tcp:443", "tcp:8080"]');
    const file = join(h.dir, 'next.hujson');
    writeFileSync(file, next);
    const r = await runControl(['policy', 'set', file, '--state', h.statePath]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`policy version ${v + 1} active\n`);
    const t0 = Date.now();
    const nm = await web.waitFor((m) => m.policyVersion === v + 1, WITHIN_MS);
    expect(Date.now() - t0).toBeLessThan(WITHIN_MS);
    expect(srcIPsOn(nm, 8080)).toContain(ip4(alice));
    expect(nm.packetFilter).toEqual(expectedFilter('web-1', next).rules);
    await alice.waitFor((m) => m.policyVersion === v + 1, WITHIN_MS);
  });

  it('a bad policy is rejected with every diagnostic, and the old one keeps serving', async () => {
    const v = h.server.coordinator.policyVersion;
    const before = web.netmaps.length;
    const file = join(h.dir, 'bad.hujson');
    writeFileSync(file, '{\n  "grants": [{"src": ["group:nope"], "dst": ["tag:web"], "ip": ["tcp:0"]}],\n  "bogus": 1,\n}\n');
    const r = await runControl(['policy', 'set', file, '--state', h.statePath]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const l of lines.slice(0, -1)) expect(l).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `));
    expect(lines[lines.length - 1]).toContain(`version ${v} stays active`);
    // in-process path too
    expect(h.server.coordinator.setPolicy('{"grants": [', 'x.hujson').ok).toBe(false);
    await new Promise((res) => setTimeout(res, 400));
    expect(h.server.coordinator.policyVersion).toBe(v);
    expect(h.store.activePolicy()!.id).toBe(v);
    expect(web.netmaps.slice(before).every((nm) => nm.policyVersion === v)).toBe(true);
  });

  it('a policy whose tests fail is rejected', async () => {
    const v = h.server.coordinator.policyVersion;
    const failing = POLICY.replace('"grants": [', '"tests": [{"src": "bob@example.com", "accept": ["tag:web:443"]}],\n  "grants": [');
    const r = h.server.coordinator.setPolicy(failing, 'failing.hujson');
    expect(r.ok).toBe(false);
    expect(r.diagnostics.map((d) => d.message).join('\n')).toMatch(/expected accept/);
    expect(h.server.coordinator.policyVersion).toBe(v);
  });

  it('a custom attribute with expiry opens access, and its expiry closes it (jit)', async () => {
    const r = await runControl(['attrs', 'set', 'bob-laptop', 'custom:jit', 'true', '--expiry', '2s', '--state', h.statePath]);
    expect(r.code, r.stderr).toBe(0);
    const t0 = Date.now();
    await db.waitFor((nm) => srcIPsOn(nm, 5432).includes(ip4(bob)), WITHIN_MS);
    expect(Date.now() - t0).toBeLessThan(WITHIN_MS);
    expect(srcIPsOn(db.latest()!, 5432)).not.toContain(ip4(alice));
    const expiresAt = h.store.attrsOf(h.store.nodeByHostname('bob-laptop')!.id)[0].expires!;
    await db.waitFor((nm) => !srcIPsOn(nm, 5432).includes(ip4(bob)), 4000);
    expect(Date.now() - expiresAt).toBeLessThan(WITHIN_MS);
    expect(h.store.attrsOf(h.store.nodeByHostname('bob-laptop')!.id)).toEqual([]);
  });

  it('attrs: VALUE is JSON when it parses, else a string; NODE may be an id', async () => {
    const id = String(h.store.nodeByHostname('alice-laptop')!.id);
    for (const [raw, want] of [['42', 42], ['"x"', 'x'], ['hello world', 'hello world'], ['false', false]] as const) {
      const r = await runControl(['attrs', 'set', id, 'custom:v', raw, '--state', h.statePath]);
      expect(r.code, r.stderr).toBe(0);
      expect(h.store.attrsOf(Number(id)).find((a) => a.name === 'custom:v')?.value).toEqual(want);
    }
    expect((await runControl(['attrs', 'rm', 'alice-laptop', 'custom:v', '--state', h.statePath])).code).toBe(0);
    expect((await runControl(['attrs', 'set', 'alice-laptop', 'jit', 'true', '--state', h.statePath])).code).toBe(1);
  });

  it('tags changed by `control nodes tags`', async () => {
    const r = await runControl(['nodes', 'tags', 'db-1', 'tag:web', '--state', h.statePath]);
    expect(r.code, r.stderr).toBe(0);
    const t0 = Date.now();
    const nm = await db.waitFor((m) => m.self.tags.join() === 'tag:web' && srcIPsOn(m, 443).includes(ip4(alice)), WITHIN_MS);
    expect(Date.now() - t0).toBeLessThan(WITHIN_MS);
    expect(nm.packetFilter).toEqual(expectedFilter('db-1', h.store.activePolicy()!.text).rules);
    await alice.waitFor((m) => m.peers.find((p) => p.name === 'db-1')?.tags.join() === 'tag:web', WITHIN_MS);
    expect((await runControl(['nodes', 'tags', 'db-1', 'tag:db', '--state', h.statePath])).code).toBe(0);
    await db.waitFor((m) => m.self.tags.join() === 'tag:db', WITHIN_MS);
  });

  it('online state follows live streams; a node deleted by `control nodes delete` disappears', async () => {
    const extra = newAgent(h.url);
    await extra.client.register({ authKey: h.key({ user: 'bob@example.com' }), hostname: 'temp', hostinfo: LINUX });
    await extra.stream();
    await alice.waitFor((m) => m.peers.find((p) => p.name === 'temp')?.online === true, WITHIN_MS);
    await extra.stop();
    await alice.waitFor((m) => m.peers.find((p) => p.name === 'temp')?.online === false, WITHIN_MS);
    await extra.stream();
    await alice.waitFor((m) => m.peers.find((p) => p.name === 'temp')?.online === true, WITHIN_MS);
    const r = await runControl(['nodes', 'delete', 'temp', '--state', h.statePath]);
    expect(r.code, r.stderr).toBe(0);
    const t0 = Date.now();
    await alice.waitFor((m) => !m.peers.some((p) => p.name === 'temp'), WITHIN_MS);
    expect(Date.now() - t0).toBeLessThan(WITHIN_MS);
    await new Promise((res) => setTimeout(res, 300));
    expect((extra.streamError as Error | undefined)?.message).toBe('node deleted');
  });

  it('a new member user costs no recompilation; a new admin (autogroup:admin) does', async () => {
    const stats = h.server.coordinator.stats;
    const before = stats.fullRebuilds;
    expect((await runControl(['users', 'add', 'dave@example.com', '--state', h.statePath])).code).toBe(0);
    await waitUntil(() => stats.externalChanges > 0 && h.store.userByLogin('dave@example.com') !== null);
    await new Promise((res) => setTimeout(res, 400));
    expect(stats.fullRebuilds).toBe(before);
    expect((await runControl(['users', 'add', 'erin@example.com', '--role', 'admin', '--state', h.statePath])).code).toBe(0);
    await waitUntil(() => stats.fullRebuilds === before + 1, 2000, 'rebuild after admin added');
  });

  it('keep-alives arrive on an idle stream', async () => {
    // The test harness runs control with 1 s keep-alives; the client presumes the stream dead after 3 missed
    // ones and would reconnect, which would show up as a second full netmap for an unchanged tailnet.
    const n = bob.netmaps.length;
    await new Promise((res) => setTimeout(res, 3500));
    expect(bob.netmaps.length).toBe(n);
    expect(bob.streamError).toBeUndefined();
  });
});

describe('restart', () => {
  it('loses nothing: nodes, addresses, keys, attributes, policy versions; agents reconnect', async () => {
    const h2 = await startControl({ policy: POLICY });
    const port = Number(new URL(h2.url).port);
    h2.addUser('alice@example.com');
    const key = h2.key({ user: 'alice@example.com', reusable: true });
    const a = newAgent(h2.url);
    const b = newAgent(h2.url);
    await a.client.register({ authKey: key, hostname: 'a', hostinfo: LINUX });
    await b.client.register({ authKey: key, hostname: 'b', hostinfo: LINUX });
    h2.store.setAttr(h2.store.nodeByHostname('a')!.id, 'custom:keep', 'yes', null);
    await a.stream(['192.0.2.1:1']);
    await b.stream(['192.0.2.2:2']);
    const before = await a.waitFor((m) => m.peers.length === 1 && m.peers[0].online);
    const dump = (s: Harness['store']) => JSON.stringify([s.listUsers(), s.listNodes().map((n) => ({ ...n, lastSeen: 0 })), s.listAuthKeys(), s.listPolicies(), s.allAttrs(), s.getMeta('noise_private_key')]);
    const snapshot = dump(h2.store);
    await h2.stop();
    const h3 = await startControl({ dir: h2.dir, port });
    try {
      expect(dump(h3.store)).toBe(snapshot);
      expect(h3.server.coordinator.policyVersion).toBe(before.policyVersion);
      const after = await a.waitFor((m) => m !== before && m.peers.length === 1 && m.peers[0].online, 5000);
      expect(after.self.addresses).toEqual(before.self.addresses);
      expect(after.self.id).toBe(before.self.id);
      expect(after.peers[0].addresses).toEqual(before.peers[0].addresses);
      expect(after.packetFilter).toEqual(before.packetFilter);
      // the reusable key still works after the restart
      await newAgent(h3.url).client.register({ authKey: key, hostname: 'c', hostinfo: LINUX });
      await a.stop();
      await b.stop();
    } finally {
      await h3.close();
    }
  });
});
