// Table-driven tests for every semantic in filter.md, IPv4 and IPv6 alike.
import { describe, expect, it } from 'vitest';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../packet/headers.js';
import { buildResetToLocal } from '../packet/tcp-reset.js';
import { GrantwireError } from '../types/errors.js';
import type { FilterRule } from '../types/filter-rule.js';
import { compileFilter } from './compile.js';
import { FilterEngine } from './engine.js';
import { parsePacket } from './packet-parser.js';
import { ParsedPacket } from './packet.js';
import { L4, L6, LOCAL, pkt, rule } from './test-helpers.js';
import { isAccept, verdictReason } from './verdict.js';

const A2 = '100.64.0.2';
const A2v6 = 'fd7a:115c:a1e0::2';
const A3 = '100.64.0.3';
const A3v6 = 'fd7a:115c:a1e0::3';
const SYN = { tcpFlags: TCP_SYN };
const ACK = { tcpFlags: TCP_ACK };

const RULES: FilterRule[] = [
  rule([A2, A2v6], [`${L4}:22`, `${L6}:22`], [6]), // 0: ssh from .2 only
  rule(['100.64.0.0/10', 'fd7a:115c:a1e0::/48'], [`${L4}:80-443`, `${L6}:80-443`]), // 1: web for the tailnet, default protocols
  rule([A3, A3v6], [`${L4}:*`, `${L6}:*`], [47]), // 2: GRE from .3 (all ports)
  rule(['100.64.0.4', 'fd7a:115c:a1e0::4'], [`${L4}:1-100`, `${L6}:1-100`], [50]), // 3: ESP but not all ports → never matches
  rule(['100.64.0.5', 'fd7a:115c:a1e0::5'], [`${L4}:9899`, `${L6}:9899`], [132]), // 4: SCTP
  rule(['100.64.0.6', 'fd7a:115c:a1e0::6'], ['10.1.0.0/24:5432', 'fd00:1::/64:5432'], [6]), // 5: a served route
  rule(['100.64.0.7', 'fd7a:115c:a1e0::7'], [`${L4}:*`, `${L6}:*`], [1, 58]), // 6: all ICMP
  { SrcIPs: [A2, A2v6], CapGrant: [{ Dsts: [`${L4}/32`, `${L6}/128`], CapMap: { 'example.com/cap/a': [{ x: 1 }] } }] }, // 7
  { SrcIPs: ['100.64.0.0/10'], CapGrant: [{ Dsts: [`${L4}/32`], CapMap: { 'example.com/cap/a': [{ x: 2 }], 'example.com/cap/b': [{}] } }] }, // 8
];
const LOCALS = [...LOCAL, '10.1.0.0/24', 'fd00:1::/64'];
const ORIGINS = RULES.map((_, i) => ({ kind: 'grant' as const, index: i * 10, file: 'policy.hujson', line: i + 1, col: 3 }));

function engine(rules = RULES, opts: { maxFlows?: number } = {}): { e: FilterEngine; clock: { t: number } } {
  const clock = { t: 1000 };
  const e = new FilterEngine(compileFilter(rules, { localPrefixes: LOCALS, origins: ORIGINS }), { now: () => clock.t, ...opts });
  return { e, clock };
}

function inb(e: FilterEngine, b: Uint8Array): string {
  return verdictReason(e.inbound(b, 0, b.length));
}

function out(e: FilterEngine, b: Uint8Array): void {
  expect(verdictReason(e.outbound(b, 0, b.length))).toBe('outbound');
}

