// Compilation semantics, table-driven over one small tailnet: who is a source (tagged devices belong to
// their tags only), what a destination node receives (only its own addresses and routes), wire details
// (IPProto omission, port merging, CapGrant shape), autogroup:self, postures with expiry, the allow-all
// quirk, and incremental updates.
import { describe, expect, it } from 'vitest';
import type { FilterRule } from '../types/filter-rule.js';
import type { Tailnet, TailnetNode } from '../types/tailnet.js';
import { GrantwireError } from '../types/errors.js';
import { parsePolicy, PolicyCompiler } from './index.js';

const NODES: TailnetNode[] = [
  { name: 'alice-laptop', user: 'alice@example.com', tags: [], ips: ['100.64.0.1', 'fd7a:115c:a1e0::1'], posture: { 'node:os': 'linux', 'node:tsVersion': '1.62.0' } },
  { name: 'alice-phone', user: 'alice@example.com', tags: [], ips: ['100.64.0.2', 'fd7a:115c:a1e0::2'], posture: { 'node:os': 'ios' } },
  { name: 'bob-laptop', user: 'bob@example.com', tags: [], ips: ['100.64.0.3', 'fd7a:115c:a1e0::3'], posture: { 'node:os': 'linux', 'node:tsVersion': '1.9.0', 'custom:jit': true }, postureExpiry: { 'custom:jit': 5000 } },
  { name: 'web-1', user: 'alice@example.com', tags: ['tag:web'], ips: ['100.64.0.10', 'fd7a:115c:a1e0::10'] },
  { name: 'db-1', user: 'bob@example.com', tags: ['tag:db'], ips: ['100.64.0.11', 'fd7a:115c:a1e0::11'] },
  { name: 'router', user: 'alice@example.com', tags: ['tag:router'], ips: ['100.64.0.20', 'fd7a:115c:a1e0::20'], routes: ['10.0.0.0/16', '0.0.0.0/0', '::/0'] },
];
const TAILNET: Tailnet = {
  users: [
    { login: 'alice@example.com', role: 'admin' },
    { login: 'bob@example.com', role: 'member' },
  ],
  nodes: NODES,
};

const HEAD = `"groups": {"group:eng": ["alice@example.com", "bob@example.com"], "group:ops": ["bob@example.com"]},
  "tagOwners": {"tag:web": ["group:eng"], "tag:db": ["group:eng"], "tag:router": []},
  "hosts": {"bob": "100.64.0.3", "lan": "10.0.1.0/24"},
  "postures": {"posture:jit": ["custom:jit == true"], "posture:new": ["node:tsVersion >= '1.10'"], "posture:notios": ["node:os != 'ios'"]},`;

function compile(body: string, tailnet: Tailnet = TAILNET, now = 0): PolicyCompiler {
  const { policy, diagnostics } = parsePolicy(`{${HEAD}\n${body}}`, 'c.hujson');
  expect(diagnostics).toEqual([]);
  return new PolicyCompiler(policy!, tailnet, { now });
}

const grant = (g: string) => `"grants": [${g}]`;
const rulesOf = (c: PolicyCompiler, node: string): FilterRule[] => JSON.parse(JSON.stringify(c.compileNode(node).rules));
const ALICE = ['100.64.0.1', '100.64.0.2', 'fd7a:115c:a1e0::1', 'fd7a:115c:a1e0::2'];
const BOB = ['100.64.0.3', 'fd7a:115c:a1e0::3'];
const dst = (ip: string, first: number, last = first) => ({ IP: ip, Ports: { First: first, Last: last } });
const own = (n: string, first: number, last = first) => {
  const node = NODES.find((x) => x.name === n)!;
  return node.ips.map((ip) => dst(ip, first, last));
};

