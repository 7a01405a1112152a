import { describe, expect, it } from 'vitest';
import { buildPacket } from '../packet/build.js';
import { TCP_SYN } from '../packet/headers.js';
import { buildProbe } from '../packet/probe.js';
import { parsePacket } from './packet-parser.js';
import { FRAG_FIRST, FRAG_LATER, FRAG_NONE, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_ERROR, ICMP_OTHER, ParsedPacket, PKT_FRAGMENT_SHORT, PKT_MALFORMED, PKT_OK } from './packet.js';
import { pkt, rng } from './test-helpers.js';

function parse(b: Uint8Array): ParsedPacket {
  const p = new ParsedPacket();
  parsePacket(b, 0, b.length, p);
  return p;
}

function mutate(b: Uint8Array, f: (x: Uint8Array) => void): Uint8Array {
  const c = b.slice();
  f(c);
  return c;
}

/** An IPv6 packet with extension headers inserted before the transport header. */
function withExt(b: Uint8Array, exts: { type: number; len8: number }[]): Uint8Array {
  const finalNext = b[6];
  const transport = b.slice(40);
  const extBytes: number[] = [];
  exts.forEach((e, i) => {
    const next = i + 1 < exts.length ? exts[i + 1].type : finalNext;
    const bytes = new Array((e.len8 + 1) * 8).fill(0);
    bytes[0] = next;
    bytes[1] = e.len8;
    if (e.type === 44) bytes[1] = 0;
    extBytes.push(...bytes);
  });
  const out = new Uint8Array(40 + extBytes.length + transport.length);
  out.set(b.slice(0, 40));
  out[6] = exts.length ? exts[0].type : finalNext;
  out.set(extBytes, 40);
  out.set(transport, 40 + extBytes.length);
  const pl = extBytes.length + transport.length;
  out[4] = pl >> 8;
  out[5] = pl & 255;
  return out;
}

const v4tcp = pkt('tcp', '100.64.0.2', '100.64.0.1', 40000, 22);
const v6tcp = pkt('tcp', 'fd7a:115c:a1e0::2', 'fd7a:115c:a1e0::1', 40000, 22);

/** The long (GRANTWIRE_LONG) variant runs for minutes on a shared machine. */
const LONG_TIMEOUT = process.env.GRANTWIRE_LONG ? 900_000 : 120_000;

