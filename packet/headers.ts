// Wire constants of the IP and transport headers, shared by the packet builder (this folder) and the
// filter's parser (filter/packet-parser.ts): header sizes, TCP flags, ICMP/ICMPv6 types. Protocol numbers
// live in types/ipproto.ts.

export const IPV4_HEADER_MIN = 20; // RFC 791 §3.1, IHL = 5
export const IPV6_HEADER_SIZE = 40; // RFC 8200 §3
export const IPV6_FRAGMENT_HEADER_SIZE = 8; // RFC 8200 §4.5
export const TCP_HEADER_MIN = 20; // RFC 9293 §3.1, data offset = 5
export const UDP_HEADER_SIZE = 8; // RFC 768
export const SCTP_COMMON_HEADER_SIZE = 12; // RFC 9260 §3.1
export const DCCP_HEADER_MIN = 12; // RFC 4340 §5.1, generic header with X = 0
export const DCCP_HEADER_X = 16; // RFC 4340 §5.1, generic header with X = 1 (48-bit sequence numbers)
export const GRE_HEADER_MIN = 4; // RFC 2784 §2, no optional fields
export const ICMP_HEADER_SIZE = 8; // type, code, checksum, 4 bytes rest-of-header (RFC 792, RFC 4443 §2.1)

/** IPv4 flags and fragment offset field (RFC 791 §3.1). */
export const IPV4_DONT_FRAGMENT = 0x4000;
export const IPV4_MORE_FRAGMENTS = 0x2000;

// TCP control bits (RFC 9293 §3.1), the byte at offset 13.
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export const ICMP4_ECHO_REPLY = 0; // RFC 792
export const ICMP4_ECHO_REQUEST = 8;
export const ICMP6_ECHO_REQUEST = 128; // RFC 4443 §4.1
export const ICMP6_ECHO_REPLY = 129; // RFC 4443 §4.2

export const DEFAULT_TTL = 64; // RFC 1700's recommended default, what Linux uses
