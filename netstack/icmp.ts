// ICMP/ICMPv6 echo (RFC 792, RFC 4443 §4): echo requests to the node are answered in place (type flipped,
// addresses swapped, checksum recomputed) and pings the app starts wait for their reply by (id, seq).
// Other ICMP messages are counted and dropped. Writes into the stack's scratch buffer only.
import { IPPROTO_ICMP, IPPROTO_ICMPV6 } from '../types/ipproto.js';
import { finishChecksum, onesComplementSum } from '../packet/checksum.js';
import { ICMP4_ECHO_REPLY, ICMP4_ECHO_REQUEST, ICMP6_ECHO_REPLY, ICMP6_ECHO_REQUEST, ICMP_HEADER_SIZE } from '../packet/headers.js';
import { transportChecksum, writeIpHeader, type IpPacket } from './ip.js';

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
