import { describe, expect, it } from 'vitest';
import type { FilterRule } from '../types/filter-rule.js';
import type { Tailnet } from '../types/tailnet.js';
import type { NodeCompiler } from './policy-engine.js';
import { reachPreview } from './policy-preview.js';

const TAILNET: Tailnet = {
  users: [{ login: 'a@x' }, { login: 'b@x' }],
  nodes: [
    { name: 'a', user: 'a@x', tags: [], ips: ['100.64.0.1', 'fd7a:115c:a1e0::1'] },
    { name: 'b', user: 'b@x', tags: [], ips: ['100.64.0.2', 'fd7a:115c:a1e0::2'] },
    { name: 'web', user: 'a@x', tags: ['tag:web'], ips: ['100.64.0.3', 'fd7a:115c:a1e0::3'] },
  ],
};

/** A compiler whose per-node rules are given outright: the preview's job is reading rules, not compiling. */
function fixed(rules: Record<string, FilterRule[]>): NodeCompiler {
  return {
    compileNode: (name) => ({ rules: rules[name] ?? [], origins: [], capMap: {} }),
    upsertNode: () => [],
    removeNode: () => [],
    setNow: () => [],
    nextExpiry: () => null,
  };
}

const dst = (IP: string, First: number, Last = First) => ({ IP, Ports: { First, Last } });

describe('reachPreview', () => {
  it.each([
    { name: 'no rules: nobody', rules: {}, want: { inbound: [], outbound: [] } },
    {
      name: 'one port, default protocols',
      rules: { web: [{ SrcIPs: ['100.64.0.1'], DstPorts: [dst('100.64.0.3', 443)] }] },
      want: { inbound: [{ peer: 'a', owner: 'a@x', access: ['icmp', 'icmpv6', 'tcp:443', 'udp:443'] }], outbound: [] },
    },
    {
      name: 'a range and every port, TCP only, from the whole tailnet',
      rules: { web: [{ SrcIPs: ['100.64.0.0/10'], DstPorts: [dst('100.64.0.3', 8000, 8080), dst('*', 0, 65535)], IPProto: [6] }] },
      want: {
        inbound: [
          { peer: 'a', owner: 'a@x', access: ['tcp:*', 'tcp:8000-8080'] },
          { peer: 'b', owner: 'b@x', access: ['tcp:*', 'tcp:8000-8080'] },
        ],
        outbound: [],
      },
    },
    {
      name: 'a rule for another destination address does not count',
      rules: { web: [{ SrcIPs: ['*'], DstPorts: [dst('100.64.0.9', 22)], IPProto: [6] }] },
      want: { inbound: [], outbound: [] },
    },
    {
      name: 'capabilities show as cap:NAME',
      rules: { web: [{ SrcIPs: ['fd7a:115c:a1e0::2'], CapGrant: [{ Dsts: ['fd7a:115c:a1e0::3/128'], CapMap: { 'example.com/cap/sql': [{}] } }] }] },
      want: { inbound: [{ peer: 'b', owner: 'b@x', access: ['cap:example.com/cap/sql'] }], outbound: [] },
    },
    {
      name: 'outbound: the peer filter admits the node',
      rules: { a: [{ SrcIPs: ['100.64.0.3'], DstPorts: [dst('100.64.0.1', 22)], IPProto: [6, 132] }] },
      want: { inbound: [], outbound: [{ peer: 'a', owner: 'a@x', access: ['sctp:22', 'tcp:22'] }] },
    },
  ])('$name', ({ rules, want }) => {
    expect(reachPreview(fixed(rules as Record<string, FilterRule[]>), TAILNET, 'web')).toEqual({ node: 'web', ...want });
  });

  it('a tagged peer is owned by its tags; an unknown node has no preview', () => {
    const c = fixed({ a: [{ SrcIPs: ['*'], DstPorts: [dst('*', 22)], IPProto: [6] }] });
    expect(reachPreview(c, TAILNET, 'a')?.inbound).toEqual([
      { peer: 'b', owner: 'b@x', access: ['tcp:22'] },
      { peer: 'web', owner: 'tag:web', access: ['tcp:22'] },
    ]);
    expect(reachPreview(c, TAILNET, 'nope')).toBeNull();
  });
});
