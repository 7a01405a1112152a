// The linear rule matcher, table-driven: address forms, protocols, ports, port-less packets, reach (ICMP
// echo) and capabilities. Its agreement with the compiled filter is in filter/differential.test.ts.
import { describe, expect, it } from 'vitest';
import type { FilterRule } from './filter-rule.js';
import { parseIP } from './ip.js';
import { RuleMatcher } from './rule-match.js';

const ip = (s: string) => parseIP(s)!.bytes;
const dp = (IP: string, First = 0, Last = 65535) => ({ IP, Ports: { First, Last } });

const RULES: FilterRule[] = [
  /* 0 */ { SrcIPs: ['100.64.0.2'], DstPorts: [dp('100.64.0.1', 22, 22)] },
  /* 1 */ { SrcIPs: ['100.64.1.0/24', 'fd7a:115c:a1e0::2'], DstPorts: [dp('*', 80, 443)], IPProto: [6] },
  /* 2 */ { SrcIPs: ['100.64.2.10-100.64.2.20'], DstPorts: [dp('100.64.0.0/30')], IPProto: [47] },
  /* 3 */ { SrcIPs: ['*'], DstPorts: [dp('fd7a:115c:a1e0::1', 53, 53)], IPProto: [] },
  /* 4 */ { SrcIPs: ['100.64.3.3/16'], DstPorts: [dp('100.64.0.1', 5000, 5000)], IPProto: [132] },
  /* 5 */ { SrcIPs: ['100.64.0.2'], CapGrant: [{ Dsts: ['100.64.0.1/32'], CapMap: { 'x.com/a': [{ n: 1 }] } }] },
  /* 6 */ { SrcIPs: ['100.64.0.0/24'], CapGrant: [{ Dsts: ['100.64.0.1/32', '100.64.0.9/32'], CapMap: { 'x.com/a': [{ n: 2 }], 'x.com/b': [] } }] },
];
const m = new RuleMatcher(RULES);

describe('match', () => {
  it.each([
    // single IPs, default protocols (TCP, UDP, ICMP, ICMPv6)
    { name: 'host to host, tcp 22', src: '100.64.0.2', dst: '100.64.0.1', proto: 6, dport: 22, want: 0 },
    { name: 'udp is in the default set', src: '100.64.0.2', dst: '100.64.0.1', proto: 17, dport: 22, want: 0 },
    { name: 'sctp is not in the default set', src: '100.64.0.2', dst: '100.64.0.1', proto: 132, dport: 22, want: -1 },
    { name: 'port outside the range', src: '100.64.0.2', dst: '100.64.0.1', proto: 6, dport: 23, want: -1 },
    { name: 'other source', src: '100.64.0.3', dst: '100.64.0.1', proto: 6, dport: 22, want: -1 },
    { name: 'port-less packet needs every port', src: '100.64.0.2', dst: '100.64.0.1', proto: 1, dport: null, want: -1 },
    // CIDR sources, `*` destinations, explicit protocols
    { name: 'cidr source, * destination, range low end', src: '100.64.1.9', dst: '100.64.0.7', proto: 6, dport: 80, want: 1 },
    { name: 'range high end', src: '100.64.1.9', dst: '100.64.0.7', proto: 6, dport: 443, want: 1 },
    { name: 'explicit IPProto excludes udp', src: '100.64.1.9', dst: '100.64.0.7', proto: 17, dport: 80, want: -1 },
    { name: '* destination covers IPv6', src: 'fd7a:115c:a1e0::2', dst: 'fd7a:115c:a1e0::7', proto: 6, dport: 80, want: 1 },
    { name: 'mixed families never match', src: 'fd7a:115c:a1e0::2', dst: '100.64.0.7', proto: 6, dport: 80, want: -1 },
    // ranges and port-less protocols
    { name: 'range source, port-less GRE with every port', src: '100.64.2.15', dst: '100.64.0.3', proto: 47, dport: null, want: 2 },
    { name: 'range bounds are inclusive', src: '100.64.2.20', dst: '100.64.0.3', proto: 47, dport: null, want: 2 },
    { name: 'just past the range', src: '100.64.2.21', dst: '100.64.0.3', proto: 47, dport: null, want: -1 },
    { name: 'outside the destination cidr', src: '100.64.2.15', dst: '100.64.0.4', proto: 47, dport: null, want: -1 },
    // empty IPProto means the default set; host bits in a CIDR are masked
    { name: 'empty IPProto is the default set', src: 'fd00::1', dst: 'fd7a:115c:a1e0::1', proto: 17, dport: 53, want: 3 },
    { name: 'empty IPProto is not every protocol', src: 'fd00::1', dst: 'fd7a:115c:a1e0::1', proto: 47, dport: null, want: -1 },
    { name: 'host bits masked', src: '100.64.200.1', dst: '100.64.0.1', proto: 132, dport: 5000, want: 4 },
    { name: 'CapGrant rules never allow packets', src: '100.64.0.2', dst: '100.64.0.1', proto: 6, dport: 9, want: -1 },
  ])('$name', ({ src, dst, proto, dport, want }) => expect(m.match({ src: ip(src), dst: ip(dst), proto, dport })).toBe(want));
});

describe('reach (ICMP echo requests)', () => {
  it.each([
    { name: 'any port open', src: '100.64.0.2', dst: '100.64.0.1', want: 0 },
    { name: 'whatever the protocol', src: '100.64.2.11', dst: '100.64.0.2', want: 2 },
    { name: 'no rule for the pair', src: '100.65.0.3', dst: '100.64.0.1', want: -1 },
    { name: 'capabilities alone do not reach', src: '100.64.0.2', dst: '100.64.0.9', want: -1 },
  ])('$name', ({ src, dst, want }) => expect(m.reach(ip(src), ip(dst))).toBe(want));
});

describe('caps', () => {
  it.each([
    { name: 'two grants merge in rule order', src: '100.64.0.2', dst: '100.64.0.1', want: { 'x.com/a': [{ n: 1 }, { n: 2 }], 'x.com/b': [] } },
    { name: 'one grant', src: '100.64.0.5', dst: '100.64.0.9', want: { 'x.com/a': [{ n: 2 }], 'x.com/b': [] } },
    { name: 'none', src: '100.64.9.5', dst: '100.64.0.1', want: null },
    { name: 'mixed families', src: 'fd7a:115c:a1e0::2', dst: '100.64.0.1', want: null },
  ])('$name', ({ src, dst, want }) => expect(m.caps(ip(src), ip(dst))).toEqual(want));
});

describe('bad rule text', () => {
  it.each([
    { name: 'not an address', rules: [{ SrcIPs: ['nope'], DstPorts: [dp('*')] }] },
    { name: 'range across families', rules: [{ SrcIPs: ['100.64.0.1-fd7a::1'], DstPorts: [dp('*')] }] },
    { name: 'backwards range', rules: [{ SrcIPs: ['*'], DstPorts: [dp('100.64.0.9-100.64.0.1')] }] },
    { name: 'bad capability destination', rules: [{ SrcIPs: ['*'], CapGrant: [{ Dsts: ['x'], CapMap: {} }] }] },
  ])('$name throws ERR_FILTER_BAD_RULE', ({ rules }) => expect(() => new RuleMatcher(rules)).toThrow(expect.objectContaining({ code: 'ERR_FILTER_BAD_RULE' })));
});