describe('inbound verdicts of a fresh engine (rules only)', () => {
  const fam = [
    { f: 'v4', me: L4, a2: A2, a3: A3, n: (i: number) => `100.64.0.${i}`, route: '10.1.0.9', offRoute: '10.2.0.1', mcast: '224.0.0.251', ll: '169.254.1.1', other: '100.64.0.9', outside: '192.0.2.1' },
    { f: 'v6', me: L6, a2: A2v6, a3: A3v6, n: (i: number) => `fd7a:115c:a1e0::${i}`, route: 'fd00:1::9', offRoute: 'fd00:2::1', mcast: 'ff02::1', ll: 'fe80::1', other: 'fd7a:115c:a1e0::9', outside: '2001:db8::1' },
  ];
  const rows = fam.flatMap((x) => [
    { name: `${x.f} tcp 22 from the granted peer`, b: pkt('tcp', x.a2, x.me, 40000, 22, SYN), want: 'rule' },
    { name: `${x.f} tcp 22 from another peer`, b: pkt('tcp', x.a3, x.me, 40000, 22, SYN), want: 'no_rule' },
    { name: `${x.f} udp 22 (rule names tcp only)`, b: pkt('udp', x.a2, x.me, 40000, 22), want: 'no_rule' },
    { name: `${x.f} tcp 80 (range start)`, b: pkt('tcp', x.a3, x.me, 40000, 80, SYN), want: 'rule' },
    { name: `${x.f} tcp 443 (range end)`, b: pkt('tcp', x.a3, x.me, 40000, 443, SYN), want: 'rule' },
    { name: `${x.f} tcp 444 (past range)`, b: pkt('tcp', x.a3, x.me, 40000, 444, SYN), want: 'no_rule' },
    { name: `${x.f} udp 443 (default protocols include udp)`, b: pkt('udp', x.a3, x.me, 40000, 443), want: 'rule' },
    { name: `${x.f} sctp 443 (default protocols exclude sctp)`, b: pkt('sctp', x.a3, x.me, 40000, 443), want: 'no_rule' },
    { name: `${x.f} tcp 80 from outside the tailnet`, b: pkt('tcp', x.outside, x.me, 40000, 80, SYN), want: 'no_rule' },
    { name: `${x.f} gre from the granted peer`, b: pkt(47, x.a3, x.me), want: 'rule' },
    { name: `${x.f} gre from another peer`, b: pkt(47, x.a2, x.me), want: 'no_rule' },
    { name: `${x.f} esp with a rule not covering all ports`, b: pkt(50, x.n(4), x.me), want: 'no_rule' },
    { name: `${x.f} sctp 9899 named`, b: pkt('sctp', x.n(5), x.me, 1, 9899), want: 'rule' },
    { name: `${x.f} served route`, b: pkt('tcp', x.n(6), x.route, 40000, 5432, SYN), want: 'rule' },
    { name: `${x.f} outside served routes`, b: pkt('tcp', x.n(6), x.offRoute, 40000, 5432, SYN), want: 'not_local' },
    { name: `${x.f} another node's address`, b: pkt('tcp', x.a2, x.other, 40000, 22, SYN), want: 'not_local' },
    { name: `${x.f} echo request, some rule reaches us (tcp 22 only)`, b: pkt('icmp', x.a2, x.me), want: 'rule' },
    { name: `${x.f} echo request from a source no rule covers`, b: pkt('icmp', x.outside, x.me), want: 'no_rule' },
    { name: `${x.f} echo reply without a flow`, b: pkt('icmp', x.a2, x.me, undefined, undefined, { icmpType: x.f === 'v4' ? 0 : 129 }), want: 'no_rule' },
    { name: `${x.f} ICMP error without a flow`, b: pkt('icmp', x.a2, x.me, undefined, undefined, { icmpType: x.f === 'v4' ? 3 : 1, payload: pkt('udp', x.me, x.a2, 1, 2).slice(0, x.f === 'v4' ? 28 : 48) }), want: 'no_rule' },
    { name: `${x.f} other ICMP type with an all-ICMP rule`, b: pkt('icmp', x.n(7), x.me, undefined, undefined, { icmpType: x.f === 'v4' ? 13 : 139 }), want: 'rule' },
    { name: `${x.f} other ICMP type without one`, b: pkt('icmp', x.a2, x.me, undefined, undefined, { icmpType: x.f === 'v4' ? 13 : 139 }), want: 'no_rule' },
    { name: `${x.f} multicast destination`, b: pkt('udp', x.a2, x.mcast, 5353, 5353), want: 'multicast' },
    { name: `${x.f} link-local destination`, b: pkt('udp', x.a2, x.ll, 1, 443), want: 'link_local' },
    { name: `${x.f} non-SYN without a flow, rules allow (restart keeps connections)`, b: pkt('tcp', x.a2, x.me, 40000, 22, ACK), want: 'rule' },
    { name: `${x.f} non-SYN without a flow, rules deny (stateful TCP)`, b: pkt('tcp', x.a3, x.me, 40000, 22, ACK), want: 'no_rule' },
    { name: `${x.f} later fragment without first`, b: pkt(17, x.a3, x.me, undefined, undefined, { fragOffset: 1480, ipId: 4, payload: new Uint8Array(8) }), want: 'fragment' },
  ]);
  rows.push({ name: 'v4 limited broadcast', b: pkt('udp', A2, '255.255.255.255', 1, 443), want: 'multicast' });
  rows.push({ name: 'not an IP packet', b: Uint8Array.of(0x12, 0x34, 0x56), want: 'malformed' });
  it.each(rows)('$name → $want', ({ b, want }) => {
    const { e } = engine();
    expect(inb(e, b)).toBe(want);
    expect(e.counters()[want === 'rule' ? 'accepted_rule' : `drop_${want}`]).toBe(1);
  });

  it('a first fragment too short to hold the ports is dropped as fragment', () => {
    const b = pkt('tcp', A3, L4, 40000, 80, { moreFragments: true }).slice(0, 28);
    b[3] = 28;
    expect(inb(engine().e, b)).toBe('fragment');
  });

  it('an absent or empty IPProto means tcp, udp, icmp, icmpv6 (not sctp, gre)', () => {
    for (const protos of [undefined, []]) {
      const r = rule([A2, A2v6], [`${L4}:*`, `${L6}:*`], protos);
      const { e } = engine([r]);
      expect(inb(e, pkt('tcp', A2, L4, 1, 5, SYN))).toBe('rule');
      expect(inb(e, pkt('udp', A2v6, L6, 1, 5))).toBe('rule');
      expect(inb(e, pkt('icmp', A2, L4, undefined, undefined, { icmpType: 13 }))).toBe('rule');
      expect(inb(e, pkt('icmp', A2v6, L6, undefined, undefined, { icmpType: 139 }))).toBe('rule');
      expect(inb(e, pkt('sctp', A2, L4, 1, 5))).toBe('no_rule');
      expect(inb(e, pkt(47, A2v6, L6))).toBe('no_rule');
    }
  });

  it('no rules: everything inbound is dropped', () => {
    const { e } = engine([]);
    expect(inb(e, pkt('tcp', A2, L4, 1, 22, SYN))).toBe('no_rule');
    expect(inb(e, pkt('icmp', A2v6, L6))).toBe('no_rule');
  });

  it('rules given as ranges and * work', () => {
    const { e } = engine([rule(['100.64.0.2-100.64.0.4'], ['*:7'], [17])]);
    expect(inb(e, pkt('udp', A3, L4, 1, 7))).toBe('rule');
    expect(inb(e, pkt('udp', '100.64.0.5', L4, 1, 7))).toBe('no_rule');
    expect(inb(e, pkt('udp', A3, '10.1.0.1', 1, 7))).toBe('rule');
  });
});

