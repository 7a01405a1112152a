// What a FilterRule[] allows, decided by a linear scan: the one slow, obviously-correct rule matcher.
// filter/compiled-filter.ts is the fast implementation and is tested against this one (filter/
// differential.test.ts); policy/'s `tests` section evaluates its tests with it, so a passing test is
// evidence about what the real filter does with the same rules.
//
// Packet-free: a query is (src, dst, protocol, destination port or "no ports"). Deciding which packets
// carry ports, which ICMP types are echo requests, and the drops that come before the rules (multicast,
// link-local, not local, fragments) is the packet filter's job (filter.md); this module only answers
// for the rules. Addresses are compared as byte arrays with textbook prefix and range checks
// (types/ip.ts), sharing nothing with the compiler's partitions, tries and port sets.
//
// Rule text is trusted to be what control sends; text that is not an address throws a GrantwireError
// (ERR_FILTER_BAD_RULE), like the compiler. Not for the packet path: it allocates and scans every rule.
import { GrantwireError } from './errors.js';
import { DEFAULT_IPPROTOS, type FilterRule } from './filter-rule.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, ipProtoHasPorts } from './ipproto.js';
import { compareIP, maskPrefix, parseIP, parsePrefix, prefixContains, type IPPrefix } from './ip.js';

/** One question to the rules. Addresses are 4- or 16-byte arrays, network order. */
export interface RuleQuery {
  src: Uint8Array;
  dst: Uint8Array;
  /** IP protocol number. */
  proto: number;
  /**
   * Destination port, or null for a packet without ports (GRE, ESP, non-echo ICMP, a TCP fragment
   * header…): such a packet needs a DstPorts entry covering every port (0-65535).
   */
  dport: number | null;
}

/** Capability name → the values of every CapGrant that matched, concatenated in rule order. */
export type CapMatch = Record<string, unknown[]>;

type AddrMatcher = { any: true } | { prefix: IPPrefix } | { lo: Uint8Array; hi: Uint8Array };

function bad(rule: number, text: string): never {
  throw new GrantwireError('ERR_FILTER_BAD_RULE', `filter rule ${rule}: ${JSON.stringify(text)} is not an IP, CIDR, range or *`);
}

/** `*` (every address, both families), an IP, a CIDR (host bits masked) or an `A-B` range of one family. */
function matcher(rule: number, text: string): AddrMatcher {
  if (text === '*') return { any: true };
  const dash = typeof text === 'string' ? text.indexOf('-') : -1;
  if (dash > 0) {
    const lo = parseIP(text.slice(0, dash));
    const hi = parseIP(text.slice(dash + 1));
    if (!lo || !hi || lo.family !== hi.family || compareIP(lo.bytes, hi.bytes) > 0) bad(rule, text);
    return { lo: lo.bytes, hi: hi.bytes };
  }
  const p = parsePrefix(text);
  if (!p) bad(rule, text);
  return { prefix: maskPrefix(p) };
}

function contains(m: AddrMatcher, a: Uint8Array): boolean {
  if ('any' in m) return true;
  if ('prefix' in m) return prefixContains(m.prefix, a);
  return m.lo.length === a.length && compareIP(m.lo, a) <= 0 && compareIP(a, m.hi) <= 0;
}

interface MatchRule {
  srcs: AddrMatcher[];
  dsts: { ip: AddrMatcher; first: number; last: number }[];
  /** Effective protocols: the default set when IPProto is absent or empty (JSON loses nil vs empty). */
  protos: readonly number[];
  caps: { dsts: AddrMatcher[]; capMap: Record<string, unknown[]> }[];
}

/** A FilterRule[] parsed once for repeated queries. Immutable. */
export class RuleMatcher {
  private readonly rules: MatchRule[];

  constructor(rules: readonly FilterRule[]) {
    this.rules = rules.map((r, i) => ({
      srcs: r.SrcIPs.map((s) => matcher(i, s)),
      dsts: (r.DstPorts ?? []).map((d) => ({ ip: matcher(i, d.IP), first: d.Ports.First, last: d.Ports.Last })),
      protos: r.IPProto && r.IPProto.length > 0 ? r.IPProto : DEFAULT_IPPROTOS,
      caps: (r.CapGrant ?? []).map((g) => ({ dsts: g.Dsts.map((d) => matcher(i, d)), capMap: g.CapMap })),
    }));
  }

  /** Index of the first rule that allows the query, or -1. Mixed families never match. */
  match(q: RuleQuery): number {
    if (q.src.length !== q.dst.length) return -1;
    for (let i = 0; i < this.rules.length; i++) {
      const r = this.rules[i];
      if (!r.protos.includes(q.proto) || !r.srcs.some((m) => contains(m, q.src))) continue;
      for (const d of r.dsts) {
        if (!contains(d.ip, q.dst)) continue;
        if (q.dport === null ? d.first === 0 && d.last === 65535 : d.first <= q.dport && q.dport <= d.last) return i;
      }
    }
    return -1;
  }

  /**
   * Index of the first rule that lets `src` reach `dst` at all (any protocol, any port), or -1. This is
   * what an ICMP echo request needs (filter.md: ping works when any port is open), as in Tailscale.
   */
  reach(src: Uint8Array, dst: Uint8Array): number {
    if (src.length !== dst.length) return -1;
    for (let i = 0; i < this.rules.length; i++) {
      const r = this.rules[i];
      if (r.srcs.some((m) => contains(m, src)) && r.dsts.some((d) => contains(d.ip, dst))) return i;
    }
    return -1;
  }

  /**
   * Index of the rule that lets the first packet of a `proto` exchange to `port` through, or -1: what the
   * filter decides for a TCP SYN, a UDP datagram, an ICMP echo request (reach), or a port-less packet
   * (needs every port). The `tests` section asks this, so a test says what the filter does.
   */
  allowsNew(src: Uint8Array, dst: Uint8Array, proto: number, port: number): number {
    const icmp = (proto === IPPROTO_ICMP && src.length === 4) || (proto === IPPROTO_ICMPV6 && src.length === 16);
    if (icmp) return this.reach(src, dst);
    return this.match({ src, dst, proto, dport: ipProtoHasPorts(proto) ? port : null });
  }

  /**
   * Application capabilities `src` has at `dst`: every CapGrant whose rule's SrcIPs contain src and whose
   * Dsts contain dst, merged by name in rule order; null when none matches.
   */
  caps(src: Uint8Array, dst: Uint8Array): CapMatch | null {
    if (src.length !== dst.length) return null;
    let out: CapMatch | null = null;
    for (const r of this.rules) {
      if (r.caps.length === 0 || !r.srcs.some((m) => contains(m, src))) continue;
      for (const g of r.caps) {
        if (!g.dsts.some((m) => contains(m, dst))) continue;
        out ??= {};
        for (const [name, values] of Object.entries(g.capMap)) (out[name] ??= []).push(...values);
      }
    }
    return out;
  }
}
