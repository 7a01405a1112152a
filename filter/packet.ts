// The decoded view of one IP packet, filled in place by parsePacket (packet-parser.ts) so the hot path
// allocates nothing: one ParsedPacket per engine, reused for every packet. Addresses are kept both as
// offsets into the caller's buffer (for trie walks) and as 32-bit words (for flow and fragment keys).
// Wire constants (header sizes, TCP flags, ICMP types) are in packet/headers.ts, protocol numbers in
// types/ipproto.ts.

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