describe('sources', () => {
  it.each([
    { name: 'a user login matches only their untagged devices (not web-1 they tagged)', src: 'alice@example.com', want: ALICE },
    { name: 'a group matches members’ untagged devices', src: 'group:ops', want: BOB },
    { name: 'autogroup:member is every untagged device', src: 'autogroup:member', want: ['100.64.0.1', '100.64.0.2/31', 'fd7a:115c:a1e0::1', 'fd7a:115c:a1e0::2/127'] },
    { name: 'autogroup:tagged', src: 'autogroup:tagged', want: ['100.64.0.10/31', '100.64.0.20', 'fd7a:115c:a1e0::10/127', 'fd7a:115c:a1e0::20'] },
    { name: 'autogroup:admin is admins’ untagged devices', src: 'autogroup:admin', want: ALICE },
    { name: 'a tag', src: 'tag:web', want: ['100.64.0.10', 'fd7a:115c:a1e0::10'] },
    { name: '* is the tailnet ranges plus approved subnet routes (not exit routes)', src: '*', want: ['10.0.0.0/16', '100.64.0.0-100.115.91.255', '100.115.94.0-100.127.255.255', 'fd7a:115c:a1e0::/48'] },
    { name: 'a host alias', src: 'bob', want: ['100.64.0.3'] },
    { name: 'a CIDR', src: '192.168.0.0/24', want: ['192.168.0.0/24'] },
    { name: 'autogroup:danger-all', src: 'autogroup:danger-all', want: ['0.0.0.0/0', '::/0'] },
  ])('$name', ({ src, want }) => {
    const c = compile(grant(`{"src": ["${src}"], "dst": ["tag:db"], "ip": ["tcp:5432"]}`));
    expect(rulesOf(c, 'db-1')).toEqual([{ SrcIPs: want, DstPorts: own('db-1', 5432), IPProto: [6] }]);
  });

  it('merges adjacent addresses into CIDRs', () => {
    const nodes = [4, 5, 6, 7, 9].map((i) => ({ name: `n${i}`, user: 'bob@example.com', tags: [], ips: [`100.64.0.${i}`] }));
    const c = compile(grant(`{"src": ["bob@example.com"], "dst": ["tag:db"], "ip": ["22"]}`), { users: TAILNET.users, nodes: [...nodes, NODES[4]] });
    expect(rulesOf(c, 'db-1')[0].SrcIPs).toEqual(['100.64.0.4/30', '100.64.0.9']);
  });
});

