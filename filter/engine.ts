// FilterEngine: the per-node packet filter the data plane calls on every packet. It holds the current
// CompiledFilter (swapped whole on policy change), the flow table, the fragment table and the counters.
// inbound()/outbound() allocate nothing: one reused ParsedPacket, typed-array state, integer verdicts.
// Time comes from the injected clock, or from the optional `now` argument so a data plane that stamps a
// whole batch once does not pay for a clock read per packet. Not concurrency-safe: one engine per node.
// Speed: the hot functions (parse4/parseTcp, portsIn, portVerdict, FlowTable.lookup/trackTcp) are kept
// under V8's per-function inlining limit (460 bytecodes) with rare branches out of line, so one inbound
// TCP packet is one optimized function plus one call; with the local-destination cache this took IPv4 SYN
// at 10k rules from ~8 to 9.3-10 Mpps in full bench:filter runs (10-11 in --quick runs), IPv6 from ~5.4
// to ~7 and flow hits from ~10.5 to ~13.8 (same box, load 1.4-2.6).
// Hardening (issue 10) keeps the packet path's shape: ShieldsUp and the per-peer quota are touched only
// where a flow would be created (a lookup miss), tombstones only on an outbound miss, and the TCP
// acknowledgment number is read only on the outbound path.
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../packet/headers.js';
import { parseIP, prefixContains, type IPPrefix } from '../types/ip.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, ipProtoHasPorts } from '../types/ipproto.js';
import type { CompiledFilter } from './compiled-filter.js';
import { explainPacket, type Explanation } from './explain.js';
import {
  DEFAULT_MAX_FLOWS,
  FF_LOCAL_INIT,
  FF_SEEN_IN,
  FF_SEEN_OUT,
  FlowTable,
  FS_ICMP_ECHO,
  FS_TCP_ESTABLISHED,
  FS_TCP_OPENING,
  FS_UNREPLIED,
} from './flow-table.js';
import { FragmentTable } from './fragment-table.js';
import { defaultPeerQuota } from './peer-quota.js';
import {
  FRAG_FIRST,
  FRAG_LATER,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_ERROR,
  ParsedPacket,
  PKT_FRAGMENT_SHORT,
  PKT_MALFORMED,
  PKT_OK,
} from './packet.js';
import { parsePacket, readTcpAck } from './packet-parser.js';
import { dropFlowsOfRemote, pruneTombstones, revokeFlows, type RevokedFlow } from './revoke.js';

export type { RevokedFlow };
import {
  counterName,
  dropVerdict,
  VERDICT_ACCEPT_FLOW,
  VERDICT_ACCEPT_FRAGMENT,
  VERDICT_ACCEPT_OUTBOUND,
  VERDICT_ACCEPT_REVOKED_TUPLE,
  VERDICT_ACCEPT_RULE,
  VERDICT_DROP_FRAGMENT,
  VERDICT_DROP_MALFORMED,
  VERDICT_DROP_NO_RULE,
  VERDICT_DROP_SHIELDS_UP,
  VERDICT_FIRST_DROP,
  VERDICT_LIMIT,
  verdictReason,
  type DropReason,
  type Verdict,
} from './verdict.js';

/** Meta word of a flow key: family, protocol, and 1 for ICMP echo flows. */
function meta(family: number, proto: number, echo: number): number {
  return (family << 16) | (proto << 8) | echo;
}

export interface FilterEngineOptions {
  /** Flow table capacity (fixed memory, LRU eviction). Default 65536. */
  maxFlows?: number;
  /** Flows one remote address may create (a peer at its limit loses its own oldest). Default maxFlows/8. */
  maxFlowsPerPeer?: number;
  /** Tombstones of revoked tuples kept (LRU beyond that). Default min(maxFlows, 16384). */
  maxTombstones?: number;
  /** Milliseconds, monotonic. Default performance.now(). */
  now?: () => number;
  /**
   * An ICMP error is accepted (for a flow) only from the host its quoted packet was sent to. This hook
   * may also vouch for a sender that serves a route covering the quoted destination (a subnet router
   * reporting on a host behind it): p.src* is the sender, p.innerDst* the quoted destination. Not called
   * when the sender is the quoted destination. Default: nobody else is accepted.
   */
  icmpErrorRelay?: (p: Readonly<ParsedPacket>) => boolean;
}

export const DEFAULT_MAX_TOMBSTONES = 16384;

const defaultClock = (): number => performance.now();

