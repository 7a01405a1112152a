// explain(): the engine's decision for one inbound packet, in words, with the rule that accepted it (and
// the grant it came from) or, for a drop, the nearest rules and what each failed. Not on the packet path:
// it allocates freely and scans the rules linearly; the verdict itself comes from the same compiled
// structures the hot path uses, so the two cannot disagree.
import { TCP_ACK, TCP_RST, TCP_SYN } from '../packet/headers.js';
import type { FilterRule, RuleOrigin } from '../types/filter-rule.js';
import { formatIP } from '../types/ip.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, ipProtoName } from '../types/ipproto.js';
import { bytesToBigInt, type AddrSpan } from './addr-range.js';
import type { CompiledFilter } from './compiled-filter.js';
import { parsePacket } from './packet-parser.js';
import { FRAG_FIRST, FRAG_LATER, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_ERROR, ParsedPacket, PKT_FRAGMENT_SHORT, PKT_MALFORMED } from './packet.js';
import type { NormRule } from './rules.js';
import { verdictReason, VERDICT_ACCEPT_RULE } from './verdict.js';

export interface RuleRef {
  index: number;
  origin?: RuleOrigin;
  rule: FilterRule;
}

export interface NearMiss extends RuleRef {
  /** What this rule did not match, e.g. `port 23 not in 22`. */
  failed: string[];
}

export interface Explanation {
  verdict: 'accept' | 'drop';
  reason: string;
  detail: string;
  packet?: { family: 4 | 6; proto: string; src: string; dst: string; sport?: number; dport?: number; icmpType?: number; fragment?: 'first' | 'later' };
  rule?: RuleRef;
  nearMisses?: NearMiss[];
}

export interface ExplainHooks {
  fragmentSeen(p: ParsedPacket): boolean;
  flowFor(p: ParsedPacket): boolean;
  /** ShieldsUp: new inbound connections are dropped whatever the rules say. */
  shieldsUp?: boolean;
}

function within(spans: readonly AddrSpan[], family: number, a: bigint): boolean {
  for (const s of spans) if (s.family === family && s.lo <= a && a <= s.hi) return true;
  return false;
}

type Mode = 'ports' | 'echo' | 'portless';

function ruleFailures(r: NormRule, mode: Mode, proto: number, family: number, src: bigint, dst: bigint, dport: number): string[] {
  const failed: string[] = [];
  if (mode !== 'echo' && !r.protos.includes(proto)) failed.push(`protocol ${ipProtoName(proto)} not in [${r.protos.map(ipProtoName).join(', ')}]`);
  if (!within(r.srcs, family, src)) failed.push(`source not in SrcIPs`);
  const dsts = r.dsts.filter((d) => within(d.spans, family, dst));
  if (dsts.length === 0) failed.push(`destination not in DstPorts (${r.dsts.map((d) => d.text).join(', ')})`);
  else if (mode === 'ports' && !dsts.some((d) => d.lo <= dport && dport <= d.hi)) {
    failed.push(`port ${dport} not in ${dsts.map((d) => (d.lo === d.hi ? `${d.lo}` : `${d.lo}-${d.hi}`)).join(', ')}`);
  } else if (mode === 'portless' && !dsts.some((d) => d.lo === 0 && d.hi === 65535)) {
    failed.push(`${ipProtoName(proto)} has no ports, so a rule must allow every port`);
  }
  return failed;
}

function ref(f: CompiledFilter, index: number): RuleRef {
  const out: RuleRef = { index, rule: f.rules[index] };
  const o = f.origins[index];
  if (o) out.origin = o;
  return out;
}