describe('destinations', () => {
  it('a node gets only rules whose destination includes it, naming only its own addresses', () => {
    const c = compile(grant(`{"src": ["group:eng"], "dst": ["tag:web"], "ip": ["tcp:443"]}`));
    expect(rulesOf(c, 'web-1')).toEqual([{ SrcIPs: ['100.64.0.1', '100.64.0.2/31', 'fd7a:115c:a1e0::1', 'fd7a:115c:a1e0::2/127'], DstPorts: own('web-1', 443), IPProto: [6] }]);
    for (const n of ['alice-laptop', 'bob-laptop', 'db-1', 'router']) expect(rulesOf(c, n)).toEqual([]);
  });
  it('dst * covers own addresses and served routes, exit routes included (as Tailscale ships "*")', () => {
    const c = compile(grant(`{"src": ["tag:web"], "dst": ["*"], "ip": ["22"]}`));
    expect(rulesOf(c, 'router')[0].DstPorts).toEqual([dst('0.0.0.0/0', 22), dst('10.0.0.0/16', 22), dst('100.64.0.20', 22), dst('::/0', 22), dst('fd7a:115c:a1e0::20', 22)]);
    const noExit = compile(grant(`{"src": ["tag:web"], "dst": ["*"], "ip": ["22"]}`), { users: TAILNET.users, nodes: NODES.map((n) => (n.name === 'router' ? { ...n, routes: ['10.0.0.0/16'] } : n)) });
    expect(rulesOf(noExit, 'router')[0].DstPorts).toEqual([dst('10.0.0.0/16', 22), dst('100.64.0.20', 22), dst('fd7a:115c:a1e0::20', 22)]);
  });
  it('a CIDR destination goes to the subnet router serving it, as the overlap', () => {
    const c = compile(grant(`{"src": ["tag:web"], "dst": ["lan", "10.0.0.0/8"], "ip": ["tcp:80"]}`));
    expect(rulesOf(c, 'router')).toEqual([{ SrcIPs: ['100.64.0.10', 'fd7a:115c:a1e0::10'], DstPorts: [dst('10.0.0.0/16', 80)], IPProto: [6] }]);
    expect(rulesOf(c, 'web-1')).toEqual([]);
  });
  it('via limits routed destinations to subnet routers with those tags', () => {
    const tn: Tailnet = { users: TAILNET.users, nodes: [...NODES, { name: 'router-2', tags: ['tag:web'], ips: ['100.64.0.21'], routes: ['10.0.0.0/16'] }] };
    const via = compile(grant(`{"src": ["tag:db"], "dst": ["lan", "*"], "ip": ["tcp:80"], "via": ["tag:router"]}`), tn);
    expect(rulesOf(via, 'router')[0].DstPorts).toEqual([dst('0.0.0.0/0', 80), dst('::/0', 80)]); // `*` includes its exit routes
    expect(rulesOf(via, 'router-2')[0].DstPorts).toEqual([dst('100.64.0.21', 80)]);
    const plain = compile(grant(`{"src": ["tag:db"], "dst": ["lan"], "ip": ["tcp:80"]}`), tn);
    expect(rulesOf(plain, 'router-2')[0].DstPorts).toEqual([dst('10.0.1.0/24', 80)]);
  });
  it('a host alias that looks like hex digits is still the alias', () => {
    const { policy, diagnostics } = parsePolicy(`{"hosts": {"cafe.bead": "100.64.0.3"}, "ipsets": {"ipset:x": ["cafe.bead"]}, "grants": [{"src": ["cafe.bead", "ipset:x"], "dst": ["cafe.bead"], "ip": ["22"]}]}`, 'h.hujson');
    expect(diagnostics).toEqual([]);
    expect(rulesOf(new PolicyCompiler(policy!, TAILNET), 'bob-laptop')[0].SrcIPs).toEqual(['100.64.0.3']);
  });
  it('a tailnet IP destination goes to its node only', () => {
    const c = compile(grant(`{"src": ["tag:web"], "dst": ["bob", "100.64.0.0/30"], "ip": ["tcp:80"]}`));
    expect(rulesOf(c, 'bob-laptop')[0].DstPorts).toEqual([dst('100.64.0.3', 80)]);
    expect(rulesOf(c, 'alice-laptop')[0].DstPorts).toEqual([dst('100.64.0.1', 80)]);
    expect(rulesOf(c, 'db-1')).toEqual([]);
  });
  it('autogroup:internet goes to exit nodes as their default routes', () => {
    const c = compile(grant(`{"src": ["autogroup:member"], "dst": ["autogroup:internet"], "ip": ["*"]}`));
    expect(rulesOf(c, 'router')[0].DstPorts).toEqual([dst('0.0.0.0/0', 0, 65535), dst('::/0', 0, 65535)]);
    expect(rulesOf(c, 'web-1')).toEqual([]);
  });
  it('autogroup:self: each user reaches only their own untagged devices', () => {
    const c = compile(grant(`{"src": ["autogroup:member"], "dst": ["autogroup:self"], "ip": ["*"]}`));
    expect(rulesOf(c, 'alice-phone')).toEqual([{ SrcIPs: ALICE, DstPorts: own('alice-phone', 0, 65535) }]);
    expect(rulesOf(c, 'bob-laptop')).toEqual([{ SrcIPs: BOB, DstPorts: own('bob-laptop', 0, 65535) }]);
    expect(rulesOf(c, 'web-1')).toEqual([]);
  });
  it('autogroup:self with a group src only serves members', () => {
    const c = compile(grant(`{"src": ["group:ops"], "dst": ["autogroup:self"], "ip": ["22"]}`));
    expect(rulesOf(c, 'alice-laptop')).toEqual([]);
    expect(rulesOf(c, 'bob-laptop')[0].SrcIPs).toEqual(BOB);
  });
});

