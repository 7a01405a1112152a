// Peers by policy (issue 10 item 6): a node is sent only the peers it can reach or that can reach it, as
// Tailscale does, and that set follows policy and membership changes on the live stream.
import { afterAll, describe, expect, it } from 'vitest';
import { addUser } from '../../control/admin-ops.js';
import { Coordinator } from '../../control/coordinator.js';
import { silentLogger } from '../../control/logger.js';
import { policyEngine } from '../../control/policy-engine.js';
import { Store } from '../../control/store.js';
import { hexToBytes } from '../../crypto/bytes.js';
import { MachinePublic, NodePublic } from '../../crypto/key.js';
import { buildStatus } from '../../localapi/status.js';
import type { Netmap } from '../../types/netmap.js';
import { LINUX, newAgent, startControl, type Harness, type TestAgent } from './helpers.js';

const TAG_OWNERS = `"tagOwners": {"tag:srv": ["alice@example.com"], "tag:web": ["alice@example.com"], "tag:db": ["alice@example.com"], "tag:router": ["alice@example.com"]}`;
const policy = (body: string) => `{${TAG_OWNERS}, ${body}}`;

interface NodeSpec {
  name: string;
  user: 'alice' | 'bob';
  tags?: string[];
  routes?: string[];
}

/** Default tailnet: two alice laptops, one bob laptop, a server, two web and one db server, a subnet router. */
const NODES: NodeSpec[] = [
  { name: 'alice-a', user: 'alice' },
  { name: 'alice-b', user: 'alice' },
  { name: 'bob-a', user: 'bob' },
  { name: 'srv', user: 'alice', tags: ['tag:srv'] },
  { name: 'web1', user: 'alice', tags: ['tag:web'] },
  { name: 'web2', user: 'alice', tags: ['tag:web'] },
  { name: 'db1', user: 'alice', tags: ['tag:db'] },
  { name: 'router', user: 'alice', tags: ['tag:router'], routes: ['192.168.0.0/16'] },
];
const ALL = NODES.map((n) => n.name);

/** Every node's peers, by name, from the netmap control would send it now. */
function peersUnder(policyText: string, nodes: NodeSpec[] = NODES): Record<string, string[]> {
  const store = new Store(':memory:');
  const users = { alice: addUser(store, 'alice@example.com', 'admin'), bob: addUser(store, 'bob@example.com', 'member') };
  nodes.forEach((n, i) => {
    const key = (salt: number) => hexToBytes((salt.toString(16).padStart(8, '0') + i.toString(16).padStart(8, '0')).repeat(4));
    const row = store.insertNode({
      machineKey: MachinePublic.text(key(1)),
      nodeKey: NodePublic.text(key(2)),
      userId: users[n.user].id,
      hostname: n.name,
      tags: n.tags ?? [],
      hostinfo: { hostname: n.name, os: 'linux' },
      ephemeral: false,
      keyExpiry: null,
    });
    if (n.routes) store.updateNode(row.id, { advertisedRoutes: n.routes, approvedRoutes: n.routes });
  });
  store.addPolicy('policy.hujson', policyText);
  const c = new Coordinator({ store, engine: policyEngine, logger: silentLogger, pollIntervalMs: 3_600_000 });
  c.start();
  try {
    const out: Record<string, string[]> = {};
    for (const n of store.listNodes()) {
      const nm = (JSON.parse(c.netmapMessage(n.id)!) as { netmap: Netmap }).netmap;
      out[n.hostname] = nm.peers.map((p) => p.name).sort();
    }
    return out;
  } finally {
    c.stop();
    store.close();
  }
}

/** Expected peers: the listed pairs see each other (both ways), everyone else sees nobody. */
function pairs(...list: Array<[string, string]>): Record<string, string[]> {
  const out: Record<string, string[]> = Object.fromEntries(ALL.map((n) => [n, [] as string[]]));
  for (const [a, b] of list) {
    out[a].push(b);
    out[b].push(a);
  }
  for (const k of Object.keys(out)) out[k] = [...new Set(out[k])].sort();
  return out;
}