describe('flows', () => {
  const fams = [
    { f: 'v4', me: L4, peer: A3, err: 3, reply: 0, len: 28 },
    { f: 'v6', me: L6, peer: A3v6, err: 1, reply: 129, len: 48 },
  ];
  it.each(fams)('$f: an outbound TCP connection opens its return path, and only that', ({ me, peer }) => {
    const { e } = engine();
    expect(inb(e, pkt('tcp', peer, me, 5000, 50000, { tcpFlags: TCP_SYN | TCP_ACK }))).toBe('no_rule');
    out(e, pkt('tcp', me, peer, 50000, 5000, SYN));
    expect(inb(e, pkt('tcp', peer, me, 5000, 50000, { tcpFlags: TCP_SYN | TCP_ACK }))).toBe('flow');
    expect(inb(e, pkt('tcp', peer, me, 5000, 50000, ACK))).toBe('flow');
    expect(inb(e, pkt('tcp', peer, me, 5001, 50000, ACK))).toBe('no_rule');
    expect(inb(e, pkt('udp', peer, me, 5000, 50000))).toBe('no_rule');
  });

  it.each(fams)('$f: UDP replies, ICMP echo replies and ICMP errors need a flow', ({ me, peer, err, reply, len }) => {
    const { e } = engine();
    out(e, pkt('udp', me, peer, 5353, 53));
    expect(inb(e, pkt('udp', peer, me, 53, 5353))).toBe('flow');
    out(e, pkt('icmp', me, peer, undefined, undefined, { icmpId: 5 }));
    expect(inb(e, pkt('icmp', peer, me, undefined, undefined, { icmpType: reply, icmpId: 5 }))).toBe('flow');
    expect(inb(e, pkt('icmp', peer, me, undefined, undefined, { icmpType: reply, icmpId: 6 }))).toBe('no_rule');
    const quoted = pkt('udp', me, peer, 5353, 53).slice(0, len);
    expect(inb(e, pkt('icmp', peer, me, undefined, undefined, { icmpType: err, payload: quoted }))).toBe('flow');
    // only from the host the quoted packet went to (engine-hardening.test.ts has the cases)
    expect(inb(e, pkt('icmp', me === L4 ? '100.64.0.99' : 'fd7a:115c:a1e0::99', me, undefined, undefined, { icmpType: err, payload: quoted }))).toBe('no_rule');
    const unknown = pkt('udp', me, peer, 5354, 53).slice(0, len);
    expect(inb(e, pkt('icmp', peer, me, undefined, undefined, { icmpType: err, payload: unknown }))).toBe('no_rule');
  });

  it.each(fams)('$f: an inbound connection the rules accept creates a flow; outbound replies keep it', ({ me }) => {
    const { e } = engine();
    const peer = me === L4 ? A2 : A2v6;
    expect(inb(e, pkt('tcp', peer, me, 40000, 22, SYN))).toBe('rule');
    out(e, pkt('tcp', me, peer, 22, 40000, { tcpFlags: TCP_SYN | TCP_ACK }));
    expect(inb(e, pkt('tcp', peer, me, 40000, 22, ACK))).toBe('flow');
    expect(e.counters().flows_active).toBe(1);
  });

  it.each(fams)('$f: a later fragment passes only after its first fragment was accepted', ({ me, peer }) => {
    const { e } = engine();
    expect(inb(e, pkt('udp', peer, me, 1, 443, { moreFragments: true, ipId: 77, payload: new Uint8Array(16) }))).toBe('rule');
    const later = (id: number, from = peer) => pkt(17, from, me, undefined, undefined, { fragOffset: 24, ipId: id, payload: new Uint8Array(8) });
    expect(inb(e, later(77))).toBe('fragment');
    expect(e.counters().accepted_fragment).toBe(1);
    expect(inb(e, later(78))).toBe('fragment');
    expect(e.counters().drop_fragment).toBe(1);
    expect(inb(e, later(77, me === L4 ? A2 : A2v6))).toBe('fragment');
    expect(e.counters().drop_fragment).toBe(2);
    // a dropped first fragment does not open the door
    expect(inb(e, pkt('udp', peer, me, 1, 9, { moreFragments: true, ipId: 79, payload: new Uint8Array(16) }))).toBe('no_rule');
    expect(isAccept(e.inbound(later(79), 0, later(79).length))).toBe(false);
  });

  it('idle timeouts: UDP 30 s unreplied, 180 s replied; TCP opening 2 min, established 5 days, closing 2 min', () => {
    const { e, clock } = engine();
    out(e, pkt('udp', L4, A3, 1000, 53));
    clock.t += 31_000;
    expect(inb(e, pkt('udp', A3, L4, 53, 1000))).toBe('no_rule');
    out(e, pkt('udp', L4, A3, 1001, 53));
    clock.t += 29_000;
    expect(inb(e, pkt('udp', A3, L4, 53, 1001))).toBe('flow');
    clock.t += 179_000;
    expect(inb(e, pkt('udp', A3, L4, 53, 1001))).toBe('flow');
    clock.t += 181_000;
    expect(inb(e, pkt('udp', A3, L4, 53, 1001))).toBe('no_rule');

    out(e, pkt('tcp', L4, A3, 2000, 5000, SYN));
    clock.t += 121_000;
    expect(inb(e, pkt('tcp', A3, L4, 5000, 2000, { tcpFlags: TCP_SYN | TCP_ACK }))).toBe('no_rule');

    out(e, pkt('tcp', L4, A3, 2001, 5000, SYN));
    expect(inb(e, pkt('tcp', A3, L4, 5000, 2001, { tcpFlags: TCP_SYN | TCP_ACK }))).toBe('flow');
    out(e, pkt('tcp', L4, A3, 2001, 5000, ACK));
    expect(inb(e, pkt('tcp', A3, L4, 5000, 2001, ACK))).toBe('flow');
    clock.t += 4 * 86_400_000;
    expect(inb(e, pkt('tcp', A3, L4, 5000, 2001, ACK))).toBe('flow');
    out(e, pkt('tcp', L4, A3, 2001, 5000, { tcpFlags: TCP_FIN | TCP_ACK }));
    clock.t += 119_000;
    expect(inb(e, pkt('tcp', A3, L4, 5000, 2001, { tcpFlags: TCP_FIN | TCP_ACK }))).toBe('flow');
    clock.t += 121_000;
    expect(inb(e, pkt('tcp', A3, L4, 5000, 2001, ACK))).toBe('no_rule');
    expect(e.counters().flows_expired).toBeGreaterThan(0);
  });

  it('a reset flow lingers briefly (10 s), then needs the rules again', () => {
    const { e, clock } = engine();
    out(e, pkt('tcp', L4, A3, 3000, 5000, SYN));
    expect(inb(e, pkt('tcp', A3, L4, 5000, 3000, { tcpFlags: TCP_RST | TCP_ACK }))).toBe('flow');
    clock.t += 9_000;
    expect(inb(e, pkt('tcp', A3, L4, 5000, 3000, ACK))).toBe('flow');
    clock.t += 11_000;
    expect(inb(e, pkt('tcp', A3, L4, 5000, 3000, ACK))).toBe('no_rule');
  });

  it('the table is bounded and evicts the least recently used flow', () => {
    const { e, clock } = engine(RULES, { maxFlows: 4 });
    for (let i = 0; i < 4; i++) {
      out(e, pkt('udp', L4, A3, 1000 + i, 53));
      clock.t += 2000;
    }
    expect(inb(e, pkt('udp', A3, L4, 53, 1000))).toBe('flow'); // 1000 becomes most recent
    clock.t += 2000;
    out(e, pkt('udp', L4, A3, 1004, 53)); // evicts 1001
    expect(e.counters().flows_active).toBe(4);
    expect(e.counters().flows_evicted).toBe(1);
    expect(inb(e, pkt('udp', A3, L4, 53, 1001))).toBe('no_rule');
    for (const p of [1000, 1002, 1003, 1004]) expect(inb(e, pkt('udp', A3, L4, 53, p))).toBe('flow');
  });
});

