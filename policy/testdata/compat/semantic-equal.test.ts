// The semantic comparison used by the compatibility test: equal spellings pass, each kind of
// perturbation (source, destination, port, protocol, capability name/value) is caught.
import { describe, expect, it } from 'vitest';
import type { FilterRule } from '../../../types/filter-rule.js';
import { semanticDiff } from './semantic-equal.js';

const SELF = ['100.64.0.1', 'fd7a:115c:a1e0::1'];
const ROUTER = [...SELF, '10.0.0.0/16'];

function tcp(src: string[], ip: string, first: number, last = first, protos?: number[]): FilterRule {
  const r: FilterRule = { SrcIPs: src, DstPorts: [{ IP: ip, Ports: { First: first, Last: last } }] };
  if (protos) r.IPProto = protos;
  return r;
}

function cap(src: string[], dsts: string[], map: Record<string, unknown[]>): FilterRule {
  return { SrcIPs: src, CapGrant: [{ Dsts: dsts, CapMap: map }] };
}

describe('semanticDiff: equal', () => {
  it.each([
    { name: 'identical', a: [tcp(['100.64.0.2'], '100.64.0.1', 22)], b: [tcp(['100.64.0.2'], '100.64.0.1', 22)] },
    { name: '* dst equals own addresses on a node without routes', a: [tcp(['100.64.0.2'], '*', 22)], b: [tcp(['100.64.0.2'], '100.64.0.1', 22), tcp(['100.64.0.2'], 'fd7a:115c:a1e0::1', 22)] },
    { name: 'CIDR, range and single IPs spell the same set', a: [tcp(['100.64.0.0/30'], '100.64.0.1', 22)], b: [tcp(['100.64.0.0-100.64.0.1', '100.64.0.2', '100.64.0.3/32'], '100.64.0.1', 22)] },
    { name: 'split ports and split rules merge', a: [tcp(['100.64.0.2'], '100.64.0.1', 20, 30)], b: [tcp(['100.64.0.2'], '100.64.0.1', 20, 24), tcp(['100.64.0.2'], '100.64.0.1', 25, 30)] },
    { name: 'order does not matter', a: [tcp(['100.64.0.2'], '100.64.0.1', 22), tcp(['100.64.0.3'], '100.64.0.1', 80)], b: [tcp(['100.64.0.3'], '100.64.0.1', 80), tcp(['100.64.0.2'], '100.64.0.1', 22)] },
    { name: 'destinations outside the node are ignored', a: [tcp(['100.64.0.2'], '100.64.0.1', 22), tcp(['100.64.0.2'], '100.64.0.9', 80)], b: [tcp(['100.64.0.2'], '100.64.0.1', 22)] },
    { name: 'absent IPProto is tcp, udp, icmp, icmpv6', a: [tcp(['100.64.0.2'], '100.64.0.1', 0, 65535)], b: [tcp(['100.64.0.2'], '100.64.0.1', 0, 65535, [1, 6, 17, 58])] },
    { name: 'icmp is admitted by a rule of any protocol', a: [tcp(['100.64.0.2'], '100.64.0.1', 22, 22, [6]), tcp(['100.64.0.2'], '100.64.0.1', 0, 65535, [1])], b: [tcp(['100.64.0.2'], '100.64.0.1', 22, 22, [6])] },
    { name: 'other protocols with some ports open nothing', a: [tcp(['100.64.0.2'], '100.64.0.1', 22, 22, [6, 47])], b: [tcp(['100.64.0.2'], '100.64.0.1', 22, 22, [6])] },
    { name: 'v4 source toward a v6 destination admits nothing', a: [tcp(['100.64.0.2'], 'fd7a:115c:a1e0::1', 22)], b: [] },
    { name: 'cap values are order-insensitive and duplicates merge', a: [cap(['100.64.0.2'], ['100.64.0.1/32'], { 'x.com/c': [{ a: 1 }, { b: 2 }] })], b: [cap(['100.64.0.2'], ['100.64.0.1/32'], { 'x.com/c': [{ b: 2 }] }), cap(['100.64.0.2'], ['100.64.0.1/32'], { 'x.com/c': [{ a: 1 }, { b: 2 }] })] },
    { name: 'cap value keys in any order', a: [cap(['100.64.0.2'], ['100.64.0.1/32'], { 'x.com/c': [{ a: 1, b: 2 }] })], b: [cap(['100.64.0.2'], ['100.64.0.1/32'], { 'x.com/c': [{ b: 2, a: 1 }] })] },
  ])('$name', ({ a, b }) => {
    expect(semanticDiff(a, b, SELF)).toEqual([]);
    expect(semanticDiff(b, a, SELF)).toEqual([]);
  });

  it('routes the node serves count; others do not', () => {
    const a = [tcp(['100.64.0.2'], '10.0.0.0/8', 22)];
    const b = [tcp(['100.64.0.2'], '10.0.0.0/16', 22)];
    expect(semanticDiff(a, b, ROUTER)).toEqual([]);
    expect(semanticDiff(a, [], SELF)).toEqual([]);
    expect(semanticDiff(a, [], ROUTER)).not.toEqual([]);
  });
});

