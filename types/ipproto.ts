// IP protocol numbers (IANA "Assigned Internet Protocol Numbers"; RFC 8200 calls the same field Next
// Header), the names people write for them, parsing and formatting. The one table for the tree: policy's
// `ip` entries, LocalAPI's `proto=`, `agent explain --proto`, `control policy eval`, the filter's
// explanations and the packet builder all read it.
//
// Each protocol has one canonical name (what formatting prints) and maybe aliases (what parsing also
// accepts). Only the protocols the policy language names (policy.md, "ip entries") have names; the others
// here are constants for parsers and builders, formatted as their number. `icmp` is ICMP (1) only: the
// policy rule that `icmp` in a grant also covers ICMPv6 lives in policy/ports.ts, on top of this table.

export const IPPROTO_HOPOPTS = 0; // RFC 8200 §4.3, IPv6 hop-by-hop options
export const IPPROTO_ICMP = 1; // RFC 792
export const IPPROTO_IGMP = 2; // RFC 1112
export const IPPROTO_IPV4 = 4; // RFC 2003, IP in IP
export const IPPROTO_TCP = 6; // RFC 9293
export const IPPROTO_EGP = 8; // RFC 888
export const IPPROTO_IGP = 9; // any private interior gateway protocol
export const IPPROTO_UDP = 17; // RFC 768
export const IPPROTO_DCCP = 33; // RFC 4340
export const IPPROTO_ROUTING = 43; // RFC 8200 §4.4
export const IPPROTO_FRAGMENT = 44; // RFC 8200 §4.5
export const IPPROTO_GRE = 47; // RFC 2784
export const IPPROTO_ESP = 50; // RFC 4303
export const IPPROTO_AH = 51; // RFC 4302
export const IPPROTO_ICMPV6 = 58; // RFC 4443
export const IPPROTO_DSTOPTS = 60; // RFC 8200 §4.6
export const IPPROTO_SCTP = 132; // RFC 9260
export const IPPROTO_UDPLITE = 136; // RFC 3828
/** RFC 3692: reserved for experimentation and testing; tests use it for packets nobody looks into. */
export const IPPROTO_EXPERIMENT = 253;

export const IPPROTO_MAX = 255;

export interface IpProtoName {
  number: number;
  /** What formatting prints. */
  name: string;
  /** Other spellings parsing accepts. */
  aliases: readonly string[];
}

/**
 * The named protocols, most used first (the order messages list them in). Names are lower case; parsing
 * is case-insensitive.
 */
export const IP_PROTO_NAMES: readonly IpProtoName[] = [
  { number: IPPROTO_TCP, name: 'tcp', aliases: [] },
  { number: IPPROTO_UDP, name: 'udp', aliases: [] },
  { number: IPPROTO_ICMP, name: 'icmp', aliases: [] },
  { number: IPPROTO_ICMPV6, name: 'icmpv6', aliases: ['ipv6-icmp'] },
  { number: IPPROTO_SCTP, name: 'sctp', aliases: [] },
  { number: IPPROTO_GRE, name: 'gre', aliases: [] },
  { number: IPPROTO_ESP, name: 'esp', aliases: [] },
  { number: IPPROTO_AH, name: 'ah', aliases: [] },
  { number: IPPROTO_IGMP, name: 'igmp', aliases: [] },
  { number: IPPROTO_DCCP, name: 'dccp', aliases: [] },
  { number: IPPROTO_EGP, name: 'egp', aliases: [] },
  { number: IPPROTO_IGP, name: 'igp', aliases: [] },
  { number: IPPROTO_IPV4, name: 'ipv4', aliases: ['ip-in-ip'] },
];

const BY_NAME = new Map<string, number>();
const NAME_OF: string[] = [];
for (const p of IP_PROTO_NAMES) {
  NAME_OF[p.number] = p.name;
  BY_NAME.set(p.name, p.number);
  for (const a of p.aliases) BY_NAME.set(a, p.number);
}

/** Every name parsing accepts (canonical names and aliases), for messages that list the choices. */
export const IP_PROTO_SPELLINGS: readonly string[] = [...BY_NAME.keys()];

/** The canonical name of a protocol, or its decimal number when it has none (`ipProtoName(253)` → "253"). */
export function ipProtoName(proto: number): string {
  return NAME_OF[proto] ?? String(proto);
}

/**
 * A protocol by name (canonical or alias, case-insensitive) or decimal number 0–255 (no sign, no leading
 * `+`, at most three digits); a number must be an integer 0–255. Null for anything else; never throws.
 */
export function parseIpProto(text: string | number): number | null {
  if (typeof text === 'number') return Number.isInteger(text) && text >= 0 && text <= IPPROTO_MAX ? text : null;
  const byName = BY_NAME.get(text.toLowerCase());
  if (byName !== undefined) return byName;
  if (!/^[0-9]{1,3}$/.test(text)) return null;
  const n = Number(text);
  return n <= IPPROTO_MAX ? n : null;
}

/** True for transports whose first four bytes are the source and destination ports. */
export function ipProtoHasPorts(proto: number): boolean {
  return proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP || proto === IPPROTO_DCCP || proto === IPPROTO_UDPLITE;
}

/** The ICMP of an address family: ICMP (1) for IPv4, ICMPv6 (58) for IPv6. */
export function icmpProtoFor(family: 4 | 6): number {
  return family === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
}

/** True when `proto` is the ICMP of `family` (ICMPv6 inside IPv4 or ICMP inside IPv6 is not). */
export function isIcmpOf(proto: number, family: number): boolean {
  return (proto === IPPROTO_ICMP && family === 4) || (proto === IPPROTO_ICMPV6 && family === 6);
}
