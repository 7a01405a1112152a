// ICMP/ICMPv6 echo (RFC 792, RFC 4443 §4): echo requests to the node are answered in place (type flipped,
// addresses swapped, checksum recomputed) and pings the app starts wait for their reply by (id, seq).
// Other ICMP messages are counted and dropped. Port unreachable (RFC 792 type 3 code 3, RFC 4443 §3.1
// type 1 code 4) answers a UDP datagram nothing takes, as a kernel does for a closed port. Writes into
// the stack's scratch buffer only.
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_UDP } from '../types/ipproto.js';
import { finishChecksum, onesComplementSum, pseudoHeaderSum } from '../packet/checksum.js';
import { ICMP4_ECHO_REPLY, ICMP4_ECHO_REQUEST, ICMP6_ECHO_REPLY, ICMP6_ECHO_REQUEST, ICMP_HEADER_SIZE, UDP_HEADER_SIZE } from '../packet/headers.js';
import { ipHeaderLength, transportChecksum, writeIpHeader, writeUdpHeader, type IpPacket } from './ip.js';

const ICMP4_DEST_UNREACH = 3; // RFC 792
const ICMP4_PORT_UNREACH = 3;
const ICMP6_DEST_UNREACH = 1; // RFC 4443 §3.1
const ICMP6_PORT_UNREACH = 4;
/** An ICMP error quotes as much of the datagram as fits in 576 bytes (IPv4, RFC 1812 §4.3.2.3) or the IPv6 minimum MTU (RFC 4443 §2.4(c)). */
const ICMP4_ERROR_MAX = 576;
const ICMP6_ERROR_MAX = 1280;

export const ICMP_VERDICT_DROP = 0;
export const ICMP_VERDICT_REPLIED = 1;
export const ICMP_VERDICT_ECHO_REPLY = 2;

/** Echo request type of a family. */
export function echoRequestType(family: 4 | 6): number {
  return family === 4 ? ICMP4_ECHO_REQUEST : ICMP6_ECHO_REQUEST;
}

/**
 * Handles an inbound ICMP message of `p` in `b`. An echo request is answered into `tx` (its length passed
 * to `send`); returns ICMP_VERDICT_ECHO_REPLY for a reply (the caller reads id/seq at p.l4Off + 4).
 */
export function handleIcmp(b: Uint8Array, p: IpPacket, tx: Uint8Array, send: (len: number) => void): number {
  if (p.l4Len < ICMP_HEADER_SIZE) return ICMP_VERDICT_DROP;
  const type = b[p.l4Off];
  const reqType = echoRequestType(p.family);
  const repType = p.family === 4 ? ICMP4_ECHO_REPLY : ICMP6_ECHO_REPLY;
  if (type === repType) return ICMP_VERDICT_ECHO_REPLY;
  if (type !== reqType || b[p.l4Off + 1] !== 0) return ICMP_VERDICT_DROP;
  const alen = p.family === 4 ? 4 : 16;
  // the reply goes from the request's destination to its source
  const src = b.subarray(p.dstOff, p.dstOff + alen);
  const dst = b.subarray(p.srcOff, p.srcOff + alen);
  if (p.l4Len + (p.family === 4 ? 20 : 40) > tx.length) return ICMP_VERDICT_DROP;
  const proto = p.family === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
  const hl = writeIpHeader(tx, p.family, src, dst, proto, p.l4Len);
  tx.set(b.subarray(p.l4Off, p.l4Off + p.l4Len), hl);
  tx[hl] = repType;
  tx[hl + 2] = 0;
  tx[hl + 3] = 0;
  const c = p.family === 4 ? finishChecksum(onesComplementSum(tx, hl, p.l4Len)) : transportChecksum(tx, hl, p.l4Len, src, dst, proto);
  tx[hl + 2] = c >>> 8;
  tx[hl + 3] = c & 0xff;
  send(hl + p.l4Len);
  return ICMP_VERDICT_REPLIED;
}

/** Writes an echo request into tx; returns its length. */
export function writeEchoRequest(tx: Uint8Array, family: 4 | 6, src: Uint8Array, dst: Uint8Array, id: number, seq: number, payloadLen: number): number {
  const proto = family === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
  const l4Len = ICMP_HEADER_SIZE + payloadLen;
  const hl = writeIpHeader(tx, family, src, dst, proto, l4Len);
  tx[hl] = echoRequestType(family);
  tx[hl + 1] = 0;
  tx[hl + 2] = 0;
  tx[hl + 3] = 0;
  tx[hl + 4] = id >>> 8;
  tx[hl + 5] = id & 0xff;
  tx[hl + 6] = seq >>> 8;
  tx[hl + 7] = seq & 0xff;
  for (let i = 0; i < payloadLen; i++) tx[hl + ICMP_HEADER_SIZE + i] = i & 0xff;
  const c = family === 4 ? finishChecksum(onesComplementSum(tx, hl, l4Len)) : transportChecksum(tx, hl, l4Len, src, dst, proto);
  tx[hl + 2] = c >>> 8;
  tx[hl + 3] = c & 0xff;
  return hl + l4Len;
}

/**
 * Writes into tx the port unreachable error for a UDP datagram remote:rport → local:lport carrying `payload`:
 * the datagram is quoted as it arrived (its IP header rebuilt from the flow, TTL and IPv4 id our own;
 * its UDP header with the checksum it carried), cut to the error size limit. Returns the packet's length.
 */
export function writePortUnreachable(tx: Uint8Array, family: 4 | 6, local: Uint8Array, remote: Uint8Array, lport: number, rport: number, payload: Uint8Array): number {
  const hl = ipHeaderLength(family);
  const q = hl + ICMP_HEADER_SIZE; // the quoted datagram starts here
  const udpLen = UDP_HEADER_SIZE + payload.length;
  const max = Math.min(family === 4 ? ICMP4_ERROR_MAX : ICMP6_ERROR_MAX, tx.length);
  const quoted = Math.min(hl + udpLen, max - q);
  // the quoted IP header, sent remote → local
  writeIpHeader(tx.subarray(q), family, remote, local, IPPROTO_UDP, udpLen);
  const u = q + hl;
  writeUdpHeader(tx, u, rport, lport, udpLen);
  let c = finishChecksum(onesComplementSum(payload, 0, payload.length, onesComplementSum(tx, u, UDP_HEADER_SIZE, pseudoHeaderSum(remote, local, IPPROTO_UDP, udpLen))));
  if (c === 0) c = 0xffff;
  tx[u + 6] = c >>> 8;
  tx[u + 7] = c & 0xff;
  const copy = quoted - hl - UDP_HEADER_SIZE;
  if (copy > 0) tx.set(payload.subarray(0, copy), u + UDP_HEADER_SIZE);
  const l4Len = ICMP_HEADER_SIZE + quoted;
  const proto = family === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
  writeIpHeader(tx, family, local, remote, proto, l4Len);
  tx[hl] = family === 4 ? ICMP4_DEST_UNREACH : ICMP6_DEST_UNREACH;
  tx[hl + 1] = family === 4 ? ICMP4_PORT_UNREACH : ICMP6_PORT_UNREACH;
  tx[hl + 2] = 0;
  tx[hl + 3] = 0;
  tx[hl + 4] = 0;
  tx[hl + 5] = 0;
  tx[hl + 6] = 0;
  tx[hl + 7] = 0;
  c = family === 4 ? finishChecksum(onesComplementSum(tx, hl, l4Len)) : transportChecksum(tx, hl, l4Len, local, remote, proto);
  tx[hl + 2] = c >>> 8;
  tx[hl + 3] = c & 0xff;
  return hl + l4Len;
}