describe('replace: hand-over and revocation', () => {
  it('revokes flows the new rules no longer allow, keeps the rest, and reports TCP flows for RSTs', () => {
    const { e } = engine();
    expect(inb(e, pkt('tcp', A2, L4, 40000, 22, { tcpFlags: TCP_SYN, seq: 100 }))).toBe('rule');
    out(e, pkt('tcp', L4, A2, 22, 40000, { tcpFlags: TCP_SYN | TCP_ACK, seq: 900, ack: 101 }));
    expect(inb(e, pkt('tcp', A2, L4, 40000, 22, { tcpFlags: TCP_ACK, seq: 101, ack: 901, payload: new Uint8Array(10) }))).toBe('flow');
    expect(inb(e, pkt('tcp', A2v6, L6, 40001, 22, SYN))).toBe('rule');
    expect(inb(e, pkt('udp', A3, L4, 5000, 443))).toBe('rule'); // web rule, stays
    out(e, pkt('tcp', L4, A3, 50000, 5000, SYN)); // opened by us, stays
    const next = compileFilter(RULES.filter((_, i) => i !== 0), { localPrefixes: LOCALS });
    const revoked = e.replace(next);
    expect(revoked.map((r) => `${r.family}/${r.proto} ${r.remote}:${r.remotePort}→${r.local}:${r.localPort}`).sort()).toEqual([
      `4/6 ${A2}:40000→${L4}:22`,
      `6/6 ${A2v6}:40001→${L6}:22`,
    ]);
    const v4 = revoked.find((r) => r.family === 4)!;
    expect(v4.tcp).toEqual({ remoteNextSeq: 111, localNextSeq: 901 });
    expect(e.counters().flows_revoked).toBe(2);
    expect(inb(e, pkt('tcp', A2, L4, 40000, 22, ACK))).toBe('no_rule');
    expect(inb(e, pkt('udp', A3, L4, 5000, 443))).toBe('flow');
    expect(inb(e, pkt('tcp', A3, L4, 5000, 50000, { tcpFlags: TCP_SYN | TCP_ACK }))).toBe('flow');
    // the RST toward the local stack looks like the peer resetting, with the sequence number it expects
    const rst = buildResetToLocal(v4)!;
    const p = new ParsedPacket();
    parsePacket(rst, 0, rst.length, p);
    expect([p.sport, p.dport, p.tcpFlags & TCP_RST, p.seq >>> 0]).toEqual([40000, 22, TCP_RST, 111]);
  });

  // The local stack answers a revoked peer's segments with RSTs (and may still send a FIN): those
  // outbound packets must not recreate the flow, or the peer would be let in again.
  it.each([
    { f: 'v4', me: L4, peer: A2, how: 'RST', flags: TCP_RST },
    { f: 'v4', me: L4, peer: A2, how: 'RST|ACK', flags: TCP_RST | TCP_ACK },
    { f: 'v4', me: L4, peer: A2, how: 'FIN|ACK', flags: TCP_FIN | TCP_ACK },
    { f: 'v6', me: L6, peer: A2v6, how: 'RST', flags: TCP_RST },
    { f: 'v6', me: L6, peer: A2v6, how: 'FIN|ACK', flags: TCP_FIN | TCP_ACK },
  ])('$f: an outbound $how after a revocation opens no flow', ({ me, peer, flags }) => {
    const { e } = engine();
    expect(inb(e, pkt('tcp', peer, me, 40000, 22, { tcpFlags: TCP_SYN, seq: 100 }))).toBe('rule');
    out(e, pkt('tcp', me, peer, 22, 40000, { tcpFlags: TCP_SYN | TCP_ACK, seq: 900, ack: 101 }));
    expect(e.replace(compileFilter(RULES.filter((_, i) => i !== 0), { localPrefixes: LOCALS }))).toHaveLength(1);
    expect(e.flowCount).toBe(0);
    const rst = pkt('tcp', me, peer, 22, 40000, { tcpFlags: flags, seq: 901, ack: 101 });
    expect(verdictReason(e.outbound(rst, 0, rst.length))).toBe('revoked_tuple');
    expect(e.flowCount).toBe(0);
    expect(inb(e, pkt('tcp', peer, me, 40000, 22, { tcpFlags: TCP_ACK, seq: 101, ack: 902 }))).toBe('no_rule');
    expect(inb(e, pkt('tcp', peer, me, 40000, 22, { tcpFlags: TCP_FIN | TCP_ACK, seq: 101, ack: 902 }))).toBe('no_rule');
  });

  it('an outbound RST or FIN on a tracked flow still updates it (and a later SYN opens a new one)', () => {
    const { e } = engine();
    out(e, pkt('tcp', L4, A3, 50000, 5000, SYN));
    expect(inb(e, pkt('tcp', A3, L4, 5000, 50000, { tcpFlags: TCP_SYN | TCP_ACK }))).toBe('flow');
    out(e, pkt('tcp', L4, A3, 50000, 5000, { tcpFlags: TCP_RST }));
    expect(e.flowCount).toBe(1);
    expect(inb(e, pkt('tcp', A3, L4, 5000, 50000, ACK))).toBe('flow'); // reset state: short timeout, still tracked
    out(e, pkt('tcp', L4, A3, 50001, 5000, { tcpFlags: TCP_FIN | TCP_ACK }));
    expect(e.flowCount).toBe(1);
    out(e, pkt('tcp', L4, A3, 50001, 5000, SYN));
    expect(e.flowCount).toBe(2);
  });

  it('the destination cache follows the filter: an address no longer local is dropped after replace', () => {
    const { e } = engine();
    expect(inb(e, pkt('tcp', A3, L4, 40000, 80, SYN))).toBe('rule');
    expect(inb(e, pkt('tcp', A3, '10.1.0.9', 40000, 80, SYN))).toBe('no_rule'); // served route, other class
    expect(inb(e, pkt('tcp', A3, L4, 40000, 81, SYN))).toBe('rule');
    e.replace(compileFilter(RULES, { localPrefixes: ['10.1.0.0/24', `${L6}/128`] }));
    expect(inb(e, pkt('tcp', A3, L4, 40000, 82, SYN))).toBe('not_local');
    expect(inb(e, pkt('tcp', A3v6, L6, 40000, 80, SYN))).toBe('rule');
  });

  it('revokes flows whose destination is no longer local', () => {
    const { e } = engine();
    expect(inb(e, pkt('tcp', '100.64.0.6', '10.1.0.9', 1, 5432, SYN))).toBe('rule');
    const revoked = e.replace(compileFilter(RULES, { localPrefixes: LOCAL }));
    expect(revoked).toHaveLength(1);
    expect(revoked[0].local).toBe('10.1.0.9');
  });
});