export class FilterEngine {
  private filter: CompiledFilter;
  private readonly flows: FlowTable;
  /** Tuples whose flows were revoked (state FS_REVOKED); probed with the flow table's key. */
  private readonly tombs: FlowTable;
  private readonly icmpRelay: ((p: Readonly<ParsedPacket>) => boolean) | null;
  /** ShieldsUp: no new inbound connections. */
  private shields = false;
  private readonly frags = new FragmentTable();
  private readonly p = new ParsedPacket();
  private readonly clock: () => number;
  private readonly counts = new Float64Array(VERDICT_LIMIT);
  private revokedTotal = 0;
  /** The destination cache (family 0: empty); valid for the current filter only. */
  private dFam = 0;
  private d0 = 0;
  private d1 = 0;
  private d2 = 0;
  private d3 = 0;
  private dClass = 0;

  constructor(filter: CompiledFilter, options: FilterEngineOptions = {}) {
    this.filter = filter;
    const maxFlows = options.maxFlows ?? DEFAULT_MAX_FLOWS;
    this.flows = new FlowTable(maxFlows, { maxPerPeer: options.maxFlowsPerPeer ?? defaultPeerQuota(maxFlows) });
    this.tombs = new FlowTable(options.maxTombstones ?? Math.min(maxFlows, DEFAULT_MAX_TOMBSTONES), { q: this.flows.q });
    this.icmpRelay = options.icmpErrorRelay ?? null;
    this.clock = options.now ?? defaultClock;
  }

  get current(): CompiledFilter {
    return this.filter;
  }

  get shieldsUp(): boolean {
    return this.shields;
  }

  /**
   * ShieldsUp (Tailscale's name): every new inbound connection is dropped (`shields_up`); replies to the
   * node's own flows still pass. Raising the shields revokes the flows peers opened (returned, for RSTs,
   * and tombstoned), as a policy change would.
   */
  setShieldsUp(on: boolean, now?: number): RevokedFlow[] {
    const t = now === undefined ? this.clock() : now;
    if (on === this.shields) return [];
    this.shields = on;
    if (!on) {
      pruneTombstones(this.tombs, this.filter, t);
      return [];
    }
    const revoked = revokeFlows(this.flows, null, t, this.tombs);
    this.revokedTotal += revoked.length;
    return revoked;
  }

  /** A decrypted inbound packet buf[off, off+len); returns its verdict and counts it. */
  inbound(buf: Uint8Array, off: number, len: number, now?: number): Verdict {
    const p = this.p;
    const st = parsePacket(buf, off, len, p);
    if (st === PKT_MALFORMED) {
      this.counts[VERDICT_DROP_MALFORMED]++;
      return VERDICT_DROP_MALFORMED;
    }
    const f = this.filter;
    let v = 0;
    // One-entry cache of the last local destination and its class: nearly every inbound packet is for
    // this node's own address, and the compare is cheaper than the dst trie walk (IPv6 above all).
    if (p.family === this.dFam && p.dst0 === this.d0 && p.dst1 === this.d1 && p.dst2 === this.d2 && p.dst3 === this.d3) p.dstClass = this.dClass;
    else {
      v = f.classifyDst(buf, p);
      if (v === 0) this.rememberDst(p);
    }
    if (v === 0) {
      if (st === PKT_FRAGMENT_SHORT) v = VERDICT_DROP_FRAGMENT;
      else {
        const t = now === undefined ? this.clock() : now;
        if (p.frag === FRAG_LATER) v = this.frags.has(p, t) ? VERDICT_ACCEPT_FRAGMENT : VERDICT_DROP_FRAGMENT;
        else {
          v = this.decideInbound(buf, p, f, t);
          if (p.frag === FRAG_FIRST && v < VERDICT_FIRST_DROP) this.frags.add(p, t);
        }
      }
    }
    this.counts[v]++;
    return v;
  }

  private rememberDst(p: ParsedPacket): void {
    this.dFam = p.family;
    this.d0 = p.dst0;
    this.d1 = p.dst1;
    this.d2 = p.dst2;
    this.d3 = p.dst3;
    this.dClass = p.dstClass;
  }

  private decideInbound(buf: Uint8Array, p: ParsedPacket, f: CompiledFilter, now: number): Verdict {
    return p.hasPorts ? this.portsIn(buf, p, f, now) : this.portlessIn(buf, p, f, now);
  }