describe('parsePacket: well-formed packets', () => {
  it.each([
    { name: 'v4 tcp syn', b: v4tcp, want: { family: 4, proto: 6, hasPorts: true, sport: 40000, dport: 22, tcpFlags: TCP_SYN, frag: FRAG_NONE } },
    { name: 'v6 tcp syn', b: v6tcp, want: { family: 6, proto: 6, hasPorts: true, sport: 40000, dport: 22, tcpFlags: TCP_SYN } },
    { name: 'v4 udp', b: pkt('udp', '100.64.0.2', '100.64.0.1', 5353, 53), want: { family: 4, proto: 17, hasPorts: true, sport: 5353, dport: 53 } },
    { name: 'v6 udp', b: pkt('udp', 'fd7a:115c:a1e0::2', 'fd7a:115c:a1e0::1', 5353, 53), want: { family: 6, proto: 17, dport: 53 } },
    { name: 'v4 sctp', b: pkt('sctp', '100.64.0.2', '100.64.0.1', 1, 9899), want: { proto: 132, hasPorts: true, dport: 9899 } },
    { name: 'v6 sctp', b: pkt('sctp', 'fd7a:115c:a1e0::2', 'fd7a:115c:a1e0::1', 1, 9899), want: { family: 6, proto: 132, dport: 9899 } },
    { name: 'v4 icmp echo', b: pkt('icmp', '100.64.0.2', '100.64.0.1', undefined, undefined, { icmpId: 77 }), want: { proto: 1, hasPorts: false, icmpKind: ICMP_ECHO_REQUEST, icmpId: 77 } },
    { name: 'v4 icmp echo reply', b: pkt('icmp', '100.64.0.2', '100.64.0.1', undefined, undefined, { icmpType: 0 }), want: { icmpKind: ICMP_ECHO_REPLY } },
    { name: 'v4 icmp timestamp', b: pkt('icmp', '100.64.0.2', '100.64.0.1', undefined, undefined, { icmpType: 13 }), want: { icmpKind: ICMP_OTHER } },
    { name: 'v6 icmpv6 echo', b: pkt('icmp', 'fd7a:115c:a1e0::2', 'fd7a:115c:a1e0::1'), want: { proto: 58, icmpKind: ICMP_ECHO_REQUEST } },
    { name: 'v6 icmpv6 reply', b: pkt(58, 'fd7a:115c:a1e0::2', 'fd7a:115c:a1e0::1', undefined, undefined, { icmpType: 129 }), want: { icmpKind: ICMP_ECHO_REPLY } },
    { name: 'v4 gre (port-less)', b: pkt(47, '100.64.0.2', '100.64.0.1', undefined, undefined, { payload: new Uint8Array(4) }), want: { proto: 47, hasPorts: false } },
    { name: 'v6 esp (port-less)', b: pkt(50, 'fd7a:115c:a1e0::2', 'fd7a:115c:a1e0::1'), want: { family: 6, proto: 50, hasPorts: false } },
    { name: 'v4 icmp in v6 is port-less proto 1', b: pkt(1, 'fd7a:115c:a1e0::2', 'fd7a:115c:a1e0::1', undefined, undefined, { payload: new Uint8Array(8) }), want: { proto: 1, icmpKind: ICMP_OTHER } },
    { name: 'v6 hop-by-hop + dstopts', b: withExt(v6tcp, [{ type: 0, len8: 0 }, { type: 60, len8: 1 }]), want: { proto: 6, dport: 22 } },
    { name: 'v6 routing header', b: withExt(v6tcp, [{ type: 43, len8: 0 }]), want: { proto: 6, dport: 22 } },
    { name: 'v6 atomic fragment', b: withExt(v6tcp, [{ type: 44, len8: 0 }]), want: { proto: 6, dport: 22, frag: FRAG_NONE } },
    { name: 'v4 first fragment', b: pkt('udp', '100.64.0.2', '100.64.0.1', 1, 53, { moreFragments: true, ipId: 9 }), want: { frag: FRAG_FIRST, fragId: 9, dport: 53 } },
    { name: 'v4 later fragment', b: pkt(17, '100.64.0.2', '100.64.0.1', undefined, undefined, { fragOffset: 1480, ipId: 9, payload: new Uint8Array(8) }), want: { frag: FRAG_LATER, fragId: 9, hasPorts: false } },
    { name: 'v6 first fragment', b: pkt('udp', 'fd7a:115c:a1e0::2', 'fd7a:115c:a1e0::1', 1, 53, { moreFragments: true, ipId: 0x12345 }), want: { frag: FRAG_FIRST, fragId: 0x12345, proto: 17, dport: 53 } },
    { name: 'v6 later fragment', b: pkt(17, 'fd7a:115c:a1e0::2', 'fd7a:115c:a1e0::1', undefined, undefined, { fragOffset: 1232, ipId: 5, payload: new Uint8Array(8) }), want: { frag: FRAG_LATER, fragId: 5, proto: 17 } },
    { name: 'v4 trailing bytes beyond total length are ignored', b: Uint8Array.from([...v4tcp, 1, 2, 3]), want: { dport: 22 } },
  ])('$name', ({ b, want }) => {
    const p = parse(b);
    expect(p.status).toBe(PKT_OK);
    for (const [k, v] of Object.entries(want)) expect(p[k as keyof ParsedPacket], k).toBe(v);
  });

  it('decodes the tuple quoted in ICMP errors (v4 and v6)', () => {
    const inner4 = pkt('udp', '100.64.0.1', '100.64.0.2', 5000, 53);
    const err4 = pkt('icmp', '100.64.0.2', '100.64.0.1', undefined, undefined, { icmpType: 3, icmpCode: 3, payload: inner4.slice(0, 28) });
    const p = parse(err4);
    expect(p.icmpKind).toBe(ICMP_ERROR);
    expect(p.innerValid).toBe(true);
    expect([p.innerProto, p.innerSport, p.innerDport]).toEqual([17, 5000, 53]);
    const inner6 = pkt('tcp', 'fd7a:115c:a1e0::1', 'fd7a:115c:a1e0::2', 5000, 443);
    const err6 = pkt('icmp', 'fd7a:115c:a1e0::9', 'fd7a:115c:a1e0::1', undefined, undefined, { icmpType: 2, payload: inner6.slice(0, 48) });
    const q = parse(err6);
    expect(q.icmpKind).toBe(ICMP_ERROR);
    expect([q.innerValid, q.innerProto, q.innerSport, q.innerDport]).toEqual([true, 6, 5000, 443]);
  });
});