const everyone = (): Record<string, string[]> => Object.fromEntries(ALL.map((n) => [n, ALL.filter((x) => x !== n).sort()]));

describe('peers by policy: each node receives exactly the peers it can reach or that can reach it', () => {
  it.each([
    // grants
    { name: 'grant, one way: alice → tag:srv; srv still sees alice (it must answer)', text: policy(`"grants": [{"src": ["alice@example.com"], "dst": ["tag:srv"], "ip": ["tcp:22"]}]`), want: pairs(['alice-a', 'srv'], ['alice-b', 'srv']) },
    { name: 'grant, two ways: alice-a ↔ bob', text: policy(`"grants": [{"src": ["bob@example.com"], "dst": ["alice@example.com"], "ip": ["tcp:22"]}, {"src": ["alice@example.com"], "dst": ["bob@example.com"], "ip": ["tcp:22"]}]`), want: pairs(['alice-a', 'bob-a'], ['alice-b', 'bob-a']) },
    { name: 'grant, tag to tag: web → db; web servers do not see each other', text: policy(`"grants": [{"src": ["tag:web"], "dst": ["tag:db"], "ip": ["tcp:5432"]}]`), want: pairs(['web1', 'db1'], ['web2', 'db1']) },
    { name: 'grant, autogroup:self: a user\'s own devices only', text: policy(`"grants": [{"src": ["autogroup:member"], "dst": ["autogroup:self"], "ip": ["*"]}]`), want: pairs(['alice-a', 'alice-b']) },
    { name: 'grant, capability only (no ip): still a peer', text: policy(`"grants": [{"src": ["bob@example.com"], "dst": ["tag:srv"], "app": {"example.com/cap/admin": [{}]}}]`), want: pairs(['bob-a', 'srv']) },
    { name: 'grant, to a subnet: the router is a peer of the source', text: policy(`"grants": [{"src": ["bob@example.com"], "dst": ["192.168.1.0/24"], "ip": ["tcp:80"]}]`), want: pairs(['bob-a', 'router']) },
    { name: 'grant, from a subnet: the router is a peer of the destination', text: policy(`"grants": [{"src": ["192.168.1.0/24"], "dst": ["tag:db"], "ip": ["tcp:5432"]}]`), want: pairs(['router', 'db1']) },
    { name: 'grant, wildcard source: everyone sees the destination, it sees everyone', text: policy(`"grants": [{"src": ["*"], "dst": ["tag:srv"], "ip": ["tcp:443"]}]`), want: pairs(...ALL.filter((n) => n !== 'srv').map((n): [string, string] => [n, 'srv'])) },
    { name: 'no grants: no peers at all', text: policy(`"grants": []`), want: pairs() },
    // acls
    { name: 'acl, one way: bob → tag:web:80', text: policy(`"acls": [{"action": "accept", "src": ["bob@example.com"], "dst": ["tag:web:80"]}]`), want: pairs(['bob-a', 'web1'], ['bob-a', 'web2']) },
    { name: 'acl, autogroup:self', text: policy(`"acls": [{"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:*"]}]`), want: pairs(['alice-a', 'alice-b']) },
    { name: 'acl, * → *:* : everyone sees everyone', text: policy(`"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]`), want: everyone() },
    { name: 'acl, empty list: no peers', text: policy(`"acls": []`), want: pairs() },
    { name: 'neither grants nor acls (allow-all quirk): everyone sees everyone', text: `{${TAG_OWNERS}}`, want: everyone() },
  ])('$name', ({ text, want }) => {
    expect(peersUnder(text)).toEqual(want);
  });
});

// ---------------------------------------------------------------- live streams

