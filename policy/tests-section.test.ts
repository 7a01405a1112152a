// The `tests` section and checkPolicy: tests run against the given tailnet, with synthetic devices for
// identities it lacks, or against a tailnet synthesized from the policy.
import { describe, expect, it } from 'vitest';
import type { Tailnet } from '../types/tailnet.js';
import { checkPolicy, parsePolicy, PolicyCompiler, synthesizeTailnet } from './index.js';

const POLICY = `{
  "groups": {"group:eng": ["alice@example.com", "bob@example.com"]},
  "tagOwners": {"tag:db": ["group:eng"], "tag:ci": ["alice@example.com"], "tag:bot": ["tag:ci"], "tag:locked": []},
  "hosts": {"db-vip": "100.64.9.9"},
  "postures": {"posture:linux": ["node:os == 'linux'"]},
  "grants": [
    {"src": ["group:eng"], "dst": ["tag:db"], "ip": ["tcp:5432"]},
    {"src": ["tag:ci"], "dst": ["tag:db"], "ip": ["tcp:22"], "srcPosture": ["posture:linux"]},
    {"src": ["alice@example.com"], "dst": ["db-vip"], "ip": ["udp:53"]},
  ],
  "tests": [
    {"src": "bob@example.com", "accept": ["tag:db:5432"], "deny": ["tag:db:22"]},
    {"src": "tag:ci", "deny": ["tag:db:5432"]},
  ],
}`;

