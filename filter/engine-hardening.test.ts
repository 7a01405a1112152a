// Hardening of the engine against hostile peers (issue 10, items 7, 8, 9, 11): revocations that stay
// revoked (tombstones, an in-window local RST), ICMP errors only from the peer they are about, per-peer
// flow quotas, the short timeout of flows created by bare ACKs, and ShieldsUp.
import { describe, expect, it } from 'vitest';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../packet/headers.js';
import { buildResetToLocal } from '../packet/tcp-reset.js';
import type { FilterRule } from '../types/filter-rule.js';
import { compileFilter } from './compile.js';
import { FilterEngine, type FilterEngineOptions } from './engine.js';
import { FLOW_TIMEOUT_MS, FS_REVOKED, FS_TCP_OPENING } from './flow-table.js';
import { ParsedPacket } from './packet.js';
import { parsePacket } from './packet-parser.js';
import { L4, L6, LOCAL, pkt, rule } from './test-helpers.js';
import { verdictReason } from './verdict.js';

const A2 = '100.64.0.2';
const A2v6 = 'fd7a:115c:a1e0::2';
const A3 = '100.64.0.3';
const A3v6 = 'fd7a:115c:a1e0::3';

const SSH_FROM_2 = rule([A2, A2v6], [`${L4}:22`, `${L6}:22`], [6]);
const DNS_FROM_2 = rule([A2, A2v6], [`${L4}:53`, `${L6}:53`], [17]);
const WEB_FOR_ALL = rule(['100.64.0.0/10', 'fd7a:115c:a1e0::/48'], [`${L4}:80-443`, `${L6}:80-443`]);
const ALL = [SSH_FROM_2, DNS_FROM_2, WEB_FOR_ALL];
const WITHOUT_2 = [WEB_FOR_ALL];

function engine(rules: FilterRule[] = ALL, opts: FilterEngineOptions = {}): { e: FilterEngine; clock: { t: number } } {
  const clock = { t: 1000 };
  const e = new FilterEngine(compileFilter(rules, { localPrefixes: LOCAL }), { now: () => clock.t, ...opts });
  return { e, clock };
}

function inb(e: FilterEngine, b: Uint8Array): string {
  return verdictReason(e.inbound(b, 0, b.length));
}

function out(e: FilterEngine, b: Uint8Array): string {
  return verdictReason(e.outbound(b, 0, b.length));
}

function revoke(e: FilterEngine, rules = WITHOUT_2) {
  return e.replace(compileFilter(rules, { localPrefixes: LOCAL }));
}

const FAMS = [
  { f: 'v4', me: L4, peer: A2, other: A3 },
  { f: 'v6', me: L6, peer: A2v6, other: A3v6 },
];

/** An established SSH connection the peer opened: SYN seq 100, SYN-ACK seq 900, 10 bytes from the peer. */
function sshSession(e: FilterEngine, me: string, peer: string): void {
  expect(inb(e, pkt('tcp', peer, me, 40000, 22, { tcpFlags: TCP_SYN, seq: 100 }))).toBe('rule');
  out(e, pkt('tcp', me, peer, 22, 40000, { tcpFlags: TCP_SYN | TCP_ACK, seq: 900, ack: 101 }));
  expect(inb(e, pkt('tcp', peer, me, 40000, 22, { tcpFlags: TCP_ACK, seq: 101, ack: 901, payload: new Uint8Array(10) }))).toBe('flow');
}