describe('explain, capsFor, counters', () => {
  it('names the accepting rule and its grant', () => {
    const { e } = engine();
    const b = pkt('tcp', A2v6, L6, 1, 22, SYN);
    const x = e.explain(b, 0, b.length);
    expect(x).toMatchObject({ verdict: 'accept', reason: 'rule', rule: { index: 0, origin: ORIGINS[0] } });
    expect(x.packet).toMatchObject({ family: 6, proto: 'tcp', src: A2v6, dst: L6, dport: 22 });
    expect(e.counters().accepted_rule).toBe(0); // explain changes nothing
  });

  it('lists the nearest rules and what each failed', () => {
    const { e } = engine();
    const b = pkt('tcp', A3, L4, 1, 22, SYN);
    const x = e.explain(b, 0, b.length);
    expect(x.verdict).toBe('drop');
    expect(x.reason).toBe('no_rule');
    expect(x.nearMisses![0]).toMatchObject({ index: 0, failed: ['source not in SrcIPs'] });
    expect(x.nearMisses!.some((m) => m.failed.includes('port 22 not in 80-443'))).toBe(true);
  });

  it('explains flow accepts and pre-rule drops', () => {
    const { e } = engine();
    out(e, pkt('udp', L4, A3, 1000, 53));
    const r = pkt('udp', A3, L4, 53, 1000);
    expect(e.explain(r, 0, r.length)).toMatchObject({ verdict: 'accept', reason: 'flow' });
    const m = pkt('udp', A3, '224.0.0.1', 1, 2);
    expect(e.explain(m, 0, m.length)).toMatchObject({ verdict: 'drop', reason: 'multicast' });
    const n = pkt('udp', A3, '100.64.0.50', 1, 2);
    expect(e.explain(n, 0, n.length).detail).toContain('100.64.0.1/32');
    expect(e.explain(Uint8Array.of(1), 0, 1)).toMatchObject({ verdict: 'drop', reason: 'malformed' });
  });

  it('capsFor concatenates capabilities in rule order, per family, and answers null when none', () => {
    const { e } = engine();
    expect(e.capsFor(A2, L4)).toEqual({ 'example.com/cap/a': [{ x: 1 }, { x: 2 }], 'example.com/cap/b': [{}] });
    expect(e.capsFor(A3, L4)).toEqual({ 'example.com/cap/a': [{ x: 2 }], 'example.com/cap/b': [{}] });
    expect(e.capsFor(A2v6, L6)).toEqual({ 'example.com/cap/a': [{ x: 1 }] });
    expect(e.capsFor(A3v6, L6)).toBeNull();
    expect(e.capsFor('192.0.2.1', L4)).toBeNull();
    expect(e.capsFor(Uint8Array.of(100, 64, 0, 2), Uint8Array.of(100, 64, 0, 1))).toEqual(e.capsFor(A2, L4));
    expect(e.capsFor('garbage', L4)).toBeNull();
  });

  it('counts every drop reason, including drops decided by the data plane', () => {
    const { e } = engine();
    e.countDrop('spoofed');
    inb(e, pkt('udp', A3, '224.0.0.1', 1, 2));
    inb(e, Uint8Array.of(0));
    expect(e.counters()).toMatchObject({ drop_spoofed: 1, drop_multicast: 1, drop_malformed: 1, accepted_rule: 0 });
  });

  it('bad rules are local misuse: a typed error naming the rule', () => {
    for (const bad of [
      [{ SrcIPs: ['not-an-ip'], DstPorts: [] }],
      [{ SrcIPs: ['*'], DstPorts: [{ IP: '1.2.3.4', Ports: { First: 5, Last: 4 } }] }],
      [{ SrcIPs: ['*'], DstPorts: [{ IP: '1.2.3.4', Ports: { First: 1, Last: 2 } }], IPProto: [256] }],
    ] as FilterRule[][]) {
      expect(() => compileFilter(bad, { localPrefixes: LOCAL })).toThrow(GrantwireError);
    }
    expect(() => compileFilter([], { localPrefixes: ['nope'] })).toThrow(/local prefix/);
  });
});