describe('tests section', () => {
  it('passes without a tailnet (synthesized devices)', () => {
    expect(checkPolicy(POLICY, 'p.hujson').diagnostics).toEqual([]);
  });
  it('synthesizes one device per named user and declared tag', () => {
    const tn = synthesizeTailnet(parsePolicy(POLICY, 'p').policy!);
    expect(tn.nodes.map((n) => n.user ?? n.tags.join())).toEqual(['alice@example.com', 'bob@example.com', 'tag:bot', 'tag:ci', 'tag:db', 'tag:locked']);
    expect(new Set(tn.nodes.flatMap((n) => n.ips)).size).toBe(tn.nodes.length * 2);
  });
  it('uses the real tailnet, where posture matters, and fills in missing identities', () => {
    const tailnet: Tailnet = {
      users: [{ login: 'alice@example.com' }],
      nodes: [
        { name: 'ci-1', tags: ['tag:ci'], ips: ['100.64.0.5'], posture: { 'node:os': 'linux' } },
        { name: 'db-1', tags: ['tag:db'], ips: ['100.64.0.6'] },
      ],
    };
    const text = POLICY.replace('{"src": "tag:ci", "deny": ["tag:db:5432"]}', '{"src": "tag:ci", "accept": ["tag:db:22"]}');
    expect(checkPolicy(text, 'p.hujson', tailnet).diagnostics).toEqual([]);
    // without the posture the same test fails, naming the pair
    const noPosture = { ...tailnet, nodes: [{ ...tailnet.nodes[0], posture: {} }, tailnet.nodes[1]] };
    expect(checkPolicy(text, 'p.hujson', noPosture).diagnostics.map((d) => d.message)).toEqual([
      'test 1 (src tag:ci, accept "tag:db:22"): test(s) failed: expected accept, got deny: no grant allows tcp/22 from tag:ci to tag:db',
    ]);
  });
  it('host and IP targets resolve to the node owning the address', () => {
    const tailnet: Tailnet = { users: [{ login: 'alice@example.com' }], nodes: [{ name: 'vip', tags: ['tag:db'], ips: ['100.64.9.9'] }] };
    const text = POLICY.replace('"tests": [', '"tests": [{"src": "alice@example.com", "proto": "udp", "accept": ["db-vip:53", "100.64.9.9:53"], "deny": ["db-vip:54"]},');
    expect(checkPolicy(text, 'p.hujson', tailnet).diagnostics).toEqual([]);
  });
  it('srcPostureAttrs evaluates the src as a device with those attributes only', () => {
    const text = POLICY.replace('"tests": [', `"tests": [
    {"src": "tag:ci", "srcPostureAttrs": {"node:os": "linux"}, "accept": ["tag:db:22"]},
    {"src": "tag:ci", "srcPostureAttrs": {"node:os": "macos"}, "deny": ["tag:db:22"]},`);
    expect(checkPolicy(text, 'p.hujson').diagnostics).toEqual([]);
    const bad = parsePolicy(POLICY.replace('"tests": [', '"tests": [{"src": "db-vip", "srcPostureAttrs": {"color": 1}, "deny": ["tag:db:22"]},'), 'p.hujson');
    expect(bad.diagnostics.map((d) => d.message)).toEqual([
      'test 0: srcPostureAttrs needs a src that is a device identity (user, group or tag), not an address',
      'test 0 srcPostureAttrs: attribute "color" must look like node:name or custom:name',
    ]);
  });
  it('routed destinations without a router get a synthetic subnet router (with the via tags)', () => {
    const text = POLICY.replace('"tests": [', `"tests": [{"src": "bob@example.com", "accept": ["10.1.2.3:443"], "deny": ["10.9.0.1:443"]},`).replace(
      '"grants": [',
      '"grants": [{"src": ["group:eng"], "dst": ["10.1.0.0/16"], "ip": ["tcp:443"], "via": ["tag:ci"]},',
    );
    expect(checkPolicy(text, 'p.hujson').diagnostics).toEqual([]);
  });
  it('failures that rest on synthetic devices say so', () => {
    const text = POLICY.replace('"tests": [', '"tests": [{"src": "tag:ci", "accept": ["tag:db:22"]},');
    expect(checkPolicy(text, 'p.hujson').diagnostics[0].message).toMatch(/\[on a synthetic device: no posture, member role; use a tailnet file or srcPostureAttrs\]$/);
  });
  // Tests ask what the filter does with the first packet (types/rule-match.ts): ICMP is an echo request,
  // which any open port lets through; port-less protocols such as GRE need a rule covering every port.
  it.each([
    { name: 'ping passes where any port is open', test: '{"src": "bob@example.com", "proto": "icmp", "accept": ["tag:db:1"]}', grant: '', fails: false },
    { name: 'ping is denied where nothing is open', test: '{"src": "tag:ci", "proto": "icmp", "deny": ["db-vip:1"]}', grant: '', fails: false },
    { name: 'a deny test for ping fails when a port is open', test: '{"src": "bob@example.com", "proto": "icmp", "deny": ["tag:db:1"]}', grant: '', fails: true },
    { name: 'GRE passes with gre:*', test: '{"src": "bob@example.com", "proto": "gre", "accept": ["tag:db:1"]}', grant: '{"src": ["group:eng"], "dst": ["tag:db"], "ip": ["gre:*"]},', fails: false },
    { name: 'GRE is not in the default protocols', test: '{"src": "bob@example.com", "proto": "gre", "deny": ["tag:locked:1"]}', grant: '{"src": ["group:eng"], "dst": ["tag:locked"], "ip": ["*"]},', fails: false },
    { name: 'a GRE test fails without gre:*', test: '{"src": "bob@example.com", "proto": "gre", "accept": ["tag:locked:1"]}', grant: '{"src": ["group:eng"], "dst": ["tag:locked"], "ip": ["*"]},', fails: true },
    { name: 'udp checks the port', test: '{"src": "alice@example.com", "proto": "udp", "accept": ["db-vip:53"], "deny": ["db-vip:54"]}', grant: '', fails: false },
  ])('$name', ({ test, grant, fails }) => {
    const text = POLICY.replace('"tests": [', `"tests": [${test},`).replace('"grants": [', `"grants": [${grant}`);
    expect(checkPolicy(text, 'p.hujson').diagnostics.length > 0).toBe(fails);
  });
  it('runTests on a compiler reports at the failing target', () => {
    const text = POLICY.replace('"deny": ["tag:db:22"]', '"deny": ["tag:db:5432"]');
    const { policy } = parsePolicy(text, 'p.hujson');
    const c = new PolicyCompiler(policy!, synthesizeTailnet(policy!));
    expect(c.runTests()).toEqual([expect.objectContaining({ line: 12, col: 68, code: 'ERR_POLICY_TEST_FAILED' })]);
  });
});