export function explainPacket(f: CompiledFilter, buf: Uint8Array, off: number, len: number, hooks: ExplainHooks): Explanation {
  const p = new ParsedPacket();
  const st = parsePacket(buf, off, len, p);
  if (st === PKT_MALFORMED) return { verdict: 'drop', reason: 'malformed', detail: 'not a well-formed IPv4 or IPv6 packet' };
  const n = p.family === 4 ? 4 : 16;
  const srcBytes = buf.slice(p.srcOff, p.srcOff + n);
  const dstBytes = buf.slice(p.dstOff, p.dstOff + n);
  const packet: NonNullable<Explanation['packet']> = { family: p.family === 4 ? 4 : 6, proto: ipProtoName(p.proto), src: formatIP(srcBytes), dst: formatIP(dstBytes) };
  if (p.hasPorts) {
    packet.sport = p.sport;
    packet.dport = p.dport;
  }
  const isIcmp = (p.proto === IPPROTO_ICMP && p.family === 4) || (p.proto === IPPROTO_ICMPV6 && p.family === 6);
  if (isIcmp) packet.icmpType = p.icmpType;
  if (p.frag === FRAG_FIRST) packet.fragment = 'first';
  if (p.frag === FRAG_LATER) packet.fragment = 'later';
  const drop = (reason: string, detail: string, extra: Partial<Explanation> = {}): Explanation => ({ verdict: 'drop', reason, detail, packet, ...extra });
  const pre = f.classifyDst(buf, p);
  if (pre !== 0) {
    const r = verdictReason(pre);
    const detail =
      r === 'not_local'
        ? `destination ${packet.dst} is not one of this node's addresses or routes (${f.localPrefixes.join(', ') || 'none'})`
        : `destination ${packet.dst} is ${r === 'multicast' ? 'multicast or broadcast' : 'link-local'}`;
    return drop(r, detail);
  }
  if (st === PKT_FRAGMENT_SHORT) return drop('fragment', 'first fragment too short to hold the transport header');
  if (p.frag === FRAG_LATER) {
    return hooks.fragmentSeen(p)
      ? { verdict: 'accept', reason: 'fragment', detail: 'later fragment of a datagram whose first fragment was accepted', packet }
      : drop('fragment', 'later fragment without an accepted first fragment');
  }
  const flowAccept = (): Explanation => ({ verdict: 'accept', reason: 'flow', detail: 'belongs to a tracked flow', packet });
  const pureSyn = p.proto === IPPROTO_TCP && (p.tcpFlags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_SYN;
  if (isIcmp && (p.icmpKind === ICMP_ECHO_REPLY || p.icmpKind === ICMP_ERROR)) {
    if (hooks.flowFor(p)) return flowAccept();
    return drop(
      'no_rule',
      p.icmpKind === ICMP_ERROR
        ? 'ICMP errors are accepted only for a tracked flow, from the host the quoted packet was sent to, and this is not one'
        : 'ICMP echo replies are accepted only for a tracked flow, and there is none',
    );
  }
  if (p.hasPorts && !pureSyn && hooks.flowFor(p)) return flowAccept();
  if (hooks.shieldsUp) {
    if (pureSyn && hooks.flowFor(p)) return flowAccept();
    return drop('shields_up', 'shields up: this node accepts no new inbound connections (replies to its own connections still pass)');
  }
  const mode: Mode = p.hasPorts ? 'ports' : isIcmp && p.icmpKind === ICMP_ECHO_REQUEST ? 'echo' : 'portless';
  const src = bytesToBigInt(srcBytes);
  const dst = bytesToBigInt(dstBytes);
  const fam = p.family;
  if (f.ruleVerdict(buf, p) === VERDICT_ACCEPT_RULE) {
    for (const r of f.norm) {
      if (r.dsts.length > 0 && ruleFailures(r, mode, p.proto, fam, src, dst, p.dport).length === 0) {
        return { verdict: 'accept', reason: 'rule', detail: mode === 'echo' ? 'echo request: a rule lets the source reach this destination' : 'allowed by a rule', packet, rule: ref(f, r.index) };
      }
    }
    return { verdict: 'accept', reason: 'rule', detail: 'allowed by the compiled rules', packet };
  }
  if (pureSyn && hooks.flowFor(p)) return flowAccept();
  const misses: NearMiss[] = [];
  for (const r of f.norm) {
    if (r.dsts.length === 0) continue;
    misses.push({ ...ref(f, r.index), failed: ruleFailures(r, mode, p.proto, fam, src, dst, p.dport) });
  }
  misses.sort((a, b) => a.failed.length - b.failed.length || a.index - b.index);
  const detail = misses.length === 0 ? 'this node has no network rules: everything inbound is denied' : 'no rule allows this packet';
  return drop('no_rule', detail, { nearMisses: misses.slice(0, 3) });
}
