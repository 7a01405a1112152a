// The packet a "what would the filter do?" question stands for, built the same way for `agent explain`
// (agent/dataplane.ts, through LocalAPI) and `control policy eval` (control/cli/policy-eval.ts), so the
// two always judge the same bytes: a TCP SYN, a UDP or UDP-Lite datagram, an SCTP INIT, a DCCP-Request,
// a GRE header, an ICMP/ICMPv6 echo request, or a bare IP packet of any other protocol.
import { GrantwireError } from '../types/errors.js';
import { parseIP } from '../types/ip.js';
import { icmpProtoFor, IPPROTO_ICMP, IPPROTO_ICMPV6, parseIpProto } from '../types/ipproto.js';
import { buildPacket } from './build.js';

/** Source port of a probe when the question names none (an ephemeral port, as a client would use). */
export const DEFAULT_PROBE_SPORT = 40000;

export interface ProbeQuery {
  src: string;
  dst: string;
  /** A protocol number or name (types/ipproto.ts). */
  proto: number | string;
  /** Default DEFAULT_PROBE_SPORT. */
  sport?: number;
  /** Default 0. */
  dport?: number;
}

/**
 * The protocol a probe carries: ICMP (1) and ICMPv6 (58), by name or number, both mean "an echo request
 * of the addresses' family", since nobody pings with ICMPv4 inside IPv6; every other protocol as given.
 */
export function probeProto(proto: number, family: 4 | 6): number {
  return proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6 ? icmpProtoFor(family) : proto;
}

/** Throws GrantwireError (ERR_PROBE_ADDR, ERR_PROBE_PROTO) on bad addresses or protocol. */
export function buildProbe(q: ProbeQuery): Uint8Array {
  const s = parseIP(q.src);
  const proto = parseIpProto(q.proto);
  if (proto === null) throw new GrantwireError('ERR_PROBE_PROTO', `bad probe protocol ${String(q.proto)}`);
  return buildPacket({
    src: q.src,
    dst: q.dst,
    proto: s ? probeProto(proto, s.family) : proto, // a bad address is reported by buildPacket
    sport: q.sport ?? DEFAULT_PROBE_SPORT,
    dport: q.dport ?? 0,
  });
}