describe('item 7: revocation that stays revoked', () => {
  // Before tombstones, each of these outbound packets created a node-opened flow that let the revoked
  // peer back in (and that later revocations skipped).
  const OUTBOUND_AFTER = [
    { how: 'ACK', flags: TCP_ACK },
    { how: 'keepalive (ACK, seq-1)', flags: TCP_ACK, seq: 900 },
    { how: 'data', flags: TCP_ACK | 0x08, payload: new Uint8Array(5) },
  ];
  it.each(FAMS.flatMap((x) => OUTBOUND_AFTER.map((o) => ({ ...x, ...o }))))('$f: an outbound $how on a revoked TCP tuple does not re-admit the peer', ({ me, peer, flags, seq, payload }) => {
    const { e } = engine();
    sshSession(e, me, peer);
    expect(revoke(e)).toHaveLength(1);
    expect(out(e, pkt('tcp', me, peer, 22, 40000, { tcpFlags: flags, seq: seq ?? 901, ack: 111, payload }))).toBe('revoked_tuple');
    expect(e.flowCount).toBe(0);
    expect(inb(e, pkt('tcp', peer, me, 40000, 22, { tcpFlags: TCP_ACK, seq: 111, ack: 902 }))).toBe('no_rule');
    // and a second revocation does not have a node-opened flow to skip
    expect(revoke(e)).toHaveLength(0);
    expect(inb(e, pkt('tcp', peer, me, 40000, 22, { tcpFlags: TCP_ACK, seq: 111, ack: 902 }))).toBe('no_rule');
    expect(e.counters().accepted_revoked_tuple).toBe(1);
  });

  it.each(FAMS)('$f: a local UDP server answering a revoked peer does not reopen it', ({ me, peer }) => {
    const { e } = engine();
    expect(inb(e, pkt('udp', peer, me, 5353, 53))).toBe('rule');
    out(e, pkt('udp', me, peer, 53, 5353));
    expect(revoke(e)).toHaveLength(1);
    for (let k = 0; k < 3; k++) {
      expect(out(e, pkt('udp', me, peer, 53, 5353))).toBe('revoked_tuple');
      expect(inb(e, pkt('udp', peer, me, 5353, 53))).toBe('no_rule');
    }
    expect(e.flowCount).toBe(0);
  });

  it('a tombstone lives while the local side keeps sending, and expires after it has been quiet', () => {
    const { e, clock } = engine();
    expect(inb(e, pkt('udp', A2, L4, 5353, 53))).toBe('rule');
    revoke(e);
    const ttl = FLOW_TIMEOUT_MS[FS_REVOKED];
    expect(ttl).toBeGreaterThanOrEqual(60_000);
    clock.t += ttl - 1000;
    expect(out(e, pkt('udp', L4, A2, 53, 5353))).toBe('revoked_tuple'); // refreshed
    clock.t += ttl - 1000;
    expect(out(e, pkt('udp', L4, A2, 53, 5353))).toBe('revoked_tuple');
    clock.t += ttl + 1000;
    // quiet for longer than the TTL: the node talking on this tuple now is a new conversation
    expect(out(e, pkt('udp', L4, A2, 53, 5353))).toBe('outbound');
    expect(inb(e, pkt('udp', A2, L4, 5353, 53))).toBe('flow');
  });

  it('tombstones are bounded: the least recently used one is dropped first', () => {
    const { e } = engine(ALL, { maxTombstones: 2 });
    for (const sp of [1, 2, 3]) expect(inb(e, pkt('udp', A2, L4, sp, 53))).toBe('rule');
    expect(revoke(e)).toHaveLength(3);
    expect(e.counters().flows_tombstones).toBe(2);
    const hits = [1, 2, 3].map((sp) => out(e, pkt('udp', L4, A2, 53, sp)));
    expect(hits.filter((h) => h === 'revoked_tuple')).toHaveLength(2);
  });

  it('an outbound bare SYN on a revoked tuple is a new connection the node opens', () => {
    const { e } = engine();
    sshSession(e, L4, A2);
    revoke(e);
    expect(out(e, pkt('tcp', L4, A2, 22, 40000, { tcpFlags: TCP_SYN, seq: 5000 }))).toBe('outbound');
    expect(inb(e, pkt('tcp', A2, L4, 40000, 22, { tcpFlags: TCP_SYN | TCP_ACK, seq: 7000, ack: 5001 }))).toBe('flow');
  });

  it('a grant that comes back clears the tombstones it covers', () => {
    const { e } = engine();
    expect(inb(e, pkt('udp', A2, L4, 5353, 53))).toBe('rule');
    revoke(e);
    expect(e.counters().flows_tombstones).toBe(1);
    revoke(e, ALL);
    expect(e.counters().flows_tombstones).toBe(0);
    expect(out(e, pkt('udp', L4, A2, 53, 5353))).toBe('outbound');
  });

  it.each(FAMS)('$f: a stale out-of-window segment from the peer does not move the sequence number the local RST uses', ({ me, peer }) => {
    const { e } = engine();
    sshSession(e, me, peer);
    // the peer sends a segment far outside the window just before the revocation (accepted: it is a flow)
    expect(inb(e, pkt('tcp', peer, me, 40000, 22, { tcpFlags: TCP_ACK, seq: 0x7654321, ack: 901, payload: new Uint8Array(100) }))).toBe('flow');
    const [r] = revoke(e);
    expect(r.tcp).toEqual({ remoteNextSeq: 111, localNextSeq: 901 });
    const rst = buildResetToLocal(r)!;
    const p = new ParsedPacket();
    parsePacket(rst, 0, rst.length, p);
    expect([p.sport, p.dport, p.tcpFlags & TCP_RST, p.seq >>> 0]).toEqual([40000, 22, TCP_RST, 111]);
  });

  it.each(FAMS)("$f: the local RST uses what the local socket acknowledged last (the outbound ACK number)", ({ me, peer }) => {
    const { e } = engine();
    sshSession(e, me, peer);
    // the local stack acknowledges more than the filter saw in order (a segment the filter missed)
    out(e, pkt('tcp', me, peer, 22, 40000, { tcpFlags: TCP_ACK, seq: 901, ack: 0xfffffff0 }));
    expect(revoke(e)[0].tcp).toEqual({ remoteNextSeq: 0xfffffff0, localNextSeq: 901 });
  });

  it('sequence numbers wrap around 2^32', () => {
    const { e } = engine();
    expect(inb(e, pkt('tcp', A2, L4, 40000, 22, { tcpFlags: TCP_SYN, seq: 0xffffffff }))).toBe('rule');
    expect(inb(e, pkt('tcp', A2, L4, 40000, 22, { tcpFlags: TCP_ACK, seq: 0, payload: new Uint8Array(4) }))).toBe('flow');
    expect(revoke(e)[0].tcp?.remoteNextSeq).toBe(4);
  });

  it('an outbound RST on a revoked tuple is still reported (the data plane must not answer it)', () => {
    const { e } = engine();
    sshSession(e, L4, A2);
    revoke(e);
    expect(out(e, pkt('tcp', L4, A2, 22, 40000, { tcpFlags: TCP_RST, seq: 901 }))).toBe('revoked_tuple');
    expect(out(e, pkt('tcp', L4, A2, 22, 40000, { tcpFlags: TCP_FIN | TCP_ACK, seq: 901, ack: 111 }))).toBe('revoked_tuple');
    expect(e.flowCount).toBe(0);
  });
});

