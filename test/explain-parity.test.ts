// `agent explain` and `control policy eval` answer the same question ("would B's filter let this packet
// from A in?") on two code paths: the agent parses `--proto`, sends it through LocalAPI, and its data
// plane asks its live FilterEngine; policy eval parses a JSON query and asks a FilterEngine built from the
// compiled policy. Both must build the same probe and reach the same verdict. One table of queries runs
// through both, and through the expected answer, so a path that judges a probe as malformed (as an
// 8-byte SCTP or DCCP probe once was) fails here.
import { afterAll, describe, expect, it } from 'vitest';
import { AgentDataplane } from '../agent/dataplane.js';
import { PolicyEvaluator } from '../control/cli/policy-eval.js';
import { parseExplainQuery } from '../localapi/server.js';
import { FakePacketDevice } from '../net/fake-packet-device.js';
import { checkPolicy, PolicyCompiler } from '../policy/index.js';
import { parseIpProto } from '../types/ipproto.js';
import type { Tailnet } from '../types/tailnet.js';
import { FakeNetwork } from '../net/fake-udp-bind.js';
import { NodePublic, generatePrivateKey, publicKeyFromPrivate } from '../crypto/key.js';

const POLICY = `{
  "tagOwners": {"tag:server": ["alice@example.com"]},
  "grants": [
    {"src": ["alice@example.com"], "dst": ["tag:server"],
     "ip": ["tcp:22", "udp:53", "icmp:*", "sctp:9899", "dccp:5000", "gre:*", "136:*"]},
    {"src": ["bob@example.com"], "dst": ["tag:server"], "ip": ["icmpv6:*", "tcp:443"]},
  ],
}`;

const TAILNET: Tailnet = {
  users: [{ login: 'alice@example.com' }, { login: 'bob@example.com' }, { login: 'carol@example.com' }],
  nodes: [
    { name: 'server', user: 'alice@example.com', tags: ['tag:server'], ips: ['100.64.0.1', 'fd7a:115c:a1e0::1'] },
    { name: 'alice-laptop', user: 'alice@example.com', tags: [], ips: ['100.64.0.2', 'fd7a:115c:a1e0::2'] },
    { name: 'bob-laptop', user: 'bob@example.com', tags: [], ips: ['100.64.0.3', 'fd7a:115c:a1e0::3'] },
    { name: 'carol-laptop', user: 'carol@example.com', tags: [], ips: ['100.64.0.4', 'fd7a:115c:a1e0::4'] },
  ],
};

const ADDR: Record<string, { 4: string; 6: string }> = {
  'alice-laptop': { 4: '100.64.0.2', 6: 'fd7a:115c:a1e0::2' },
  'bob-laptop': { 4: '100.64.0.3', 6: 'fd7a:115c:a1e0::3' },
  'carol-laptop': { 4: '100.64.0.4', 6: 'fd7a:115c:a1e0::4' },
  server: { 4: '100.64.0.1', 6: 'fd7a:115c:a1e0::1' },
};

interface Query {
  from: string;
  /** As a person types it: `--proto` for the agent, "proto" for policy eval. */
  proto: string;
  dport?: number;
  family: 4 | 6;
  want: 'accept' | 'drop';
}

const q = (from: string, proto: string, dport: number | undefined, want: Query['want']): Query[] =>
  ([4, 6] as const).map((family) => ({ from, proto, ...(dport !== undefined ? { dport } : {}), family, want }));

