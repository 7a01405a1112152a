// `ip` entries, acl destinations and port merging, table-driven.
import { describe, expect, it } from 'vitest';
import { aclIpSpec, mergePorts, parseIpEntry, parsePorts, parseProtocol, splitAclDst } from './ports.js';

const r = (First: number, Last = First) => ({ First, Last });

describe('parseIpEntry', () => {
  it.each([
    { in: '*', protos: null, ports: [r(0, 65535)] },
    { in: '22', protos: null, ports: [r(22)] },
    { in: '80-443', protos: null, ports: [r(80, 443)] },
    { in: 'tcp:22', protos: [6], ports: [r(22)] },
    { in: 'TCP:*', protos: [6], ports: [r(0, 65535)] },
    { in: 'udp:53', protos: [17], ports: [r(53)] },
    { in: 'tcp:80-443', protos: [6], ports: [r(80, 443)] },
    { in: 'icmp:*', protos: [1, 58], ports: [r(0, 65535)] },
    { in: 'icmpv6:*', protos: [58], ports: [r(0, 65535)] },
    { in: 'gre:*', protos: [47], ports: [r(0, 65535)] },
    { in: 'sctp:9', protos: [132], ports: [r(9)] },
    { in: '47:*', protos: [47], ports: [r(0, 65535)] },
    { in: '255:*', protos: [255], ports: [r(0, 65535)] },
  ])('$in', (row) => {
    expect(parseIpEntry(row.in)).toEqual({ ok: true, value: { protos: row.protos, ports: row.ports } });
  });

  it.each([
    { in: '0', code: 'ERR_POLICY_BAD_PORT', msg: 'port 0' },
    { in: 'tcp:0-10', code: 'ERR_POLICY_BAD_PORT', msg: 'port 0' },
    { in: '65536', code: 'ERR_POLICY_BAD_PORT', msg: '65535' },
    { in: '443-80', code: 'ERR_POLICY_BAD_PORT', msg: 'ascending' },
    { in: 'tcp:', code: 'ERR_POLICY_BAD_PORT', msg: 'bad port' },
    { in: 'tcp:a', code: 'ERR_POLICY_BAD_PORT', msg: 'bad port' },
    { in: 'icmp', code: 'ERR_POLICY_BAD_PROTO', msg: 'bare protocol' },
    { in: 'tcp', code: 'ERR_POLICY_BAD_PROTO', msg: 'bare protocol' },
    { in: 'icmp:8', code: 'ERR_POLICY_BAD_PORT', msg: 'has no ports' },
    { in: 'quic:443', code: 'ERR_POLICY_BAD_PROTO', msg: 'unknown protocol "quic"' },
    { in: '0:*', code: 'ERR_POLICY_BAD_PROTO', msg: '1-255' },
    { in: '256:*', code: 'ERR_POLICY_BAD_PROTO', msg: '1-255' },
    { in: '', code: 'ERR_POLICY_BAD_PROTO', msg: 'unknown protocol' },
  ])('rejects $in', (row) => {
    const got = parseIpEntry(row.in);
    expect(got.ok).toBe(false);
    if (!got.ok) {
      expect(got.code).toBe(row.code);
      expect(got.message).toContain(row.msg);
    }
  });
});

describe('acl destinations', () => {
  it.each([
    { in: 'tag:web:22', sel: 'tag:web', ports: '22' },
    { in: '*:*', sel: '*', ports: '*' },
    { in: 'fd7a:115c:a1e0::1:443', sel: 'fd7a:115c:a1e0::1', ports: '443' },
    { in: '10.0.0.0/8:22,80-90', sel: '10.0.0.0/8', ports: '22,80-90' },
  ])('$in', (row) => {
    expect(splitAclDst(row.in)).toEqual({ ok: true, value: { selector: row.sel, ports: row.ports } });
  });
  it.each(['tag:web:', ':22', 'web'])('rejects %s', (s) => expect(splitAclDst(s).ok).toBe(false));
  it('combines the acl proto with the ports', () => {
    expect(aclIpSpec([17], '53', 'x:53')).toEqual({ ok: true, value: { protos: [17], ports: [r(53)] } });
    expect(aclIpSpec(null, '22,80', 'x:22,80')).toEqual({ ok: true, value: { protos: null, ports: [r(22), r(80)] } });
    expect(aclIpSpec([1, 58], '8', 'x:8').ok).toBe(false);
  });
});

describe('helpers', () => {
  it('parsePorts lists and parseProtocol names', () => {
    expect(parsePorts('22,80-81')).toEqual({ ok: true, value: [r(22), r(80, 81)] });
    expect(parseProtocol('ESP')).toEqual({ ok: true, value: [50] });
  });
  // The names come from types/ipproto.ts; the rule that the name `icmp` covers both families is policy's.
  it.each([
    { text: 'icmp', want: [1, 58] },
    { text: 'ICMP', want: [1, 58] },
    { text: '1', want: [1] },
    { text: 'icmpv6', want: [58] },
    { text: 'ipv6-icmp', want: [58] },
    { text: '58', want: [58] },
    { text: 'dccp', want: [33] },
    { text: 'ip-in-ip', want: [4] },
    { text: '255', want: [255] },
  ])('parseProtocol($text) = $want', ({ text, want }) => {
    expect(parseProtocol(text)).toEqual({ ok: true, value: want });
  });
  it.each([
    { text: '0', msg: /bad protocol number 0: expected 1-255/ },
    { text: '256', msg: /bad protocol number 256/ },
    { text: 'udplite', msg: /unknown protocol "udplite": expected one of tcp, udp, icmp, icmpv6, ipv6-icmp, sctp, gre, esp, ah, igmp, dccp, egp, igp, ipv4, ip-in-ip or a number 1-255/ },
  ])('parseProtocol($text) fails', ({ text, msg }) => {
    const r = parseProtocol(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(msg);
  });
  it.each([
    { in: [r(80, 90), r(22), r(91, 100), r(85, 95)], want: [r(22), r(80, 100)] },
    { in: [r(1), r(3)], want: [r(1), r(3)] },
    { in: [r(1), r(2)], want: [r(1, 2)] },
    { in: [r(0, 65535), r(22)], want: [r(0, 65535)] },
  ])('mergePorts %#', ({ in: input, want }) => expect(mergePorts(input)).toEqual(want));
});