describe('ip and app', () => {
  it.each([
    { ip: '"*"', want: [{ DstPorts: own('db-1', 0, 65535) }] },
    { ip: '"22"', want: [{ DstPorts: own('db-1', 22) }] },
    { ip: '"tcp:*"', want: [{ DstPorts: own('db-1', 0, 65535), IPProto: [6] }] },
    { ip: '"icmp:*"', want: [{ DstPorts: own('db-1', 0, 65535), IPProto: [1, 58] }] },
    { ip: '"gre:*"', want: [{ DstPorts: own('db-1', 0, 65535), IPProto: [47] }] },
    { ip: '"132:*"', want: [{ DstPorts: own('db-1', 0, 65535), IPProto: [132] }] },
    {
      ip: '"tcp:80-90", "tcp:22", "tcp:91", "udp:53"',
      want: [
        { DstPorts: [dst('100.64.0.11', 22), dst('100.64.0.11', 80, 91), dst('fd7a:115c:a1e0::11', 22), dst('fd7a:115c:a1e0::11', 80, 91)], IPProto: [6] },
        { DstPorts: own('db-1', 53), IPProto: [17] },
      ],
    },
  ])('ip [$ip]', ({ ip, want }) => {
    const c = compile(grant(`{"src": ["tag:web"], "dst": ["tag:db"], "ip": [${ip}]}`));
    expect(rulesOf(c, 'db-1')).toEqual(want.map((w) => ({ SrcIPs: ['100.64.0.10', 'fd7a:115c:a1e0::10'], ...w })));
  });
  it('ip + app become two rules; CapGrant Dsts are host prefixes', () => {
    const c = compile(grant(`{"src": ["tag:web"], "dst": ["tag:db"], "ip": ["tcp:443"], "app": {"example.com/cap/sql": [{"db": ["x"]}, {"db": ["y"]}]}}`));
    expect(rulesOf(c, 'db-1')).toEqual([
      { SrcIPs: ['100.64.0.10', 'fd7a:115c:a1e0::10'], DstPorts: own('db-1', 443), IPProto: [6] },
      { SrcIPs: ['100.64.0.10', 'fd7a:115c:a1e0::10'], CapGrant: [{ Dsts: ['100.64.0.11/32', 'fd7a:115c:a1e0::11/128'], CapMap: { 'example.com/cap/sql': [{ db: ['x'] }, { db: ['y'] }] } }] },
    ]);
  });
  it('an app-only grant gives capabilities but no network access', () => {
    const c = compile(grant(`{"src": ["tag:web"], "dst": ["tag:db"], "app": {"example.com/cap/sql": [{}]}}`));
    const rules = rulesOf(c, 'db-1');
    expect(rules).toHaveLength(1);
    expect(rules[0].DstPorts).toBeUndefined();
    expect(rules[0].CapGrant).toBeDefined();
  });
});

describe('legacy acls', () => {
  it('convert to grants with per-destination ports and the acl proto', () => {
    const c = compile(`"acls": [{"action": "accept", "src": ["group:ops"], "proto": "tcp", "dst": ["tag:web:22", "tag:db:80-81", "tag:db:22"]}]`);
    expect(rulesOf(c, 'web-1')).toEqual([{ SrcIPs: BOB, DstPorts: own('web-1', 22), IPProto: [6] }]);
    expect(rulesOf(c, 'db-1')).toEqual([{ SrcIPs: BOB, DstPorts: [dst('100.64.0.11', 22), dst('100.64.0.11', 80, 81), dst('fd7a:115c:a1e0::11', 22), dst('fd7a:115c:a1e0::11', 80, 81)], IPProto: [6] }]);
    expect(c.compileNode('db-1').origins).toEqual([{ kind: 'acl', index: 0, file: 'c.hujson', line: 5, col: 10 }]);
  });
  it('*:* without proto is every port of the default protocols', () => {
    const c = compile(`"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]`);
    expect(rulesOf(c, 'db-1')).toEqual([{ SrcIPs: ['10.0.0.0/16', '100.64.0.0-100.115.91.255', '100.115.94.0-100.127.255.255', 'fd7a:115c:a1e0::/48'], DstPorts: own('db-1', 0, 65535) }]);
  });
});