const ACCESS = policy(`"grants": [{"src": ["alice@example.com"], "dst": ["tag:srv"], "ip": ["tcp:22"]}]`);
const NO_ACCESS = policy(`"grants": [{"src": ["alice@example.com"], "dst": ["tag:db"], "ip": ["tcp:22"]}]`);
const names = (nm: Netmap) => nm.peers.map((p) => p.name).sort();

describe('peers by policy on the live stream', () => {
  let h: Harness;
  const agents: TestAgent[] = [];
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await h?.close();
  });

  const join = async (name: string, login: string, tags: string[] = []): Promise<TestAgent> => {
    const a = newAgent(h.url);
    agents.push(a);
    await a.client.register({ authKey: h.key({ user: login }), hostname: name, hostinfo: LINUX, requestTags: tags });
    await a.stream();
    return a;
  };

  it('a node that may connect appears within a second; one that may not never does', async () => {
    h = await startControl({ policy: ACCESS });
    h.addUser('alice@example.com', 'admin');
    h.addUser('bob@example.com');
    const srv = await join('srv', 'alice@example.com', ['tag:srv']);
    expect(names(srv.latest()!)).toEqual([]);
    const bob = await join('bob-a', 'bob@example.com');
    const t0 = Date.now();
    const laptop = await join('alice-a', 'alice@example.com');
    await srv.waitFor((nm) => names(nm).includes('alice-a'), 1000);
    expect(Date.now() - t0).toBeLessThan(2000); // registration + stream setup + the delta
    await laptop.waitFor((nm) => names(nm).join() === 'srv', 1000);
    // bob can reach nobody and nobody reaches bob: after everything settled, still nobody sees bob
    h.server.coordinator.flush();
    await new Promise((r) => setTimeout(r, 100));
    expect(names(srv.latest()!)).toEqual(['alice-a']);
    expect(names(bob.latest()!)).toEqual([]);
  });

  it('`status` built from the netmap lists only the peers control sent', () => {
    const nm = agents[0].latest()!; // srv
    const st = buildStatus({ state: 'Running', netmap: nm, peerStats: new Map(), nowMs: Date.now(), includePeers: true, version: 'test' });
    expect(Object.values(st.Peer ?? {}).map((p) => p.HostName).sort()).toEqual(['alice-a']);
  });

  it('a policy change that removes access removes the peer from both streams within a second', async () => {
    const [srv, , laptop] = agents;
    const t0 = Date.now();
    expect(h.server.coordinator.setPolicy(NO_ACCESS, 'policy.hujson').ok).toBe(true);
    await srv.waitFor((nm) => names(nm).length === 0, 1000);
    await laptop.waitFor((nm) => names(nm).length === 0, 1000);
    expect(Date.now() - t0).toBeLessThan(1000);
    // and back
    expect(h.server.coordinator.setPolicy(ACCESS, 'policy.hujson').ok).toBe(true);
    await srv.waitFor((nm) => names(nm).join() === 'alice-a', 1000);
  });

  it('a tag change that removes access removes the peer within a second', async () => {
    const [srv, , laptop] = agents;
    const id = h.store.nodeByHostname('srv')!.id;
    h.store.updateNode(id, { tags: ['tag:db'] });
    h.server.coordinator.refreshNode(id);
    // tag:db is no destination of ACCESS: srv is no longer reachable by alice-a, and reaches nobody
    await laptop.waitFor((nm) => names(nm).length === 0, 1000);
    await srv.waitFor((nm) => names(nm).length === 0, 1000);
  });

  it('a node that leaves is removed from the peers that saw it', async () => {
    const [srv, , laptop] = agents;
    const id = h.store.nodeByHostname('srv')!.id;
    h.store.updateNode(id, { tags: ['tag:srv'] });
    h.server.coordinator.refreshNode(id);
    await laptop.waitFor((nm) => names(nm).join() === 'srv', 1000);
    h.store.deleteNode(id);
    h.server.coordinator.refreshNode(id);
    await laptop.waitFor((nm) => names(nm).length === 0, 1000);
    void srv;
  });
});