describe('item 8: ICMP errors only from the peer they are about', () => {
  const V = [
    { f: 'v4', me: L4, peer: A3, third: '100.64.0.99', err: 3, len: 28 },
    { f: 'v6', me: L6, peer: A3v6, third: 'fd7a:115c:a1e0::99', err: 1, len: 48 },
  ];
  it.each(V)('$f: from the quoted destination → flow; from a third node → no_rule', ({ me, peer, third, err, len }) => {
    const { e } = engine();
    out(e, pkt('udp', me, peer, 5353, 53));
    const quoted = pkt('udp', me, peer, 5353, 53).slice(0, len);
    expect(inb(e, pkt('icmp', peer, me, undefined, undefined, { icmpType: err, payload: quoted }))).toBe('flow');
    expect(inb(e, pkt('icmp', third, me, undefined, undefined, { icmpType: err, payload: quoted }))).toBe('no_rule');
    const x = pkt('icmp', third, me, undefined, undefined, { icmpType: err, payload: quoted });
    expect(e.explain(x, 0, x.length)).toMatchObject({ verdict: 'drop', reason: 'no_rule' });
  });

  it.each(V)('$f: an echo error from a third node is dropped too', ({ me, peer, third, err, len }) => {
    const { e } = engine();
    out(e, pkt('icmp', me, peer, undefined, undefined, { icmpId: 7 }));
    const quoted = pkt('icmp', me, peer, undefined, undefined, { icmpId: 7 }).slice(0, len);
    expect(inb(e, pkt('icmp', third, me, undefined, undefined, { icmpType: err, payload: quoted }))).toBe('no_rule');
    expect(inb(e, pkt('icmp', peer, me, undefined, undefined, { icmpType: err, payload: quoted }))).toBe('flow');
  });

  it('a relay hook may vouch for a sender that serves the route (a subnet router)', () => {
    const seen: string[] = [];
    const { e } = engine(ALL, {
      icmpErrorRelay: (p) => {
        seen.push(`${p.src0 >>> 24}.${(p.src0 >>> 16) & 0xff}.${(p.src0 >>> 8) & 0xff}.${p.src0 & 0xff}`);
        return p.src0 === ((100 << 24) | (64 << 16) | 5) && p.innerDst0 >>> 24 === 10;
      },
    });
    out(e, pkt('udp', L4, '10.1.0.9', 5353, 53));
    const quoted = pkt('udp', L4, '10.1.0.9', 5353, 53).slice(0, 28);
    expect(inb(e, pkt('icmp', '100.64.0.5', L4, undefined, undefined, { icmpType: 3, payload: quoted }))).toBe('flow');
    expect(inb(e, pkt('icmp', '100.64.0.6', L4, undefined, undefined, { icmpType: 3, payload: quoted }))).toBe('no_rule');
    expect(seen).toEqual(['100.64.0.5', '100.64.0.6']);
  });
});