describe('allow-all quirk and deny-all', () => {
  it('no grants and no acls allows everything (origin kind default)', () => {
    const c = compile(`"ssh": []`);
    const f = c.compileNode('web-1');
    expect(f.rules).toEqual([{ SrcIPs: ['10.0.0.0/16', '100.64.0.0-100.115.91.255', '100.115.94.0-100.127.255.255', 'fd7a:115c:a1e0::/48'], DstPorts: own('web-1', 0, 65535) }]);
    expect(f.origins[0].kind).toBe('default');
  });
  it('"grants": [] denies everything', () => {
    const c = compile(`"grants": []`);
    for (const n of NODES) expect(c.compileNode(n.name).rules).toEqual([]);
  });
});

describe('postures', () => {
  const body = (p: string) => grant(`{"src": ["autogroup:member"], "dst": ["tag:db"], "ip": ["tcp:5432"], "srcPosture": [${p}]}`);
  it.each([
    { name: 'custom attribute set', p: '"posture:jit"', now: 0, want: BOB },
    { name: 'custom attribute expired', p: '"posture:jit"', now: 5000, want: null },
    { name: 'versions compare per component (1.62 ≥ 1.10, 1.9 < 1.10); unset fails', p: '"posture:new"', now: 0, want: ['100.64.0.1', 'fd7a:115c:a1e0::1'] },
    { name: 'OR of postures', p: '"posture:new", "posture:jit"', now: 0, want: ['100.64.0.1', '100.64.0.3', 'fd7a:115c:a1e0::1', 'fd7a:115c:a1e0::3'] },
    { name: '!= fails for ios', p: '"posture:notios"', now: 0, want: ['100.64.0.1', '100.64.0.3', 'fd7a:115c:a1e0::1', 'fd7a:115c:a1e0::3'] },
  ])('$name', ({ p, now, want }) => {
    const c = compile(body(p), TAILNET, now);
    expect(rulesOf(c, 'db-1')).toEqual(want ? [{ SrcIPs: want, DstPorts: own('db-1', 5432), IPProto: [6] }] : []);
  });
  it('defaultSrcPosture applies to grants without srcPosture', () => {
    const c = compile(`"defaultSrcPosture": ["posture:jit"], ${grant(`{"src": ["autogroup:member"], "dst": ["tag:db"], "ip": ["22"]}`)}`);
    expect(rulesOf(c, 'db-1')[0].SrcIPs).toEqual(BOB);
  });
  it('setNow closes the grant at expiry and reports the affected nodes; nextExpiry schedules it', () => {
    const c = compile(body('"posture:jit"'), TAILNET, 1000);
    expect(c.nextExpiry()).toBe(5000);
    expect(c.setNow(4999)).toEqual([]);
    expect(c.setNow(5000)).toEqual(['bob-laptop', 'db-1']);
    expect(rulesOf(c, 'db-1')).toEqual([]);
    expect(c.nextExpiry()).toBeNull();
    expect(c.setNow(10)).toEqual(['bob-laptop', 'db-1']);
    expect(rulesOf(c, 'db-1')[0].SrcIPs).toEqual(BOB);
  });
});

describe('nodeAttrs', () => {
  it('become the node’s own capMap, separate from rules', () => {
    const c = compile(`"grants": [], "nodeAttrs": [
      {"target": ["autogroup:member"], "attr": ["funnel"]},
      {"target": ["alice@example.com"], "attr": ["funnel", "drive:share"], "app": {"example.com/cap/x": [{"a": 1}]}},
      {"target": ["*"], "app": {"example.com/cap/x": [{"b": 2}]}}]`);
    expect(c.compileNode('alice-laptop').capMap).toEqual({ 'drive:share': [], 'example.com/cap/x': [{ a: 1 }, { b: 2 }], funnel: [] });
    expect(c.compileNode('web-1').capMap).toEqual({ 'example.com/cap/x': [{ b: 2 }] });
  });
});

