// FilterEngine: the per-node packet filter the data plane calls on every packet. It holds the current
// CompiledFilter (swapped whole on policy change), the flow table, the fragment table and the counters.
// inbound()/outbound() allocate nothing: one reused ParsedPacket, typed-array state, integer verdicts.
// Time comes from the injected clock, or from the optional `now` argument so a data plane that stamps a
// whole batch once does not pay for a clock read per packet. Not concurrency-safe: one engine per node.
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP } from '../types/filter-rule.js';
import { formatIP, parseIP } from '../types/ip.js';
import type { CompiledFilter } from './compiled-filter.js';
import { explainPacket, type Explanation } from './explain.js';
import { FragmentTable } from './fragment-table.js';
import {
  DEFAULT_MAX_FLOWS,
  FF_LOCAL_INIT,
  FF_SEEN_IN,
  FF_SEEN_OUT,
  FlowTable,
  FS_ICMP_ECHO,
  FS_REPLIED,
  FS_TCP_CLOSING,
  FS_TCP_ESTABLISHED,
  FS_TCP_OPENING,
  FS_TCP_RESET,
  FS_UNREPLIED,
} from './flow-table.js';
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
  protoHasPorts,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
} from './packet.js';
import { parsePacket } from './packet-parser.js';
import {
  counterName,
  dropVerdict,
  VERDICT_ACCEPT_FLOW,
  VERDICT_ACCEPT_FRAGMENT,
  VERDICT_ACCEPT_OUTBOUND,
  VERDICT_ACCEPT_RULE,
  VERDICT_DROP_FRAGMENT,
  VERDICT_DROP_MALFORMED,
  VERDICT_DROP_NO_RULE,
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

/** A flow removed because the new rules no longer allow it; enough to craft TCP RSTs both ways. */
export interface RevokedFlow {
  family: 4 | 6;
  proto: number;
  /** This node's address and port (the side the TUN delivers to). */
  local: string;
  localPort: number;
  /** The peer's address and port (who opened the flow). */
  remote: string;
  remotePort: number;
  /** TCP only: next sequence numbers each side expects from the other (RST toward local uses remoteNextSeq). */
  tcp?: { remoteNextSeq: number; localNextSeq: number };
}

export interface FilterEngineOptions {
  /** Flow table capacity (fixed memory, LRU eviction). Default 65536. */
  maxFlows?: number;
  /** Milliseconds, monotonic. Default performance.now(). */
  now?: () => number;
}

const defaultClock = (): number => performance.now();

export class FilterEngine {
  private filter: CompiledFilter;
  private readonly flows: FlowTable;
  private readonly frags = new FragmentTable();
  private readonly p = new ParsedPacket();
  private readonly clock: () => number;
  private readonly counts = new Float64Array(VERDICT_LIMIT);
  private revokedTotal = 0;

  constructor(filter: CompiledFilter, options: FilterEngineOptions = {}) {
    this.filter = filter;
    this.flows = new FlowTable(options.maxFlows ?? DEFAULT_MAX_FLOWS);
    this.clock = options.now ?? defaultClock;
  }

  get current(): CompiledFilter {
    return this.filter;
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
    let v = f.classifyDst(buf, p);
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

  private decideInbound(buf: Uint8Array, p: ParsedPacket, f: CompiledFilter, now: number): Verdict {
    const fl = this.flows;
    const q = fl.q;
    const proto = p.proto;
    if (p.hasPorts) {
      q[0] = meta(p.family, proto, 0);
      q[1] = (p.dport << 16) | p.sport;
      q[2] = p.dst0;
      q[3] = p.dst1;
      q[4] = p.dst2;
      q[5] = p.dst3;
      q[6] = p.src0;
      q[7] = p.src1;
      q[8] = p.src2;
      q[9] = p.src3;
      if (proto === IPPROTO_TCP && (p.tcpFlags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_SYN) {
        // A new connection attempt is judged by the current rules first; a flow only rescues it when
        // the node itself opened this tuple (simultaneous open).
        if (f.ruleVerdict(buf, p) === VERDICT_ACCEPT_RULE) {
          let i = fl.find(now);
          if (i < 0) i = fl.insertAfterMiss(now, FS_TCP_OPENING, 0);
          else fl.touch(i, now);
          this.trackIn(i, p);
          return VERDICT_ACCEPT_RULE;
        }
        const i = fl.find(now);
        if (i < 0) return VERDICT_DROP_NO_RULE;
        fl.touch(i, now);
        this.trackIn(i, p);
        return VERDICT_ACCEPT_FLOW;
      }
      let i = fl.find(now);
      if (i >= 0) {
        fl.touch(i, now);
        this.trackIn(i, p);
        return VERDICT_ACCEPT_FLOW;
      }
      // No flow: judged by the rules (a restart does not cut allowed connections; revoked ones stay cut).
      if (f.ruleVerdict(buf, p) !== VERDICT_ACCEPT_RULE) return VERDICT_DROP_NO_RULE;
      i = fl.insertAfterMiss(now, proto === IPPROTO_TCP ? FS_TCP_ESTABLISHED : FS_UNREPLIED, 0);
      this.trackIn(i, p);
      return VERDICT_ACCEPT_RULE;
    }
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
        const i = fl.find(now);
        if (i < 0) return VERDICT_DROP_NO_RULE;
        fl.touch(i, now);
        return VERDICT_ACCEPT_FLOW;
      }
      if (p.icmpKind === ICMP_ERROR) {
        // An error about a packet this node sent: the quoted packet's source is us.
        if (!p.innerValid || !this.innerKey(p)) return VERDICT_DROP_NO_RULE;
        return fl.find(now) >= 0 ? VERDICT_ACCEPT_FLOW : VERDICT_DROP_NO_RULE;
      }
    }
    return f.ruleVerdict(buf, p);
  }

  private innerKey(p: ParsedPacket): boolean {
    const q = this.flows.q;
    if (p.innerEcho) {
      q[0] = meta(p.family, p.family === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6, 1);
      q[1] = p.innerSport << 16;
    } else {
      if (!protoHasPorts(p.innerProto)) return false;
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

  private trackIn(i: number, p: ParsedPacket): void {
    const fl = this.flows;
    const flags = fl.addFlags(i, FF_SEEN_IN);
    if (p.proto !== IPPROTO_TCP) {
      if ((flags & FF_SEEN_OUT) !== 0) fl.setState(i, FS_REPLIED);
      return;
    }
    const t = p.tcpFlags;
    fl.setRemoteNextSeq(i, (p.seq + p.payloadLen + ((t & TCP_SYN) !== 0 ? 1 : 0) + ((t & TCP_FIN) !== 0 ? 1 : 0)) | 0);
    this.tcpState(i, t, (flags & FF_SEEN_OUT) !== 0);
  }

  private trackOut(i: number, p: ParsedPacket): void {
    const fl = this.flows;
    const flags = fl.addFlags(i, FF_SEEN_OUT);
    if (p.proto !== IPPROTO_TCP) {
      if ((flags & FF_SEEN_IN) !== 0) fl.setState(i, FS_REPLIED);
      return;
    }
    const t = p.tcpFlags;
    fl.setLocalNextSeq(i, (p.seq + p.payloadLen + ((t & TCP_SYN) !== 0 ? 1 : 0) + ((t & TCP_FIN) !== 0 ? 1 : 0)) | 0);
    this.tcpState(i, t, (flags & FF_SEEN_IN) !== 0);
  }

  private tcpState(i: number, t: number, bothWays: boolean): void {
    const fl = this.flows;
    const s = fl.state(i);
    let n = s;
    if ((t & TCP_RST) !== 0) n = FS_TCP_RESET;
    else if ((t & TCP_SYN) !== 0 && (t & TCP_ACK) === 0) {
      if (s === FS_TCP_CLOSING || s === FS_TCP_RESET) n = FS_TCP_OPENING; // a new connection on a reused tuple
    } else if ((t & TCP_FIN) !== 0) {
      if (s !== FS_TCP_RESET) n = FS_TCP_CLOSING;
    } else if (s === FS_TCP_OPENING && bothWays && (t & (TCP_ACK | TCP_SYN)) === TCP_ACK) n = FS_TCP_ESTABLISHED;
    if (n !== s) fl.setState(i, n);
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
    let i = fl.find(t);
    if (i >= 0) fl.touch(i, t);
    else {
      let state = FS_ICMP_ECHO;
      if (proto === IPPROTO_TCP) state = (p.tcpFlags & (TCP_SYN | TCP_ACK)) === TCP_SYN ? FS_TCP_OPENING : FS_TCP_ESTABLISHED;
      else if (p.hasPorts) state = FS_UNREPLIED;
      i = fl.insertAfterMiss(t, state, FF_LOCAL_INIT);
    }
    if (p.hasPorts) this.trackOut(i, p);
    return VERDICT_ACCEPT_OUTBOUND;
  }

  /**
   * Swaps in a new filter. Flows the peer opened are re-judged by the new rules (and the new local
   * addresses); those no longer allowed are removed and returned, so the data plane can send TCP RSTs.
   * Flows this node opened stay: outbound is always allowed.
   */
  replace(filter: CompiledFilter, now?: number): RevokedFlow[] {
    const t = now === undefined ? this.clock() : now;
    this.filter = filter;
    this.frags.clear();
    const fl = this.flows;
    const revoked: RevokedFlow[] = [];
    const local = new Uint8Array(16);
    const remote = new Uint8Array(16);
    for (const i of fl.indexes()) {
      if (!fl.isLive(i, t)) {
        fl.remove(i);
        fl.expirations++;
        continue;
      }
      if ((fl.flags(i) & FF_LOCAL_INIT) !== 0) continue;
      const m = fl.keyWord(i, 0);
      const family = (m >>> 16) === 4 ? 4 : 6;
      const proto = (m >>> 8) & 0xff;
      const n = family === 4 ? 4 : 16;
      for (let b = 0; b < n; b++) {
        local[b] = (fl.keyWord(i, 2 + (b >> 2)) >>> (24 - 8 * (b & 3))) & 0xff;
        remote[b] = (fl.keyWord(i, 6 + (b >> 2)) >>> (24 - 8 * (b & 3))) & 0xff;
      }
      const localPort = fl.keyWord(i, 1) >>> 16;
      const remotePort = fl.keyWord(i, 1) & 0xffff;
      const l = local.slice(0, n);
      const r = remote.slice(0, n);
      if (filter.allowsTuple(family, proto, r, l, localPort, !protoHasPorts(proto))) continue;
      const rf: RevokedFlow = { family, proto, local: formatIP(l), localPort, remote: formatIP(r), remotePort };
      if (proto === IPPROTO_TCP && fl.state(i) !== FS_TCP_RESET) rf.tcp = { remoteNextSeq: fl.remoteNextSeq(i) >>> 0, localNextSeq: fl.localNextSeq(i) >>> 0 };
      revoked.push(rf);
      fl.remove(i);
    }
    this.revokedTotal += revoked.length;
    return revoked;
  }

  /** Forgets all flow and fragment state (counters stay). */
  clearState(): void {
    this.flows.clear();
    this.frags.clear();
  }

  /** Why this inbound packet would be accepted or dropped now (does not change any state). */
  explain(buf: Uint8Array, off: number, len: number, now?: number): Explanation {
    return explainPacket(this.filter, buf, off, len, {
      fragmentSeen: (p) => this.frags.has(p, now ?? this.clock()),
      flowFor: (p) => this.peekFlow(p, now ?? this.clock()),
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
      return this.flows.peek(now) >= 0;
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

  /** accepted_rule, accepted_flow, accepted_fragment, accepted_outbound, drop_<reason>…, flows_*. */
  counters(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let v = 1; v < VERDICT_LIMIT; v++) if (verdictReason(v) !== 'unknown') out[counterName(v)] = this.counts[v];
    out.flows_active = this.flows.size;
    out.flows_capacity = this.flows.capacity;
    out.flows_evicted = this.flows.evictions;
    out.flows_expired = this.flows.expirations;
    out.flows_revoked = this.revokedTotal;
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
