// The slow, obviously-correct matcher the compiled filter is tested against: it walks the rules in
// order and checks each address with textbook prefix/range comparisons on byte arrays (types/ip.ts),
// sharing nothing with the compiler (no partitions, tries or port sets). Stateless: it decides what the
// rules alone say (no flows, so non-first fragments, echo replies and ICMP errors are dropped). Only the
// packet decoder is shared; it has its own table-driven tests and fuzzing.
import { DEFAULT_IPPROTOS, type FilterRule } from '../types/filter-rule.js';
import { compareIP, maskPrefix, parseIP, parsePrefix, prefixContains, type IPPrefix } from '../types/ip.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6 } from '../types/ipproto.js';
import { parsePacket } from './packet-parser.js';
import { FRAG_LATER, ICMP_ECHO_REQUEST, ICMP_OTHER, ParsedPacket, PKT_FRAGMENT_SHORT, PKT_MALFORMED } from './packet.js';
import {
  VERDICT_ACCEPT_RULE,
  VERDICT_DROP_FRAGMENT,
  VERDICT_DROP_LINK_LOCAL,
  VERDICT_DROP_MALFORMED,
  VERDICT_DROP_MULTICAST,
  VERDICT_DROP_NO_RULE,
  VERDICT_DROP_NOT_LOCAL,
  type Verdict,
} from './verdict.js';

type AddrMatcher = { any: true } | { prefix: IPPrefix } | { lo: Uint8Array; hi: Uint8Array };

function matcher(text: string): AddrMatcher {
  if (text === '*') return { any: true };
  const dash = text.indexOf('-');
  if (dash > 0) {
    const lo = parseIP(text.slice(0, dash));
    const hi = parseIP(text.slice(dash + 1));
    if (!lo || !hi) throw new Error(`reference: bad range ${text}`);
    return { lo: lo.bytes, hi: hi.bytes };
  }
  const p = parsePrefix(text);
  if (!p) throw new Error(`reference: bad address ${text}`);
  return { prefix: maskPrefix(p) };
}

function matches(m: AddrMatcher, a: Uint8Array): boolean {
  if ('any' in m) return true;
  if ('prefix' in m) return prefixContains(m.prefix, a);
  return m.lo.length === a.length && compareIP(m.lo, a) <= 0 && compareIP(a, m.hi) <= 0;
}

interface RefRule {
  srcs: AddrMatcher[];
  dsts: { ip: AddrMatcher; first: number; last: number }[];
  protos: number[];
}

const MULTICAST = ['224.0.0.0/4', '255.255.255.255/32', 'ff00::/8'].map((s) => parsePrefix(s)!);
const LINK_LOCAL = ['169.254.0.0/16', 'fe80::/10'].map((s) => parsePrefix(s)!);

export class ReferenceMatcher {
  private readonly rules: RefRule[];
  private readonly local: AddrMatcher[];
  private readonly p = new ParsedPacket();

  constructor(rules: FilterRule[], options: { localPrefixes: string[] }) {
    this.local = options.localPrefixes.map(matcher);
    this.rules = rules.map((r) => ({
      srcs: r.SrcIPs.map(matcher),
      dsts: (r.DstPorts ?? []).map((d) => ({ ip: matcher(d.IP), first: d.Ports.First, last: d.Ports.Last })),
      protos: r.IPProto && r.IPProto.length > 0 ? r.IPProto : [...DEFAULT_IPPROTOS],
    }));
  }

  /** The stateless verdict for an inbound packet. */
  decide(buf: Uint8Array, off: number, len: number): Verdict {
    const p = this.p;
    const st = parsePacket(buf, off, len, p);
    if (st === PKT_MALFORMED) return VERDICT_DROP_MALFORMED;
    const n = p.family === 4 ? 4 : 16;
    const src = buf.slice(p.srcOff, p.srcOff + n);
    const dst = buf.slice(p.dstOff, p.dstOff + n);
    if (MULTICAST.some((m) => prefixContains(m, dst))) return VERDICT_DROP_MULTICAST;
    if (LINK_LOCAL.some((m) => prefixContains(m, dst))) return VERDICT_DROP_LINK_LOCAL;
    if (!this.local.some((m) => matches(m, dst))) return VERDICT_DROP_NOT_LOCAL;
    if (st === PKT_FRAGMENT_SHORT || p.frag === FRAG_LATER) return VERDICT_DROP_FRAGMENT;
    const icmp = (p.proto === IPPROTO_ICMP && p.family === 4) || (p.proto === IPPROTO_ICMPV6 && p.family === 6);
    if (icmp && p.icmpKind !== ICMP_OTHER && p.icmpKind !== ICMP_ECHO_REQUEST) return VERDICT_DROP_NO_RULE;
    for (const r of this.rules) {
      if (!r.srcs.some((m) => matches(m, src))) continue;
      for (const d of r.dsts) {
        if (!matches(d.ip, dst)) continue;
        if (icmp && p.icmpKind === ICMP_ECHO_REQUEST) return VERDICT_ACCEPT_RULE;
        if (!r.protos.includes(p.proto)) continue;
        if (p.hasPorts ? d.first <= p.dport && p.dport <= d.last : d.first === 0 && d.last === 65535) return VERDICT_ACCEPT_RULE;
      }
    }
    return VERDICT_DROP_NO_RULE;
  }
}