const QUERIES: Query[] = [
  // TCP
  ...q('alice-laptop', 'tcp', 22, 'accept'),
  ...q('alice-laptop', 'TCP', 23, 'drop'),
  ...q('bob-laptop', 'tcp', 22, 'drop'),
  ...q('bob-laptop', '6', 443, 'accept'),
  // UDP
  ...q('alice-laptop', 'udp', 53, 'accept'),
  ...q('alice-laptop', '17', 54, 'drop'),
  // ICMP: either name means the echo request of the family; policy's `icmp` covers both families
  ...q('alice-laptop', 'icmp', undefined, 'accept'),
  ...q('alice-laptop', 'icmpv6', undefined, 'accept'),
  ...q('alice-laptop', '1', undefined, 'accept'),
  // An echo request gets in when any rule lets the source reach the destination (filter.md), so bob,
  // with tcp:443 and icmpv6, may ping over both families; carol, with no grant, over neither.
  ...q('bob-laptop', 'icmp', undefined, 'accept'),
  ...q('bob-laptop', 'ipv6-icmp', undefined, 'accept'),
  ...q('carol-laptop', 'icmp', undefined, 'drop'),
  ...q('carol-laptop', '58', undefined, 'drop'),
  // SCTP and DCCP: full headers, judged by port
  ...q('alice-laptop', 'sctp', 9899, 'accept'),
  ...q('alice-laptop', '132', 9898, 'drop'),
  ...q('bob-laptop', 'sctp', 9899, 'drop'),
  ...q('alice-laptop', 'dccp', 5000, 'accept'),
  ...q('alice-laptop', '33', 5001, 'drop'),
  // UDP-Lite (by number only; its probe carries ports)
  ...q('alice-laptop', '136', 7000, 'accept'),
  ...q('bob-laptop', '136', 7000, 'drop'),
  // port-less protocols
  ...q('alice-laptop', 'gre', undefined, 'accept'),
  ...q('alice-laptop', '47', undefined, 'accept'),
  ...q('bob-laptop', 'gre', undefined, 'drop'),
  ...q('alice-laptop', 'esp', undefined, 'drop'),
  ...q('alice-laptop', '253', undefined, 'drop'),
];

function compiler(): PolicyCompiler {
  const { policy, diagnostics } = checkPolicy(POLICY, 'parity.hujson', TAILNET);
  if (!policy) throw new Error(diagnostics.map((d) => d.message).join('\n'));
  return new PolicyCompiler(policy, TAILNET);
}

describe('agent explain and control policy eval agree', () => {
  const c = compiler();
  const evaluator = new PolicyEvaluator(c, TAILNET);

  // The agent side: the server's data plane over in-memory fakes, with the netmap control would send.
  const net = new FakeNetwork();
  const priv = generatePrivateKey();
  const dp = new AgentDataplane({ privateKey: priv, tun: new FakePacketDevice('gw-parity'), bind: net.bind('192.0.2.1:41641'), tunControl: null, hostAddresses: () => [] });
  const nf = c.compileNode('server');
  dp.apply({
    self: {
      id: 1,
      stableId: 'n1',
      name: 'server',
      nodeKey: NodePublic.text(publicKeyFromPrivate(priv)),
      addresses: ['100.64.0.1/32', 'fd7a:115c:a1e0::1/128'],
      allowedIPs: ['100.64.0.1/32', 'fd7a:115c:a1e0::1/128'],
      endpoints: [],
      tags: ['tag:server'],
      user: 1,
      hostinfo: { hostname: 'server', os: 'linux' },
      online: true,
    },
    peers: [],
    userProfiles: [],
    packetFilter: nf.rules,
    packetFilterOrigins: nf.origins,
    capMap: {},
    policyVersion: 1,
  });
  afterAll(async () => {
    await dp.close();
  });

  /** What `agent explain --src --dst --proto [--dport]` gets: CLI parse, LocalAPI query string, data plane. */
  function agentExplain(x: Query): { verdict: string; reason: string } {
    const proto = parseIpProto(x.proto);
    if (proto === null) throw new Error(`agent explain rejects --proto ${x.proto}`);
    const params = new URLSearchParams({ src: ADDR[x.from][x.family], dst: ADDR.server[x.family], proto: String(proto) });
    if (x.dport !== undefined) params.set('dport', String(x.dport));
    const r = dp.explain(parseExplainQuery(params));
    return { verdict: r.Verdict, reason: r.Reason };
  }

  function policyEval(x: Query): { verdict: string; reason: string } {
    const r = evaluator.answer({ from: x.from, to: 'server', proto: x.proto, family: x.family, ...(x.dport !== undefined ? { dport: x.dport } : {}) });
    return { verdict: r.verdict as string, reason: r.reason as string };
  }

  it.each(QUERIES)('$from → server v$family $proto $dport: $want', (x) => {
    const agent = agentExplain(x);
    const evaluated = policyEval(x);
    expect(agent).toEqual(evaluated);
    expect(agent.verdict).toBe(x.want);
    expect(agent.reason).toBe(x.want === 'accept' ? 'rule' : 'no_rule');
  });
});
