// A peer that leaves the netmap (peers by policy: the policy no longer relates the two nodes): forgetRemote
// drops every flow with it, the ones the node opened included, describes each for the RSTs, and tombstones
// the tuples. The RST toward the local socket must be in window for flows either side opened: with only the
// peer's flows tracked, a node-opened connection got an RST at sequence number 0, which the local stack
// ignores, and the socket stalled (test/e2e revocation case).
import { describe, expect, it } from 'vitest';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../packet/headers.js';
import { buildResetToLocal } from '../packet/tcp-reset.js';
import { parsePrefix, type IPPrefix } from '../types/ip.js';
import { compileFilter } from './compile.js';
import { FilterEngine } from './engine.js';
import { ParsedPacket } from './packet.js';
import { parsePacket } from './packet-parser.js';
import { L4, L6, LOCAL, pkt, rule } from './test-helpers.js';
import { verdictReason } from './verdict.js';

const FAMS = [
  { f: 'v4', me: L4, peer: '100.64.0.2', other: '100.64.0.3', bits: 32 },
  { f: 'v6', me: L6, peer: 'fd7a:115c:a1e0::2', other: 'fd7a:115c:a1e0::3', bits: 128 },
];

function engine(): FilterEngine {
  const clock = { t: 1000 };
  // The peers may reach :22 here, so peer-opened sessions can be set up too.
  const rules = [rule(['100.64.0.0/10', 'fd7a:115c:a1e0::/48'], [`${L4}:22`, `${L6}:22`], [6])];
  return new FilterEngine(compileFilter(rules, { localPrefixes: LOCAL }), { now: () => clock.t });
}

const inb = (e: FilterEngine, b: Uint8Array) => verdictReason(e.inbound(b, 0, b.length));
const out = (e: FilterEngine, b: Uint8Array) => verdictReason(e.outbound(b, 0, b.length));
const prefix = (a: string, bits: number): IPPrefix => parsePrefix(`${a}/${bits}`) as IPPrefix;

/** We connect to peer:8000 (SYN seq 500); the peer answers (SYN-ACK seq 7000) and sends 10 bytes we ACK. */
function ourSession(e: FilterEngine, me: string, peer: string, sport = 41000): void {
  expect(out(e, pkt('tcp', me, peer, sport, 8000, { tcpFlags: TCP_SYN, seq: 500 }))).toBe('outbound');
  expect(inb(e, pkt('tcp', peer, me, 8000, sport, { tcpFlags: TCP_SYN | TCP_ACK, seq: 7000, ack: 501 }))).toBe('flow');
  out(e, pkt('tcp', me, peer, sport, 8000, { tcpFlags: TCP_ACK, seq: 501, ack: 7001, payload: new Uint8Array(5) }));
  expect(inb(e, pkt('tcp', peer, me, 8000, sport, { tcpFlags: TCP_ACK, seq: 7001, ack: 506, payload: new Uint8Array(10) }))).toBe('flow');
  out(e, pkt('tcp', me, peer, sport, 8000, { tcpFlags: TCP_ACK, seq: 506, ack: 7011 }));
}

/** The peer connects to our :22 (SYN seq 100), we answer (SYN-ACK seq 900), it sends 10 bytes. */
function theirSession(e: FilterEngine, me: string, peer: string): void {
  expect(inb(e, pkt('tcp', peer, me, 40000, 22, { tcpFlags: TCP_SYN, seq: 100 }))).toBe('rule');
  out(e, pkt('tcp', me, peer, 22, 40000, { tcpFlags: TCP_SYN | TCP_ACK, seq: 900, ack: 101 }));
  expect(inb(e, pkt('tcp', peer, me, 40000, 22, { tcpFlags: TCP_ACK, seq: 101, ack: 901, payload: new Uint8Array(10) }))).toBe('flow');
}

function rstSeq(b: Uint8Array): [number, number, number] {
  const p = new ParsedPacket();
  parsePacket(b, 0, b.length, p);
  return [p.sport, p.tcpFlags & TCP_RST, p.seq >>> 0];
}

describe('forgetRemote: a peer that left the netmap', () => {
  it.each(FAMS)('$f: a connection we opened is reset in window (the sequence number our socket expects next)', ({ me, peer, bits }) => {
    const e = engine();
    ourSession(e, me, peer);
    const [r, ...rest] = e.forgetRemote([prefix(peer, bits)]);
    expect(rest).toEqual([]);
    expect(r).toMatchObject({ local: me, localPort: 41000, remote: peer, remotePort: 8000 });
    expect(r.tcp).toEqual({ remoteNextSeq: 7011, localNextSeq: 506 });
    expect(rstSeq(buildResetToLocal(r)!)).toEqual([8000, TCP_RST, 7011]);
  });

  it.each(FAMS)('$f: our socket acknowledged more than the filter saw in order: the RST follows the ACK', ({ me, peer, bits }) => {
    const e = engine();
    ourSession(e, me, peer);
    out(e, pkt('tcp', me, peer, 41000, 8000, { tcpFlags: TCP_ACK, seq: 506, ack: 9000 }));
    expect(e.forgetRemote([prefix(peer, bits)])[0].tcp).toEqual({ remoteNextSeq: 9000, localNextSeq: 506 });
  });

  it.each(FAMS)('$f: a connection the peer opened is reset in window too', ({ me, peer, bits }) => {
    const e = engine();
    theirSession(e, me, peer);
    const [r] = e.forgetRemote([prefix(peer, bits)]);
    expect(r.tcp).toEqual({ remoteNextSeq: 111, localNextSeq: 901 });
  });

  it.each(FAMS)("$f: flows with other peers stay; the gone peer's are all dropped", ({ me, peer, other, bits }) => {
    const e = engine();
    ourSession(e, me, peer);
    theirSession(e, me, peer);
    ourSession(e, me, other);
    expect(e.flowCount).toBe(3);
    expect(e.forgetRemote([prefix(peer, bits)]).map((r) => `${r.remote}:${r.remotePort}`).sort()).toEqual([`${peer}:40000`, `${peer}:8000`]);
    expect(e.flowCount).toBe(1);
    expect(e.counters().flows_revoked).toBe(2);
  });

  it.each(FAMS)("$f: our socket's next segment on a forgotten tuple is reported (for an RST at its own ACK) and opens no flow; a new SYN may", ({ me, peer, bits }) => {
    const e = engine();
    ourSession(e, me, peer);
    e.forgetRemote([prefix(peer, bits)]);
    expect(e.counters().flows_tombstones).toBe(1);
    expect(out(e, pkt('tcp', me, peer, 41000, 8000, { tcpFlags: TCP_ACK, seq: 506, ack: 7011, payload: new Uint8Array(1) }))).toBe('revoked_tuple');
    expect(e.flowCount).toBe(0);
    expect(out(e, pkt('tcp', me, peer, 41000, 8000, { tcpFlags: TCP_SYN, seq: 90000 }))).toBe('outbound');
    expect(e.flowCount).toBe(1);
  });

  it('no prefixes: nothing is dropped', () => {
    const e = engine();
    ourSession(e, L4, '100.64.0.2');
    expect(e.forgetRemote([])).toEqual([]);
    expect(e.flowCount).toBe(1);
  });
});