  /**
   * TCP, UDP, SCTP, DCCP: the hot path. Kept small (with the ICMP and port-less cases in portlessIn) so
   * V8 inlines it, the flow lookup and the rule check into inbound(): measured +10-15% at 10k rules.
   */
  private portsIn(buf: Uint8Array, p: ParsedPacket, f: CompiledFilter, now: number): Verdict {
    const fl = this.flows;
    const q = fl.q;
    const proto = p.proto;
    q[0] = (p.family << 16) | (proto << 8);
    q[1] = (p.dport << 16) | p.sport;
    q[2] = p.dst0;
    q[3] = p.dst1;
    q[4] = p.dst2;
    q[5] = p.dst3;
    q[6] = p.src0;
    q[7] = p.src1;
    q[8] = p.src2;
    q[9] = p.src3;
    if (proto !== IPPROTO_TCP) {
      let i = fl.lookup(now);
      let v = VERDICT_ACCEPT_FLOW;
      if (i < 0) {
        // No flow: judged by the rules (a restart does not cut allowed connections; revoked ones stay cut).
        if (this.shields) return VERDICT_DROP_SHIELDS_UP;
        if (f.portVerdict(buf, p) !== VERDICT_ACCEPT_RULE) return VERDICT_DROP_NO_RULE;
        i = fl.insertPeerOpened(now, FS_UNREPLIED, 0);
        v = VERDICT_ACCEPT_RULE;
      }
      fl.trackOther(i, FF_SEEN_IN);
      return v;
    }
    const t = p.tcpFlags;
    // A new connection attempt (bare SYN) is judged by the current rules first; a flow only rescues it
    // when the node itself opened this tuple (simultaneous open). Any other segment is judged by its
    // flow, and without one by the rules.
    const syn = (t & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_SYN;
    let v = syn ? f.portVerdict(buf, p) : VERDICT_ACCEPT_FLOW;
    let i = fl.lookup(now);
    if (i < 0) {
      if (this.shields) return VERDICT_DROP_SHIELDS_UP;
      if (!syn) v = f.portVerdict(buf, p);
      if (v !== VERDICT_ACCEPT_RULE) return VERDICT_DROP_NO_RULE;
      // Opening (2 min) even from a bare ACK (a restart): established only once the local side answers,
      // so a peer's stray ACKs cannot pin flows for days.
      i = fl.insertPeerOpened(now, FS_TCP_OPENING, 0);
      fl.setRemoteNextSeq(i, p.seq);
    } else if (v !== VERDICT_ACCEPT_RULE) v = VERDICT_ACCEPT_FLOW;
    fl.trackTcp(i, FF_SEEN_IN, t, p.seq, (p.seq + p.payloadLen + (t & TCP_SYN ? 1 : 0) + (t & TCP_FIN)) | 0);
    return v;
  }

  /** ICMP (echo replies and errors need a flow) and port-less protocols (rules only). */
  private portlessIn(buf: Uint8Array, p: ParsedPacket, f: CompiledFilter, now: number): Verdict {
    const fl = this.flows;
    const q = fl.q;
    const proto = p.proto;
    if ((proto === IPPROTO_ICMP && p.family === 4) || (proto === IPPROTO_ICMPV6 && p.family === 6)) {
      if (p.icmpKind === ICMP_ECHO_REPLY) {
        q[0] = meta(p.family, proto, 1);
        q[1] = p.icmpId << 16;
        q[2] = p.dst0;
        q[3] = p.dst1;
        q[4] = p.dst2;
        q[5] = p.dst3;
        q[6] = p.src0;
        q[7] = p.src1;
        q[8] = p.src2;
        q[9] = p.src3;
        return fl.lookup(now) < 0 ? VERDICT_DROP_NO_RULE : VERDICT_ACCEPT_FLOW;
      }
      if (p.icmpKind === ICMP_ERROR) {
        // An error about a packet this node sent (the quoted packet's source is us), from its peer. The
        // flow is looked up first, so the relay hook (slower) only runs for errors about a real flow.
        if (!p.innerValid || !this.innerKey(p) || fl.find(now) < 0) return VERDICT_DROP_NO_RULE;
        return this.fromQuotedPeer(p) ? VERDICT_ACCEPT_FLOW : VERDICT_DROP_NO_RULE;
      }
    }
    if (this.shields) return VERDICT_DROP_SHIELDS_UP;
    return f.ruleVerdict(buf, p);
  }

  /**
   * An ICMP error comes from the host the quoted packet was sent to (or a router the relay hook vouches
   * for): any other peer could otherwise inject errors (unreachable, packet too big) into our flows.
   */
  private fromQuotedPeer(p: ParsedPacket): boolean {
    if (p.src0 === p.innerDst0 && p.src1 === p.innerDst1 && p.src2 === p.innerDst2 && p.src3 === p.innerDst3) return true;
    return this.icmpRelay !== null && this.icmpRelay(p);
  }

  private innerKey(p: ParsedPacket): boolean {
    const q = this.flows.q;
    if (p.innerEcho) {
      q[0] = meta(p.family, p.family === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6, 1);
      q[1] = p.innerSport << 16;
    } else {
      if (!ipProtoHasPorts(p.innerProto)) return false;
      q[0] = meta(p.family, p.innerProto, 0);
      q[1] = (p.innerSport << 16) | p.innerDport;
    }
    q[2] = p.innerSrc0;
    q[3] = p.innerSrc1;
    q[4] = p.innerSrc2;
    q[5] = p.innerSrc3;
    q[6] = p.innerDst0;
    q[7] = p.innerDst1;
    q[8] = p.innerDst2;
    q[9] = p.innerDst3;
    return true;
  }

  /** An outbound packet (always allowed): opens or refreshes the flow its replies will use. */
  outbound(buf: Uint8Array, off: number, len: number, now?: number): Verdict {
    const p = this.p;
    this.counts[VERDICT_ACCEPT_OUTBOUND]++;
    if (parsePacket(buf, off, len, p) !== PKT_OK || p.frag === FRAG_LATER) return VERDICT_ACCEPT_OUTBOUND;
    const fl = this.flows;
    const q = fl.q;
    const proto = p.proto;
    if (p.hasPorts) {
      q[0] = meta(p.family, proto, 0);
      q[1] = (p.sport << 16) | p.dport;
    } else if (p.icmpKind === ICMP_ECHO_REQUEST && ((proto === IPPROTO_ICMP && p.family === 4) || (proto === IPPROTO_ICMPV6 && p.family === 6))) {
      q[0] = meta(p.family, proto, 1);
      q[1] = p.icmpId << 16;
    } else return VERDICT_ACCEPT_OUTBOUND;
    q[2] = p.src0;
    q[3] = p.src1;
    q[4] = p.src2;
    q[5] = p.src3;
    q[6] = p.dst0;
    q[7] = p.dst1;
    q[8] = p.dst2;
    q[9] = p.dst3;
    const t = now === undefined ? this.clock() : now;
    let i = fl.lookup(t);
    if (i < 0) {
      if (this.tombs.size !== 0 && this.onRevokedTuple(p, t)) return VERDICT_ACCEPT_REVOKED_TUPLE;
      let state = FS_ICMP_ECHO;
      if (proto === IPPROTO_TCP) {
        // An RST or FIN for a connection we do not track ends nothing and must open nothing: after a
        // revocation the local stack answers the peer's segments with RSTs, and a flow created by one
        // (marked node-opened, so it survives re-judging) would let the revoked peer in again.
        if ((p.tcpFlags & (TCP_RST | TCP_FIN)) !== 0) return VERDICT_ACCEPT_OUTBOUND;
        state = (p.tcpFlags & (TCP_SYN | TCP_ACK)) === TCP_SYN ? FS_TCP_OPENING : FS_TCP_ESTABLISHED;
      } else if (p.hasPorts) state = FS_UNREPLIED;
      i = fl.insertAfterMiss(t, state, FF_LOCAL_INIT);
    }
    if (proto === IPPROTO_TCP) {
      const f = p.tcpFlags;
      fl.trackTcp(i, FF_SEEN_OUT, f, p.seq, (p.seq + p.payloadLen + (f & TCP_SYN ? 1 : 0) + (f & TCP_FIN)) | 0);
      // What the local socket acknowledges is what it expects next from the peer (its RCV.NXT). Flows
      // either side opened need it: a new filter revokes the peer's, and a peer leaving the netmap ends
      // ours too (forgetRemote), whose RST toward the local socket must be in window as well.
      if ((f & TCP_ACK) !== 0) fl.setRemoteNextSeq(i, readTcpAck(buf, off, p));
    } else if (p.hasPorts) fl.trackOther(i, FF_SEEN_OUT);
    return VERDICT_ACCEPT_OUTBOUND;
  }

  /**
   * An outbound miss on a tombstoned tuple (the key is in the shared probe): refreshes the tombstone and
   * reports it, so no flow is opened. A bare SYN is a new connection the node opens: it ends the tombstone.
   */
  private onRevokedTuple(p: ParsedPacket, now: number): boolean {
    const j = this.tombs.lookup(now);
    if (j < 0) return false;
    if (p.proto === IPPROTO_TCP && (p.tcpFlags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_SYN) {
      this.tombs.remove(j);
      return false;
    }
    this.counts[VERDICT_ACCEPT_OUTBOUND]--;
    this.counts[VERDICT_ACCEPT_REVOKED_TUPLE]++;
    return true;
  }

  /**
   * Swaps in a new filter. Flows the peer opened are re-judged by the new rules (and the new local
   * addresses); those no longer allowed are removed and returned, so the data plane can send TCP RSTs.
   * Flows this node opened stay: outbound is always allowed.
   */
  replace(filter: CompiledFilter, now?: number): RevokedFlow[] {
    const t = now === undefined ? this.clock() : now;
    this.filter = filter;
    this.dFam = 0;
    this.frags.clear();
    // With shields up nothing new is allowed, whatever the rules say.
    const allows = this.shields ? null : filter;
    const revoked = revokeFlows(this.flows, allows, t, this.tombs);
    pruneTombstones(this.tombs, allows, t);
    this.revokedTotal += revoked.length;
    return revoked;
  }

  /**
   * A peer left the netmap: drops every flow (either direction) with a remote address inside `prefixes`
   * (its allowed IPs), tombstones them, and returns them, so the data plane resets the local sockets
   * instead of leaving them to stall. Runs on netmap changes, not per packet.
   */
  forgetRemote(prefixes: readonly IPPrefix[], now?: number): RevokedFlow[] {
    if (prefixes.length === 0) return [];
    const t = now === undefined ? this.clock() : now;
    const dropped = dropFlowsOfRemote(this.flows, (remote) => prefixes.some((p) => prefixContains(p, remote)), t, this.tombs);
    this.revokedTotal += dropped.length;
    return dropped;
  }

  /** Forgets all flow, tombstone and fragment state (counters stay). */
  clearState(): void {
    this.flows.clear();
    this.tombs.clear();
    this.frags.clear();
  }

  /** Why this inbound packet would be accepted or dropped now (does not change any state). */
  explain(buf: Uint8Array, off: number, len: number, now?: number): Explanation {
    return explainPacket(this.filter, buf, off, len, {
      fragmentSeen: (p) => this.frags.has(p, now ?? this.clock()),
      flowFor: (p) => this.peekFlow(p, now ?? this.clock()),
      shieldsUp: this.shields,
    });
  }

  private peekFlow(p: ParsedPacket, now: number): boolean {
    const q = this.flows.q;
    if (p.hasPorts) {
      q[0] = meta(p.family, p.proto, 0);
      q[1] = (p.dport << 16) | p.sport;
    } else if (p.icmpKind === ICMP_ECHO_REPLY) {
      q[0] = meta(p.family, p.proto, 1);
      q[1] = p.icmpId << 16;
    } else if (p.icmpKind === ICMP_ERROR) {
      if (!p.innerValid || !this.innerKey(p)) return false;
      return this.flows.peek(now) >= 0 && this.fromQuotedPeer(p);
    } else return false;
    q[2] = p.dst0;
    q[3] = p.dst1;
    q[4] = p.dst2;
    q[5] = p.dst3;
    q[6] = p.src0;
    q[7] = p.src1;
    q[8] = p.src2;
    q[9] = p.src3;
    return this.flows.peek(now) >= 0;
  }

  /** Capabilities the peer at `src` has when talking to `dst` (this node): text or 4/16-byte arrays. */
  capsFor(src: string | Uint8Array, dst: string | Uint8Array): Record<string, unknown[]> | null {
    const s = typeof src === 'string' ? parseIP(src)?.bytes : src;
    const d = typeof dst === 'string' ? parseIP(dst)?.bytes : dst;
    if (!s || !d) return null;
    const caps = this.filter.capsFor(s, d);
    if (!caps) return null;
    const out: Record<string, unknown[]> = {};
    for (const [k, v] of Object.entries(caps)) out[k] = [...v];
    return out;
  }

  /** accepted_rule, accepted_flow, accepted_fragment, accepted_outbound, accepted_revoked_tuple, drop_<reason>…, flows_*. */
  counters(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let v = 1; v < VERDICT_LIMIT; v++) if (verdictReason(v) !== 'unknown') out[counterName(v)] = this.counts[v];
    out.flows_active = this.flows.size;
    out.flows_capacity = this.flows.capacity;
    out.flows_evicted = this.flows.evictions;
    out.flows_expired = this.flows.expirations;
    out.flows_revoked = this.revokedTotal;
    out.flows_quota_evicted = this.flows.quotaEvictions;
    out.flows_tombstones = this.tombs.size;
    return out;
  }

  /** Counts a drop decided outside the filter (e.g. 'spoofed' by the data plane's cryptokey check). */
  countDrop(reason: DropReason): void {
    this.counts[dropVerdict(reason)]++;
  }

  /** Number of live-or-stale entries in the flow table (tests, metrics). */
  get flowCount(): number {
    return this.flows.size;
  }
}
