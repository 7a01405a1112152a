// The slow reference for the compiled filter's stateless decision: filter.md's steps in their plainest
// form around the one linear rule matcher (types/rule-match.ts). Destination checks are textbook prefix
// tests on byte arrays, so nothing is shared with the compiler (no partitions, tries or port sets).
// Stateless: it decides what the rules alone say (no flows, so non-first fragments, echo replies and ICMP
// errors are dropped). Only the packet decoder is shared; it has its own table-driven tests and fuzzing.
import type { FilterRule } from '../types/filter-rule.js';
import { parsePrefix, prefixContains } from '../types/ip.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6 } from '../types/ipproto.js';
import { RuleMatcher } from '../types/rule-match.js';
import { FRAG_LATER, ICMP_ECHO_REQUEST, ICMP_OTHER, ParsedPacket, PKT_FRAGMENT_SHORT, PKT_MALFORMED } from './packet.js';
import { parsePacket } from './packet-parser.js';
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

const MULTICAST = ['224.0.0.0/4', '255.255.255.255/32', 'ff00::/8'].map((s) => parsePrefix(s)!);
const LINK_LOCAL = ['169.254.0.0/16', 'fe80::/10'].map((s) => parsePrefix(s)!);

export class ReferenceMatcher {
  private readonly rules: RuleMatcher;
  /** The node's own addresses and routes, as rules that allow everything to them. */
  private readonly local: RuleMatcher;
  private readonly p = new ParsedPacket();

  constructor(rules: FilterRule[], options: { localPrefixes: string[] }) {
    this.rules = new RuleMatcher(rules);
    this.local = new RuleMatcher([{ SrcIPs: ['*'], DstPorts: options.localPrefixes.map((ip) => ({ IP: ip, Ports: { First: 0, Last: 65535 } })) }]);
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
    if (this.local.reach(src, dst) < 0) return VERDICT_DROP_NOT_LOCAL;
    if (st === PKT_FRAGMENT_SHORT || p.frag === FRAG_LATER) return VERDICT_DROP_FRAGMENT;
    const icmp = (p.proto === IPPROTO_ICMP && p.family === 4) || (p.proto === IPPROTO_ICMPV6 && p.family === 6);
    if (icmp && p.icmpKind === ICMP_ECHO_REQUEST) return this.rules.reach(src, dst) >= 0 ? VERDICT_ACCEPT_RULE : VERDICT_DROP_NO_RULE;
    // Echo replies and ICMP errors pass only through flow state, which a stateless decision lacks.
    if (icmp && p.icmpKind !== ICMP_OTHER) return VERDICT_DROP_NO_RULE;
    const q = { src, dst, proto: p.proto, dport: p.hasPorts ? p.dport : null };
    return this.rules.match(q) >= 0 ? VERDICT_ACCEPT_RULE : VERDICT_DROP_NO_RULE;
  }
}