describe('semanticDiff: perturbations caught', () => {
  const base = [tcp(['100.64.0.0/24', 'fd7a:115c:a1e0::/48'], '*', 22), cap(['100.64.0.2'], ['100.64.0.1/32'], { 'x.com/c': [{ a: 1 }] })];
  it.each([
    { name: 'one source address fewer', b: [tcp(['100.64.0.0-100.64.0.254', 'fd7a:115c:a1e0::/48'], '*', 22), base[1]], want: /proto 6.*src 100\.64\.0\.255/ },
    { name: 'an extra source', b: [tcp(['100.64.0.0/23', 'fd7a:115c:a1e0::/48'], '*', 22), base[1]], want: /proto 6/ },
    { name: 'v6 source dropped', b: [tcp(['100.64.0.0/24'], '*', 22), base[1]], want: /icmp: src fd7a:115c:a1e0:0:0:0:0:0-.*ours \[0\] vs theirs \[\]/ },
    { name: 'a destination fewer', b: [tcp(['100.64.0.0/24', 'fd7a:115c:a1e0::/48'], '100.64.0.1', 22), base[1]], want: /dst fd7a/ },
    { name: 'another port', b: [tcp(['100.64.0.0/24', 'fd7a:115c:a1e0::/48'], '*', 23), base[1]], want: /ours \[22\] vs theirs \[23\]/ },
    { name: 'tcp only instead of default', b: [tcp(['100.64.0.0/24', 'fd7a:115c:a1e0::/48'], '*', 22, 22, [6]), base[1]], want: /proto 17/ },
    { name: 'sctp added', b: [...base, tcp(['100.64.0.0/24'], '*', 22, 22, [132])], want: /proto 132/ },
    { name: 'gre with all ports added', b: [...base, tcp(['100.64.0.2'], '*', 0, 65535, [47])], want: /proto 47/ },
    { name: 'capability dropped', b: [base[0]], want: /cap x\.com\/c/ },
    { name: 'capability value changed', b: [base[0], cap(['100.64.0.2'], ['100.64.0.1/32'], { 'x.com/c': [{ a: 2 }] })], want: /cap x\.com\/c = / },
    { name: 'capability renamed', b: [base[0], cap(['100.64.0.2'], ['100.64.0.1/32'], { 'x.com/d': [{ a: 1 }] })], want: /cap x\.com\/d/ },
    { name: 'capability to another source', b: [base[0], cap(['100.64.0.3'], ['100.64.0.1/32'], { 'x.com/c': [{ a: 1 }] })], want: /src 100\.64\.0\.2/ },
    { name: 'capability with an empty value list added', b: [...base, cap(['100.64.0.2'], ['100.64.0.1/32'], { 'x.com/e': [] })], want: /cap x\.com\/e/ },
  ])('$name', ({ b, want }) => {
    const d = semanticDiff(base, b, SELF);
    expect(d.join('\n')).toMatch(want);
    expect(semanticDiff(b, base, SELF)).not.toEqual([]);
  });

  it('rejects address spellings it does not know', () => {
    expect(() => semanticDiff([tcp(['100.64.0.300'], '*', 22)], [], SELF)).toThrow(/bad address/);
  });

  it('compares every port of every protocol (all ports vs one)', () => {
    expect(semanticDiff([tcp(['100.64.0.2'], '*', 0, 65535)], [tcp(['100.64.0.2'], '*', 22)], SELF).join('\n')).toMatch(/ours \[0-65535\] vs theirs \[22\]/);
  });
});