describe('item 9: flow table fairness', () => {
  it('a peer over its quota evicts its own oldest flow, not ours or other peers\'', () => {
    const { e } = engine(ALL, { maxFlows: 64, maxFlowsPerPeer: 8 });
    for (let k = 0; k < 8; k++) out(e, pkt('udp', L4, A3, 20000 + k, 53)); // ours
    for (let k = 0; k < 8; k++) expect(inb(e, pkt('udp', A3, L4, 30000 + k, 443))).toBe('rule'); // another peer's
    for (let k = 0; k < 1000; k++) expect(inb(e, pkt('udp', A2, L4, 1024 + k, 443))).toBe('rule'); // the flood
    const c = e.counters();
    expect(c.flows_active).toBe(24);
    expect(c.flows_evicted).toBe(0);
    expect(c.flows_quota_evicted).toBe(992);
    for (let k = 0; k < 8; k++) expect(inb(e, pkt('udp', A3, L4, 53, 20000 + k))).toBe('flow');
    // the flooding peer keeps its newest flows
    expect(inb(e, pkt('udp', A2, L4, 1024 + 999, 443))).toBe('flow');
  });

  it('IPv4 and IPv6 sources have their own quotas; flows the node opens never count', () => {
    const { e } = engine(ALL, { maxFlows: 64, maxFlowsPerPeer: 2 });
    for (let k = 0; k < 10; k++) out(e, pkt('udp', L4, A2, 20000 + k, 53));
    for (let k = 0; k < 5; k++) inb(e, pkt('udp', A2, L4, 1024 + k, 443));
    for (let k = 0; k < 5; k++) inb(e, pkt('udp', A2v6, L6, 1024 + k, 443));
    expect(e.counters().flows_active).toBe(14);
    expect(e.counters().flows_quota_evicted).toBe(6);
  });

  it('quota bookkeeping follows expiry, revocation and clearState', () => {
    const { e, clock } = engine(ALL, { maxFlows: 64, maxFlowsPerPeer: 3 });
    for (let k = 0; k < 3; k++) inb(e, pkt('udp', A2, L4, 1024 + k, 53));
    clock.t += 31_000; // unreplied UDP expires
    revoke(e); // sweeps the expired flows
    for (let k = 0; k < 3; k++) inb(e, pkt('udp', A2, L4, 2024 + k, 443));
    expect(e.counters().flows_quota_evicted).toBe(0);
    e.clearState();
    for (let k = 0; k < 3; k++) inb(e, pkt('udp', A2, L4, 3024 + k, 443));
    expect(e.counters().flows_quota_evicted).toBe(0);
    inb(e, pkt('udp', A2, L4, 4000, 443));
    expect(e.counters().flows_quota_evicted).toBe(1);
  });

  it.each(FAMS)('$f: a TCP flow created from a bare inbound ACK gets the short (opening) timeout', ({ me, peer }) => {
    const { e, clock } = engine();
    expect(inb(e, pkt('tcp', peer, me, 40000, 22, { tcpFlags: TCP_ACK, seq: 5 }))).toBe('rule');
    clock.t += FLOW_TIMEOUT_MS[FS_TCP_OPENING] + 1000;
    expect(inb(e, pkt('tcp', peer, me, 40000, 22, { tcpFlags: TCP_ACK, seq: 5 }))).toBe('rule'); // expired: judged again
    expect(e.counters().flows_expired).toBe(1);
    // answered by the local stack, it becomes established (an agent restart keeps live connections)
    out(e, pkt('tcp', me, peer, 22, 40000, { tcpFlags: TCP_ACK, seq: 9, ack: 5 }));
    expect(inb(e, pkt('tcp', peer, me, 40000, 22, { tcpFlags: TCP_ACK, seq: 5 }))).toBe('flow');
    clock.t += 86_400_000;
    expect(inb(e, pkt('tcp', peer, me, 40000, 22, { tcpFlags: TCP_ACK, seq: 5 }))).toBe('flow');
    expect(e.counters().flows_expired).toBe(1);
  });
});

