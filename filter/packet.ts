// The decoded view of one IP packet, filled in place by parsePacket (packet-parser.ts) so the hot path
// allocates nothing: one ParsedPacket per engine, reused for every packet. Addresses are kept both as
// offsets into the caller's buffer (for trie walks) and as 32-bit words (for flow and fragment keys).
import { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP } from '../types/filter-rule.js';

export const IPPROTO_DCCP = 33;
export const IPPROTO_UDPLITE = 136;
export const IPPROTO_HOPOPTS = 0; // RFC 8200 §4.3
export const IPPROTO_ROUTING = 43; // RFC 8200 §4.4
export const IPPROTO_FRAGMENT = 44; // RFC 8200 §4.5
export const IPPROTO_DSTOPTS = 60; // RFC 8200 §4.6

export const IPV4_HEADER_MIN = 20; // RFC 791
export const IPV6_HEADER_SIZE = 40; // RFC 8200 §3
export const TCP_HEADER_MIN = 20; // RFC 9293 §3.1
export const UDP_HEADER_SIZE = 8; // RFC 768
export const SCTP_COMMON_HEADER_SIZE = 12; // RFC 9260 §3.1
export const DCCP_HEADER_MIN = 12; // RFC 4340 §5.1 (X = 0)
export const ICMP_HEADER_SIZE = 8; // type, code, checksum, 4 bytes rest-of-header

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export const ICMP4_ECHO_REPLY = 0;
export const ICMP4_ECHO_REQUEST = 8;
export const ICMP6_ECHO_REQUEST = 128;
export const ICMP6_ECHO_REPLY = 129;

/** Implementation limit: more extension headers than this is treated as malformed (DoS guard). */
export const MAX_IPV6_EXT_HEADERS = 8;

// parse status
export const PKT_OK = 0;
export const PKT_MALFORMED = 1;
/** A first fragment too short to carry the transport header (RFC 1858 tiny-fragment attack). */
export const PKT_FRAGMENT_SHORT = 2;

// fragment position
export const FRAG_NONE = 0;
export const FRAG_FIRST = 1;
export const FRAG_LATER = 2;

// ICMP classification
export const ICMP_OTHER = 0;
export const ICMP_ECHO_REQUEST = 1;
export const ICMP_ECHO_REPLY = 2;
export const ICMP_ERROR = 3;

/** True for transports whose first four bytes are source and destination ports. */
export function protoHasPorts(proto: number): boolean {
  return proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP || proto === IPPROTO_DCCP || proto === IPPROTO_UDPLITE;
}

export class ParsedPacket {
  status = PKT_MALFORMED;
  family = 0;
  /** Destination class in the compiled filter (set by CompiledFilter.classifyDst). */
  dstClass = 0;
  /** Final transport protocol (after IPv6 extension headers). */
  proto = 0;
  hasPorts = false;
  /** Absolute offsets of the source and destination address in the buffer. */
  srcOff = 0;
  dstOff = 0;
  src0 = 0;
  src1 = 0;
  src2 = 0;
  src3 = 0;
  dst0 = 0;
  dst1 = 0;
  dst2 = 0;
  dst3 = 0;
  sport = 0;
  dport = 0;
  tcpFlags = 0;
  /** TCP sequence number (the acknowledgment number is not read: no decision uses it). */
  seq = 0;
  /** Transport payload bytes present in this packet (TCP sequence tracking). */
  payloadLen = 0;
  icmpKind = ICMP_OTHER;
  icmpType = 0;
  icmpCode = 0;
  icmpId = 0;
  frag = FRAG_NONE;
  fragId = 0;
  /** IPv4: the protocol; IPv6: the fragment header's next header (same in every fragment). */
  fragNext = 0;
  /** ICMP errors: the quoted packet's tuple, so the error can be matched to the flow it is about. */
  innerValid = false;
  innerProto = 0;
  innerSrc0 = 0;
  innerSrc1 = 0;
  innerSrc2 = 0;
  innerSrc3 = 0;
  innerDst0 = 0;
  innerDst1 = 0;
  innerDst2 = 0;
  innerDst3 = 0;
  innerSport = 0;
  innerDport = 0;
  /** The quoted packet was an ICMP echo request (innerSport holds its identifier). */
  innerEcho = false;
}
