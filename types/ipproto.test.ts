// The protocol table: every name and alias parses to the IANA number, formatting prints the canonical
// name (or the number), and anything else is rejected without throwing.
import { describe, expect, it } from 'vitest';
import {
  icmpProtoFor,
  IP_PROTO_NAMES,
  IP_PROTO_SPELLINGS,
  ipProtoHasPorts,
  ipProtoName,
  isIcmpOf,
  parseIpProto,
} from './ipproto.js';

describe('parseIpProto', () => {
  it.each([
    // names (IANA numbers)
    { text: 'tcp', want: 6 },
    { text: 'udp', want: 17 },
    { text: 'icmp', want: 1 }, // ICMP only: "both families" is policy's rule, not the table's
    { text: 'icmpv6', want: 58 },
    { text: 'ipv6-icmp', want: 58 },
    { text: 'sctp', want: 132 },
    { text: 'dccp', want: 33 },
    { text: 'gre', want: 47 },
    { text: 'esp', want: 50 },
    { text: 'ah', want: 51 },
    { text: 'igmp', want: 2 },
    { text: 'egp', want: 8 },
    { text: 'igp', want: 9 },
    { text: 'ipv4', want: 4 },
    { text: 'ip-in-ip', want: 4 },
    // case-insensitive
    { text: 'TCP', want: 6 },
    { text: 'IPv6-ICMP', want: 58 },
    // numbers
    { text: '0', want: 0 },
    { text: '6', want: 6 },
    { text: '255', want: 255 },
    { text: '047', want: 47 },
    { text: 136, want: 136 },
    { text: 0, want: 0 },
    // rejected
    { text: '256', want: null },
    { text: '1000', want: null },
    { text: '-1', want: null },
    { text: '+6', want: null },
    { text: ' 6', want: null },
    { text: '6.0', want: null },
    { text: '0x06', want: null },
    { text: '', want: null },
    { text: 'bogus', want: null },
    { text: 'icmp4', want: null },
    { text: 'udplite', want: null }, // numbered constant, but not a name of the policy language
    { text: 'constructor', want: null },
    { text: 256, want: null },
    { text: -1, want: null },
    { text: 6.5, want: null },
    { text: Number.NaN, want: null },
  ])('$text → $want', ({ text, want }) => {
    expect(parseIpProto(text)).toBe(want);
  });

  it('every name and alias in the table parses to its number; no spelling is listed twice', () => {
    for (const p of IP_PROTO_NAMES) {
      expect(parseIpProto(p.name)).toBe(p.number);
      for (const a of p.aliases) expect(parseIpProto(a)).toBe(p.number);
    }
    expect(new Set(IP_PROTO_SPELLINGS).size).toBe(IP_PROTO_SPELLINGS.length);
    expect(new Set(IP_PROTO_NAMES.map((p) => p.number)).size).toBe(IP_PROTO_NAMES.length);
  });

  it('every decimal 0-255 parses to itself (fuzz over the number space)', () => {
    for (let n = 0; n <= 255; n++) expect(parseIpProto(String(n))).toBe(n);
  });
});

describe('ipProtoName', () => {
  it.each([
    { n: 6, want: 'tcp' },
    { n: 58, want: 'icmpv6' }, // the canonical name, not the alias
    { n: 4, want: 'ipv4' },
    { n: 33, want: 'dccp' },
    { n: 136, want: '136' },
    { n: 0, want: '0' },
    { n: 253, want: '253' },
  ])('$n → $want', ({ n, want }) => {
    expect(ipProtoName(n)).toBe(want);
  });

  it('round-trips: parse(name(n)) = n for every protocol number', () => {
    for (let n = 0; n <= 255; n++) expect(parseIpProto(ipProtoName(n))).toBe(n);
  });
});

describe('protocol properties', () => {
  it.each([
    { n: 6, ports: true },
    { n: 17, ports: true },
    { n: 132, ports: true },
    { n: 33, ports: true },
    { n: 136, ports: true },
    { n: 1, ports: false },
    { n: 58, ports: false },
    { n: 47, ports: false },
    { n: 50, ports: false },
  ])('ipProtoHasPorts($n) = $ports', ({ n, ports }) => {
    expect(ipProtoHasPorts(n)).toBe(ports);
  });

  it('the ICMP of each family', () => {
    expect([icmpProtoFor(4), icmpProtoFor(6)]).toEqual([1, 58]);
    expect([isIcmpOf(1, 4), isIcmpOf(58, 6), isIcmpOf(1, 6), isIcmpOf(58, 4), isIcmpOf(6, 4)]).toEqual([true, true, false, false, false]);
  });
});