describe('item 11: ShieldsUp', () => {
  it.each(FAMS)('$f: every new inbound connection is dropped as shields_up; replies to our own flows pass', ({ me, peer, other }) => {
    const { e } = engine([...ALL, rule([A3, A3v6], [`${L4}:*`, `${L6}:*`], [47, 1, 58])]);
    out(e, pkt('udp', me, other, 5353, 53));
    out(e, pkt('tcp', me, other, 50000, 443, { tcpFlags: TCP_SYN }));
    out(e, pkt('icmp', me, other, undefined, undefined, { icmpId: 3 }));
    expect(e.setShieldsUp(true)).toEqual([]);
    expect(e.shieldsUp).toBe(true);
    const rows = [
      pkt('tcp', peer, me, 40000, 22, { tcpFlags: TCP_SYN }),
      pkt('tcp', peer, me, 40000, 22, { tcpFlags: TCP_ACK }),
      pkt('udp', peer, me, 1, 53),
      pkt('icmp', other, me),
      pkt(47, other, me),
    ];
    for (const b of rows) expect(inb(e, b)).toBe('shields_up');
    expect(e.counters().drop_shields_up).toBe(rows.length);
    expect(inb(e, pkt('udp', other, me, 53, 5353))).toBe('flow');
    expect(inb(e, pkt('tcp', other, me, 443, 50000, { tcpFlags: TCP_SYN | TCP_ACK }))).toBe('flow');
    expect(inb(e, pkt('icmp', other, me, undefined, undefined, { icmpType: me === L4 ? 0 : 129, icmpId: 3 }))).toBe('flow');
    const x = e.explain(rows[0], 0, rows[0].length);
    expect(x).toMatchObject({ verdict: 'drop', reason: 'shields_up' });
    expect(x.detail).toMatch(/shields up/i);
    const r = pkt('udp', other, me, 53, 5353);
    expect(e.explain(r, 0, r.length)).toMatchObject({ verdict: 'accept', reason: 'flow' });
    e.setShieldsUp(false);
    expect(inb(e, rows[0])).toBe('rule');
  });

  it('raising shields revokes the connections peers opened (for RSTs) and keeps ours', () => {
    const { e } = engine();
    sshSession(e, L4, A2);
    out(e, pkt('udp', L4, A3, 5353, 53));
    const revoked = e.setShieldsUp(true);
    expect(revoked.map((r) => `${r.remote}:${r.remotePort}→${r.localPort}`)).toEqual([`${A2}:40000→22`]);
    expect(revoked[0].tcp).toEqual({ remoteNextSeq: 111, localNextSeq: 901 });
    expect(out(e, pkt('tcp', L4, A2, 22, 40000, { tcpFlags: TCP_ACK, seq: 901, ack: 111 }))).toBe('revoked_tuple');
    expect(inb(e, pkt('udp', A3, L4, 53, 5353))).toBe('flow');
    // a new filter while shields are up keeps them up
    revoke(e, ALL);
    expect(inb(e, pkt('tcp', A2, L4, 40001, 22, { tcpFlags: TCP_SYN }))).toBe('shields_up');
  });
});