describe('parsePacket: malformed input is classified, never thrown', () => {
  it.each([
    { name: 'empty', b: new Uint8Array(0), want: PKT_MALFORMED },
    { name: 'version 5', b: mutate(v4tcp, (x) => (x[0] = 0x55)), want: PKT_MALFORMED },
    { name: 'v4 shorter than 20', b: v4tcp.slice(0, 19), want: PKT_MALFORMED },
    { name: 'v4 ihl < 5', b: mutate(v4tcp, (x) => (x[0] = 0x44)), want: PKT_MALFORMED },
    { name: 'v4 ihl beyond packet', b: mutate(v4tcp, (x) => (x[0] = 0x4f)), want: PKT_MALFORMED },
    { name: 'v4 total length > buffer', b: mutate(v4tcp, (x) => (x[3] = 100)), want: PKT_MALFORMED },
    { name: 'v4 total length < ihl', b: mutate(v4tcp, (x) => ((x[2] = 0), (x[3] = 10))), want: PKT_MALFORMED },
    { name: 'v4 tcp header truncated', b: mutate(v4tcp.slice(0, 30), (x) => (x[3] = 30)), want: PKT_MALFORMED },
    { name: 'v4 tcp data offset < 5', b: mutate(v4tcp, (x) => (x[32] = 0x40)), want: PKT_MALFORMED },
    { name: 'v4 tcp data offset beyond packet', b: mutate(v4tcp, (x) => (x[32] = 0xf0)), want: PKT_MALFORMED },
    { name: 'v4 udp truncated', b: mutate(pkt('udp', '1.1.1.1', '2.2.2.2', 1, 2).slice(0, 25), (x) => (x[3] = 25)), want: PKT_MALFORMED },
    { name: 'v4 icmp truncated', b: mutate(pkt('icmp', '1.1.1.1', '2.2.2.2').slice(0, 24), (x) => (x[3] = 24)), want: PKT_MALFORMED },
    { name: 'v4 fragment past 65535 (ping of death)', b: pkt(17, '1.1.1.1', '2.2.2.2', undefined, undefined, { fragOffset: 65528, payload: new Uint8Array(16) }), want: PKT_MALFORMED },
    { name: 'v4 first fragment too short for ports', b: mutate(pkt('tcp', '1.1.1.1', '2.2.2.2', 1, 2, { moreFragments: true }).slice(0, 28), (x) => (x[3] = 28)), want: PKT_FRAGMENT_SHORT },
    { name: 'v6 shorter than 40', b: v6tcp.slice(0, 39), want: PKT_MALFORMED },
    { name: 'v6 payload length > buffer', b: mutate(v6tcp, (x) => (x[5] = 200)), want: PKT_MALFORMED },
    { name: 'v6 hop-by-hop not first', b: withExt(v6tcp, [{ type: 60, len8: 0 }, { type: 0, len8: 0 }]), want: PKT_MALFORMED },
    { name: 'v6 too many extension headers', b: withExt(v6tcp, Array.from({ length: 10 }, () => ({ type: 60, len8: 0 }))), want: PKT_MALFORMED },
    { name: 'v6 extension header runs past payload', b: mutate(withExt(v6tcp, [{ type: 60, len8: 0 }]), (x) => (x[41] = 40)), want: PKT_MALFORMED },
    { name: 'v6 two fragment headers', b: withExt(v6tcp, [{ type: 44, len8: 0 }, { type: 44, len8: 0 }]), want: PKT_MALFORMED },
    { name: 'v6 first fragment too short for ports', b: (() => { const b = pkt('tcp', 'fd7a:115c:a1e0::2', 'fd7a:115c:a1e0::1', 1, 2, { moreFragments: true }).slice(0, 58); b[5] = 18; return b; })(), want: PKT_FRAGMENT_SHORT },
  ])('$name', ({ b, want }) => {
    const p = new ParsedPacket();
    expect(() => parsePacket(b, 0, b.length, p)).not.toThrow();
    expect(p.status).toBe(want);
  });

  it('respects off/len windows and rejects windows outside the buffer', () => {
    const big = new Uint8Array(100);
    big.set(v4tcp, 7);
    const p = new ParsedPacket();
    expect(parsePacket(big, 7, v4tcp.length, p)).toBe(PKT_OK);
    expect(p.dport).toBe(22);
    expect(parsePacket(big, 90, 40, p)).toBe(PKT_MALFORMED);
    expect(parsePacket(big, -1, 10, p)).toBe(PKT_MALFORMED);
  });
});

