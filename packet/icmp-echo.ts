// ICMP/ICMPv6 echo for `agent ping`: the request the agent sends (RFC 792 type 8, RFC 4443 type 128) and
// the recognizer for the reply (type 0 / 129) that the data plane runs on accepted inbound packets while
// a ping waits.
import { parseIP } from '../types/ip.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6 } from '../types/ipproto.js';
import { buildPacket } from './build.js';
import { ICMP4_ECHO_REPLY, ICMP6_ECHO_REPLY, ICMP_HEADER_SIZE, IPV4_HEADER_MIN, IPV6_HEADER_SIZE } from './headers.js';

/** An echo request of the addresses' family, with `payload` after the 8-byte ICMP header. */
export function buildEchoRequest(src: string, dst: string, id: number, seq: number, payload?: Uint8Array): Uint8Array {
  return buildPacket({ src, dst, proto: parseIP(src)?.family === 6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, icmpId: id, icmpSeq: seq, ...(payload ? { payload } : {}) });
}

/**
 * If buf[off, off+len) is an ICMP/ICMPv6 echo reply, returns `(id << 16) | seq`; else -1. Reads network
 * input: never throws, allocates nothing. IPv6 extension headers are not walked (the peer's kernel sends
 * none on a reply).
 */
export function echoReplyKey(buf: Uint8Array, off: number, len: number): number {
  if (len < 1 || off < 0 || off + len > buf.length) return -1;
  const v = buf[off] >> 4;
  let l4: number;
  if (v === 4) {
    if (len < IPV4_HEADER_MIN + ICMP_HEADER_SIZE || buf[off + 9] !== IPPROTO_ICMP) return -1;
    l4 = off + (buf[off] & 0x0f) * 4;
    if (l4 + ICMP_HEADER_SIZE > off + len || buf[l4] !== ICMP4_ECHO_REPLY) return -1;
  } else if (v === 6) {
    if (len < IPV6_HEADER_SIZE + ICMP_HEADER_SIZE || buf[off + 6] !== IPPROTO_ICMPV6) return -1;
    l4 = off + IPV6_HEADER_SIZE;
    if (buf[l4] !== ICMP6_ECHO_REPLY) return -1;
  } else return -1;
  return ((((buf[l4 + 4] << 8) | buf[l4 + 5]) << 16) | ((buf[l4 + 6] << 8) | buf[l4 + 7])) >>> 0;
}