describe('API contract', () => {
  it('compileNode throws GrantwireError ERR_POLICY_UNKNOWN_NODE for an unknown node', () => {
    const c = compile(`"grants": []`);
    expect(() => c.compileNode('nope')).toThrow(GrantwireError);
    expect(() => c.compileNode('nope')).toThrow(expect.objectContaining({ code: 'ERR_POLICY_UNKNOWN_NODE' }));
  });
  it('origins are index-aligned with rules and point at the grant', () => {
    const c = compile(`"grants": [
    {"src": ["tag:web"], "dst": ["tag:db"], "ip": ["tcp:1", "udp:2"], "app": {"example.com/cap/x": [{}]}},
    {"src": ["tag:web"], "dst": ["tag:db"], "ip": ["3"]}]`);
    const f = c.compileNode('db-1');
    expect(f.origins.map((o) => [o.kind, o.index, o.line, o.col])).toEqual([
      ['grant', 0, 6, 5],
      ['grant', 0, 6, 5],
      ['grant', 0, 6, 5],
      ['grant', 1, 7, 5],
    ]);
    expect(f.rules.length).toBe(f.origins.length);
  });
  it('compileAll covers every node by name', () => {
    const c = compile(`"grants": []`);
    expect([...c.compileAll().keys()]).toEqual(NODES.map((n) => n.name).sort());
  });
});

describe('incremental updates', () => {
  const body = `"grants": [
    {"src": ["alice@example.com"], "dst": ["tag:db"], "ip": ["22"]},
    {"src": ["tag:db"], "dst": ["tag:web"], "ip": ["80"]},
    {"src": ["autogroup:member"], "dst": ["autogroup:self"], "ip": ["*"]}]`;
  it('a joining device of alice reaches db-1, and only affected nodes are reported', () => {
    const c = compile(body);
    const affected = c.upsertNode({ name: 'alice-tablet', user: 'alice@example.com', tags: [], ips: ['100.64.0.30', 'fd7a:115c:a1e0::30'] });
    expect(affected).toEqual(['alice-laptop', 'alice-phone', 'alice-tablet', 'db-1']);
    expect(rulesOf(c, 'db-1')[0].SrcIPs).toEqual(['100.64.0.1', '100.64.0.2', '100.64.0.30', 'fd7a:115c:a1e0::1', 'fd7a:115c:a1e0::2', 'fd7a:115c:a1e0::30']);
    expect(c.removeNode('alice-tablet')).toEqual(['alice-laptop', 'alice-phone', 'db-1']);
    expect(rulesOf(c, 'db-1')[0].SrcIPs).toEqual(ALICE);
  });
  it('tagging a device moves it from its user to its tag', () => {
    const c = compile(body);
    const affected = c.upsertNode({ ...NODES[1], tags: ['tag:db'] });
    expect(affected).toEqual(['alice-laptop', 'alice-phone', 'db-1', 'web-1']);
    expect(rulesOf(c, 'alice-phone')[0].SrcIPs).toEqual(['100.64.0.1', 'fd7a:115c:a1e0::1']);
    expect(rulesOf(c, 'web-1')[0].SrcIPs).toEqual(['100.64.0.2', '100.64.0.11', 'fd7a:115c:a1e0::2', 'fd7a:115c:a1e0::11']);
  });
  it('setUsers: a role change moves devices in and out of autogroup:admin', () => {
    const c = compile(`"grants": [{"src": ["autogroup:admin"], "dst": ["tag:db"], "ip": ["22"]}]`);
    expect(rulesOf(c, 'db-1')[0].SrcIPs).toEqual(ALICE);
    expect(c.setUsers([{ login: 'alice@example.com' }, { login: 'bob@example.com', role: 'admin' }])).toEqual(['alice-laptop', 'alice-phone', 'bob-laptop', 'db-1']);
    expect(rulesOf(c, 'db-1')[0].SrcIPs).toEqual(BOB);
    expect(c.setUsers([{ login: 'alice@example.com' }, { login: 'bob@example.com', role: 'admin' }])).toEqual([]);
  });
  it('an unchanged upsert affects only the node itself', () => {
    const c = compile(body);
    expect(c.upsertNode({ ...NODES[0] })).toEqual(['alice-laptop']);
  });
});