describe('parsePacket fuzz', () => {
  const seeds = [
    v4tcp,
    v6tcp,
    pkt('udp', '1.2.3.4', '5.6.7.8', 1, 2),
    pkt('icmp', '1.2.3.4', '5.6.7.8', undefined, undefined, { icmpType: 3, payload: v4tcp.slice(0, 28) }),
    pkt('icmp', 'fd7a:115c:a1e0::2', 'fd7a:115c:a1e0::1', undefined, undefined, { icmpType: 1, payload: v6tcp.slice(0, 48) }),
    withExt(v6tcp, [{ type: 0, len8: 0 }, { type: 44, len8: 0 }, { type: 60, len8: 1 }]),
    buildPacket({ src: '1.2.3.4', dst: '5.6.7.8', proto: 'sctp', sport: 1, dport: 2 }),
  ];
  const n = process.env.GRANTWIRE_LONG ? 2_000_000 : 100_000;
  it(`${n} random, truncated and bit-flipped packets never throw and stay in bounds`, () => {
    const r = rng(42);
    const p = new ParsedPacket();
    const buf = new Uint8Array(256);
    let bad = 0;
    for (let i = 0; i < n; i++) {
      const mode = i % 3;
      let len: number;
      if (mode === 0) {
        len = Math.floor(r() * 120);
        for (let j = 0; j < len; j++) buf[j] = Math.floor(r() * 256);
        if (len > 0 && r() < 0.5) buf[0] = r() < 0.5 ? 0x45 : 0x60;
      } else {
        const s = seeds[Math.floor(r() * seeds.length)];
        buf.set(s);
        len = mode === 1 ? Math.floor(r() * (s.length + 1)) : s.length;
        const flips = 1 + Math.floor(r() * 4);
        for (let k = 0; k < flips; k++) buf[Math.floor(r() * s.length)] ^= 1 << Math.floor(r() * 8);
      }
      const st = parsePacket(buf, 0, len, p);
      if (st !== PKT_OK && st !== PKT_MALFORMED && st !== PKT_FRAGMENT_SHORT) bad++;
      if (st === PKT_OK && ((p.family !== 4 && p.family !== 6) || p.dstOff + (p.family === 4 ? 4 : 16) > len)) bad++;
    }
    expect(bad).toBe(0);
  }, LONG_TIMEOUT);
});

// The probes `agent explain` and `control policy eval` ask about (packet/probe.ts) must parse as the
// protocol they claim, with their ports: a probe shorter than the header the parser needs would be judged
// "malformed" instead of by the rules (an 8-byte SCTP or DCCP probe once was).
describe('probes parse as what they claim', () => {
  const cases: { proto: string | number; family: 4 | 6; wantProto: number; ports: boolean; echo?: boolean }[] = [];
  for (const family of [4, 6] as const) {
    cases.push(
      { proto: 'tcp', family, wantProto: 6, ports: true },
      { proto: 'udp', family, wantProto: 17, ports: true },
      { proto: 'sctp', family, wantProto: 132, ports: true },
      { proto: 'dccp', family, wantProto: 33, ports: true },
      { proto: 136, family, wantProto: 136, ports: true },
      { proto: 'icmp', family, wantProto: family === 4 ? 1 : 58, ports: false, echo: true },
      { proto: 'icmpv6', family, wantProto: family === 4 ? 1 : 58, ports: false, echo: true },
      { proto: 'gre', family, wantProto: 47, ports: false },
      { proto: 'esp', family, wantProto: 50, ports: false },
      { proto: 99, family, wantProto: 99, ports: false },
    );
  }
  it.each(cases)('v$family $proto', ({ proto, family, wantProto, ports, echo }) => {
    const [src, dst] = family === 4 ? ['100.64.0.2', '100.64.0.1'] : ['fd7a:115c:a1e0::2', 'fd7a:115c:a1e0::1'];
    const p = parse(buildProbe({ src, dst, proto, dport: 5000 }));
    expect([p.status, p.family, p.proto, p.hasPorts]).toEqual([PKT_OK, family, wantProto, ports]);
    if (ports) expect([p.sport, p.dport]).toEqual([40000, 5000]);
    if (echo) expect(p.icmpKind).toBe(ICMP_ECHO_REQUEST);
  });
});
