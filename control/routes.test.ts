// Route approval and netmaps, through the real Store, Coordinator and policy engine: advertised routes are
// pending until approved (by an admin or autoApprovers), only effective routes reach the compiled filters
// and only primaries reach peers' allowed IPs, failover moves them, and the admin listing says so.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Netmap } from '../types/netmap.js';
import { nodeSummaries } from './admin-ops.js';
import { Coordinator } from './coordinator.js';
import { silentLogger } from './logger.js';
import type { MapSubscriber } from './map-streams.js';
import { policyEngine } from './policy-engine.js';
import { approveRoutes, routeSummaries, unapproveRoutes } from './routes.js';
import { Store } from './store.js';

const dir = mkdtempSync(join(tmpdir(), 'gwr-routes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LAN = '203.0.113.0/24';
const GRANTS = `{"src": ["group:eng"], "dst": ["${LAN}"], "ip": ["tcp:80"]},
             {"src": ["group:eng"], "dst": ["autogroup:internet"], "ip": ["*"]}`;
const policy = (auto: string, grants = GRANTS) => `{
  "groups": {"group:eng": ["alice@example.com"]},
  "tagOwners": {"tag:router": ["alice@example.com"], "tag:exit": ["alice@example.com"], "tag:rb": ["alice@example.com"]},
  "grants": [${grants}],
  ${auto}
}`;

let n = 0;
const open: Coordinator[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.stop();
});

function setup(auto = '', grants = GRANTS, r2Tags = ['tag:router']) {
  const store = new Store(join(dir, `c${++n}.db`));
  const alice = store.addUser('alice@example.com', 'Alice', 'member');
  const add = (name: string, tags: string[], routableIPs?: string[]) =>
    store.insertNode({ machineKey: `mkey:${name}`, nodeKey: `nodekey:${name}`, userId: alice.id, hostname: name, tags, hostinfo: { hostname: name, os: 'linux', ...(routableIPs ? { routableIPs } : {}) }, ephemeral: false, keyExpiry: null });
  const client = add('client', []);
  const r1 = add('r1', ['tag:router'], [LAN]);
  const r2 = add('r2', r2Tags, [LAN]);
  const exit = add('exit', ['tag:exit'], ['0.0.0.0/0', '::/0']);
  const c = new Coordinator({ store, engine: policyEngine, logger: silentLogger, pollIntervalMs: 3_600_000, flushDelayMs: 0 });
  open.push(c);
  c.start();
  const r = c.setPolicy(policy(auto, grants), 'p.hujson');
  expect(r.diagnostics).toEqual([]);
  const netmap = (id: number): Netmap => (JSON.parse(c.netmapMessage(id)!) as { netmap: Netmap }).netmap;
  const allowed = (viewer: number, peer: string) => netmap(viewer).peers.find((p) => p.name === peer)?.allowedIPs.filter((a) => !a.startsWith('100.') && !a.startsWith('fd7a:')) ?? [];
  const online = (id: number) => c.openStream(id, { send() {}, kick() {} } satisfies MapSubscriber);
  return { store, c, ids: { client: client.id, r1: r1.id, r2: r2.id, exit: exit.id }, netmap, allowed, online };
}

describe('route approval', () => {
  it('advertised routes stay pending: not in allowed IPs, not in the router’s filter', () => {
    const t = setup();
    expect(t.allowed(t.ids.client, 'r1')).toEqual([]);
    expect(t.netmap(t.ids.r1).packetFilter).toEqual([]);
    expect(routeSummaries(t.store).find((s) => s.name === 'r1')).toMatchObject({ advertised: [LAN], approved: [], effective: [] });
  });

  it('manual approval: the route reaches peers’ allowed IPs and the router’s filter; unapprove takes it back', () => {
    const t = setup();
    approveRoutes(t.store, 'r1', [LAN]);
    t.c.refreshNode(t.ids.r1);
    expect(t.allowed(t.ids.client, 'r1')).toEqual([LAN]);
    expect(t.netmap(t.ids.client).peers.find((p) => p.name === 'r1')!.routes).toEqual([LAN]);
    expect(JSON.stringify(t.netmap(t.ids.r1).packetFilter)).toContain(LAN);
    // the admin API's node list (the console's machines page) shows the same
    expect(nodeSummaries(t.store).find((s) => s.name === 'r1')).toMatchObject({ advertisedRoutes: [LAN], approvedRoutes: [LAN], routes: [LAN] });
    unapproveRoutes(t.store, 'r1', [LAN]);
    t.c.refreshNode(t.ids.r1);
    expect(t.allowed(t.ids.client, 'r1')).toEqual([]);
    const audit = t.store.db.prepare("SELECT action, target FROM audit_log WHERE action LIKE 'node.routes.%' ORDER BY id").all();
    expect(audit).toEqual([{ action: 'node.routes.approve', target: 'r1' }, { action: 'node.routes.unapprove', target: 'r1' }]);
  });

  it('approving a route the node does not advertise takes effect only once it does', () => {
    const t = setup();
    // r1 serving the LAN the client may reach makes them peers (peers by policy), so r1 sees the client.
    approveRoutes(t.store, 'r1', [LAN]);
    t.c.refreshNode(t.ids.r1);
    approveRoutes(t.store, 'client', ['10.9.0.0/16']);
    t.c.refreshNode(t.ids.client);
    expect(t.allowed(t.ids.r1, 'client')).toEqual([]);
    t.c.updateFromAgent(t.ids.client, { hostinfo: { hostname: 'client', os: 'linux', routableIPs: ['10.9.0.0/16'] } });
    expect(t.allowed(t.ids.r1, 'client')).toEqual(['10.9.0.0/16']);
  });

  it.each([
    { name: 'bad prefix', routes: ['10.0.0.0/33'], err: /not a CIDR/ },
    { name: 'host bits', routes: ['10.0.0.1/24'], err: /host bits set; expected 10\.0\.0\.0\/24/ },
    { name: 'inside the tailnet range', routes: ['100.64.1.0/24'], err: /overlaps the tailnet range/ },
    { name: 'covering the tailnet range', routes: ['100.0.0.0/8'], err: /overlaps the tailnet range/ },
    { name: 'nothing', routes: [], err: /at least one route/ },
  ])('approve refuses: $name', ({ routes, err }) => {
    const t = setup();
    expect(() => approveRoutes(t.store, 'r1', routes)).toThrow(err);
  });

  it('autoApprovers: a policy change approves (and withdraws) without an admin', () => {
    const t = setup(`"autoApprovers": {"routes": {"203.0.113.0/24": ["tag:router"]}, "exitNode": ["tag:exit"]},`);
    t.online(t.ids.r1);
    t.online(t.ids.r2);
    expect(t.allowed(t.ids.client, 'r1')).toEqual([LAN]);
    expect(t.allowed(t.ids.client, 'r2')).toEqual([]); // not primary
    expect(t.allowed(t.ids.client, 'exit')).toEqual(['0.0.0.0/0', '::/0']);
    expect(routeSummaries(t.store).find((s) => s.name === 'r2')).toMatchObject({ autoApproved: [LAN], effective: [LAN], primary: [] });
    expect(t.c.setPolicy(policy(''), 'p.hujson').ok).toBe(true);
    expect(t.allowed(t.ids.client, 'r1')).toEqual([]);
    expect(t.allowed(t.ids.client, 'exit')).toEqual([]);
  });

  it('HA: the primary’s stream ends, the other router’s entry carries the route', () => {
    const t = setup(`"autoApprovers": {"routes": {"203.0.113.0/24": ["tag:router"]}},`);
    const end1 = t.online(t.ids.r1);
    t.online(t.ids.r2);
    expect([t.allowed(t.ids.client, 'r1'), t.allowed(t.ids.client, 'r2')]).toEqual([[LAN], []]);
    end1();
    expect([t.allowed(t.ids.client, 'r1'), t.allowed(t.ids.client, 'r2')]).toEqual([[], [LAN]]);
    t.online(t.ids.r1); // back: r2 stays primary
    expect([t.allowed(t.ids.client, 'r1'), t.allowed(t.ids.client, 'r2')]).toEqual([[], [LAN]]);
    expect(routeSummaries(t.store).find((s) => s.name === 'r2')?.primary).toEqual([LAN]);
  });

  it('the exit node’s filter carries autogroup:internet only once its exit routes are approved', () => {
    const t = setup();
    expect(JSON.stringify(t.netmap(t.ids.exit).packetFilter)).not.toContain('0.0.0.0/0');
    approveRoutes(t.store, 'exit', ['0.0.0.0/0', '::/0']);
    t.c.refreshNode(t.ids.exit);
    expect(JSON.stringify(t.netmap(t.ids.exit).packetFilter)).toContain('0.0.0.0/0');
  });

  it('via: the client is steered to the router carrying the via tag, others keep the primary', () => {
    const viaGrants = `{"src": ["group:eng"], "dst": ["${LAN}"], "ip": ["tcp:80"], "via": ["tag:rb"]}`;
    const t = setup(`"autoApprovers": {"routes": {"203.0.113.0/24": ["tag:router", "tag:rb"]}},`, viaGrants, ['tag:rb']);
    t.online(t.ids.r1);
    t.online(t.ids.r2);
    // r1 is primary (lower id) but its filter has no rule for the via grant; r2's has.
    expect(JSON.stringify(t.netmap(t.ids.r1).packetFilter)).not.toContain(LAN);
    expect(JSON.stringify(t.netmap(t.ids.r2).packetFilter)).toContain(LAN);
    expect(routeSummaries(t.store).find((s) => s.name === 'r1')?.primary).toEqual([LAN]);
    expect([t.allowed(t.ids.client, 'r1'), t.allowed(t.ids.client, 'r2')]).toEqual([[], [LAN]]);
    // the exit node is no source of any grant to the LAN: with peers by policy it sees neither router
    expect([t.allowed(t.ids.exit, 'r1'), t.allowed(t.ids.exit, 'r2')]).toEqual([[], []]);
    // without via both routers admit the client and the primary carries the route
    expect(t.c.setPolicy(policy(`"autoApprovers": {"routes": {"203.0.113.0/24": ["tag:router", "tag:rb"]}},`), 'p.hujson').ok).toBe(true);
    expect([t.allowed(t.ids.client, 'r1'), t.allowed(t.ids.client, 'r2')]).toEqual([[LAN], []]);
  });
});
