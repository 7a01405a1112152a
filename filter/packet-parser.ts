// Allocation-free IPv4/IPv6 packet decoder for the filter. Network input never throws: every packet is
// classified PKT_OK, PKT_MALFORMED or PKT_FRAGMENT_SHORT and the engine counts the drop. Checksums are
// not verified (the packet was authenticated by WireGuard and the receiving stack verifies them).
import { DCCP_HEADER_MIN, ICMP4_ECHO_REPLY, ICMP4_ECHO_REQUEST, ICMP6_ECHO_REPLY, ICMP6_ECHO_REQUEST, ICMP_HEADER_SIZE, IPV4_HEADER_MIN, IPV6_HEADER_SIZE, SCTP_COMMON_HEADER_SIZE, TCP_HEADER_MIN, UDP_HEADER_SIZE } from '../packet/headers.js';
import { IPPROTO_DCCP, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_ROUTING, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE } from '../types/ipproto.js';
import { FRAG_FIRST, FRAG_LATER, FRAG_NONE, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_ERROR, ICMP_OTHER, MAX_IPV6_EXT_HEADERS, type ParsedPacket, PKT_FRAGMENT_SHORT, PKT_MALFORMED, PKT_OK } from './packet.js';

function readU16BE(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

/** Signed 32-bit word (key material only; compare with `|0` values). */
function readI32BE(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
}

/** Decodes buf[off, off+len) into `p`; returns (and stores in p.status) the parse status. */
export function parsePacket(buf: Uint8Array, off: number, len: number, p: ParsedPacket): number {
  // Only fields whose meaning does not depend on another field are reset (ports are read only when
  // hasPorts, ICMP fields only for ICMP, …): fewer stores on the hot path.
  p.hasPorts = false;
  p.tcpFlags = 0;
  p.icmpKind = ICMP_OTHER;
  p.frag = FRAG_NONE;
  p.innerValid = false;
  p.family = 0;
  p.proto = 0;
  p.sport = 0;
  p.dport = 0;
  if (len < 1 || off < 0 || off + len > buf.length) return (p.status = PKT_MALFORMED);
  const version = buf[off] >> 4;
  if (version === 4) return (p.status = parse4(buf, off, len, p));
  if (version === 6) return (p.status = parse6(buf, off, len, p));
  return (p.status = PKT_MALFORMED);
}

function parse4(buf: Uint8Array, off: number, len: number, p: ParsedPacket): number {
  if (len < IPV4_HEADER_MIN) return PKT_MALFORMED;
  const ihl = (buf[off] & 0x0f) << 2;
  if (ihl < IPV4_HEADER_MIN || ihl > len) return PKT_MALFORMED;
  const total = readU16BE(buf, off + 2);
  if (total < ihl || total > len) return PKT_MALFORMED;
  const fragField = readU16BE(buf, off + 6);
  // A fragment reaching past the 65535-byte datagram limit is an attack (ping of death), not a packet.
  if (((fragField & 0x1fff) << 3) + total - ihl > 65535) return PKT_MALFORMED;
  p.family = 4;
  const proto = buf[off + 9];
  p.proto = proto;
  p.fragNext = proto;
  p.srcOff = off + 12;
  p.dstOff = off + 16;
  // (word reads written out: fewer calls for V8 to inline within its budget)
  p.src0 = (buf[off + 12] << 24) | (buf[off + 13] << 16) | (buf[off + 14] << 8) | buf[off + 15];
  p.dst0 = (buf[off + 16] << 24) | (buf[off + 17] << 16) | (buf[off + 18] << 8) | buf[off + 19];
  p.src1 = p.src2 = p.src3 = 0;
  p.dst1 = p.dst2 = p.dst3 = 0;
  if ((fragField & 0x3fff) !== 0) return parseFragment4(buf, off, ihl, total, fragField, p, proto);
  if (proto === IPPROTO_TCP) return parseTcp(buf, off + ihl, off + total, p);
  return parseTransport(buf, off + ihl, off + total, p, proto, 4);
}

/** An IPv4 fragment (MF set or a non-zero offset): out of parse4 so that one stays small enough to inline. */
function parseFragment4(buf: Uint8Array, off: number, ihl: number, total: number, fragField: number, p: ParsedPacket, proto: number): number {
  p.fragId = readU16BE(buf, off + 4);
  if ((fragField & 0x1fff) !== 0) {
    p.frag = FRAG_LATER;
    return PKT_OK;
  }
  p.frag = FRAG_FIRST;
  return parseTransport(buf, off + ihl, off + total, p, proto, 4);
}

function parse6(buf: Uint8Array, off: number, len: number, p: ParsedPacket): number {
  if (len < IPV6_HEADER_SIZE) return PKT_MALFORMED;
  const end = off + IPV6_HEADER_SIZE + readU16BE(buf, off + 4);
  if (end > off + len) return PKT_MALFORMED;
  p.family = 6;
  p.srcOff = off + 8;
  p.dstOff = off + 24;
  p.src0 = readI32BE(buf, off + 8);
  p.src1 = readI32BE(buf, off + 12);
  p.src2 = readI32BE(buf, off + 16);
  p.src3 = readI32BE(buf, off + 20);
  p.dst0 = readI32BE(buf, off + 24);
  p.dst1 = readI32BE(buf, off + 28);
  p.dst2 = readI32BE(buf, off + 32);
  p.dst3 = readI32BE(buf, off + 36);
  let next = buf[off + 6];
  let pos = off + IPV6_HEADER_SIZE;
  let seenFragment = false;
  for (let n = 0; ; n++) {
    if (n > MAX_IPV6_EXT_HEADERS) return PKT_MALFORMED;
    if (next === IPPROTO_HOPOPTS || next === IPPROTO_ROUTING || next === IPPROTO_DSTOPTS) {
      // Hop-by-hop options may only follow the fixed header (RFC 8200 §4.1).
      if (next === IPPROTO_HOPOPTS && n !== 0) return PKT_MALFORMED;
      if (pos + 8 > end) return p.frag === FRAG_FIRST ? PKT_FRAGMENT_SHORT : PKT_MALFORMED;
      const hdrLen = (buf[pos + 1] + 1) << 3;
      if (pos + hdrLen > end) return p.frag === FRAG_FIRST ? PKT_FRAGMENT_SHORT : PKT_MALFORMED;
      next = buf[pos];
      pos += hdrLen;
      continue;
    }
    if (next === IPPROTO_FRAGMENT) {
      if (seenFragment || pos + 8 > end) return PKT_MALFORMED;
      seenFragment = true;
      const fo = readU16BE(buf, pos + 2);
      next = buf[pos];
      p.fragNext = next;
      p.fragId = readI32BE(buf, pos + 4);
      pos += 8;
      const fragOffset = (fo >> 3) << 3;
      if (fragOffset + (end - pos) > 65535) return PKT_MALFORMED;
      if (fragOffset !== 0) {
        p.frag = FRAG_LATER;
        p.proto = next;
        return PKT_OK;
      }
      // offset 0 without M is an atomic fragment (RFC 6946): a whole packet.
      if ((fo & 1) !== 0) p.frag = FRAG_FIRST;
      continue;
    }
    break;
  }
  p.proto = next;
  if (!seenFragment) p.fragNext = next;
  if (next === IPPROTO_TCP && p.frag === FRAG_NONE) return parseTcp(buf, pos, end, p);
  return parseTransport(buf, pos, end, p, next, 6);
}

/**
 * The TCP header of an unfragmented packet (the common case, split out so V8 inlines it into parse4 and
 * parse6 instead of calling the general parseTransport).
 */
function parseTcp(buf: Uint8Array, pos: number, end: number, p: ParsedPacket): number {
  const avail = end - pos;
  if (avail < TCP_HEADER_MIN) return PKT_MALFORMED;
  const doff = (buf[pos + 12] >> 4) << 2;
  if (doff < TCP_HEADER_MIN || doff > avail) return PKT_MALFORMED;
  p.hasPorts = true;
  p.sport = (buf[pos] << 8) | buf[pos + 1];
  p.dport = (buf[pos + 2] << 8) | buf[pos + 3];
  p.seq = (buf[pos + 4] << 24) | (buf[pos + 5] << 16) | (buf[pos + 6] << 8) | buf[pos + 7];
  p.tcpFlags = buf[pos + 13];
  p.payloadLen = avail - doff;
  return PKT_OK;
}

function parseTransport(buf: Uint8Array, pos: number, end: number, p: ParsedPacket, proto: number, family: number): number {
  const avail = end - pos;
  const short = p.frag === FRAG_FIRST ? PKT_FRAGMENT_SHORT : PKT_MALFORMED;
  if (proto === IPPROTO_TCP) {
    if (avail < TCP_HEADER_MIN) return short;
    const doff = (buf[pos + 12] >> 4) << 2;
    if (doff < TCP_HEADER_MIN || doff > avail) return short;
    p.hasPorts = true;
    p.sport = (buf[pos] << 8) | buf[pos + 1];
    p.dport = (buf[pos + 2] << 8) | buf[pos + 3];
    p.seq = (buf[pos + 4] << 24) | (buf[pos + 5] << 16) | (buf[pos + 6] << 8) | buf[pos + 7];
      p.tcpFlags = buf[pos + 13];
    p.payloadLen = avail - doff;
    return PKT_OK;
  }
  if (proto === IPPROTO_UDP || proto === IPPROTO_UDPLITE || proto === IPPROTO_SCTP || proto === IPPROTO_DCCP) {
    const min = proto === IPPROTO_SCTP ? SCTP_COMMON_HEADER_SIZE : proto === IPPROTO_DCCP ? DCCP_HEADER_MIN : UDP_HEADER_SIZE;
    if (avail < min) return short;
    p.hasPorts = true;
    p.sport = readU16BE(buf, pos);
    p.dport = readU16BE(buf, pos + 2);
    return PKT_OK;
  }
  if ((proto === IPPROTO_ICMP && family === 4) || (proto === IPPROTO_ICMPV6 && family === 6)) return parseIcmp(buf, pos, end, p, family, short);
  // Port-less protocol (GRE, ESP, AH, …): nothing more to read.
  return PKT_OK;
}


function parseIcmp(buf: Uint8Array, pos: number, end: number, p: ParsedPacket, family: number, short: number): number {
  if (end - pos < ICMP_HEADER_SIZE) return short;
  const type = buf[pos];
  p.icmpType = type;
  p.icmpCode = buf[pos + 1];
  if (family === 4) {
    if (type === ICMP4_ECHO_REQUEST) p.icmpKind = ICMP_ECHO_REQUEST;
    else if (type === ICMP4_ECHO_REPLY) p.icmpKind = ICMP_ECHO_REPLY;
    // destination unreachable, source quench, redirect, time exceeded, parameter problem (RFC 792)
    else if (type === 3 || type === 4 || type === 5 || type === 11 || type === 12) p.icmpKind = ICMP_ERROR;
  } else {
    if (type === ICMP6_ECHO_REQUEST) p.icmpKind = ICMP_ECHO_REQUEST;
    else if (type === ICMP6_ECHO_REPLY) p.icmpKind = ICMP_ECHO_REPLY;
    // destination unreachable, packet too big, time exceeded, parameter problem (RFC 4443 §3)
    else if (type >= 1 && type <= 4) p.icmpKind = ICMP_ERROR;
  }
  if (p.icmpKind === ICMP_ECHO_REQUEST || p.icmpKind === ICMP_ECHO_REPLY) p.icmpId = readU16BE(buf, pos + 4);
  else if (p.icmpKind === ICMP_ERROR && p.frag === FRAG_NONE) parseQuoted(buf, pos + ICMP_HEADER_SIZE, end, p, family);
  return PKT_OK;
}

/** The packet quoted in an ICMP error: at least its IP header and 8 bytes (RFC 792, RFC 4443 §2.4). */
function parseQuoted(buf: Uint8Array, pos: number, end: number, p: ParsedPacket, family: number): void {
  let tpos: number;
  let proto: number;
  if (family === 4) {
    if (end - pos < IPV4_HEADER_MIN || buf[pos] >> 4 !== 4) return;
    const ihl = (buf[pos] & 0x0f) << 2;
    if (ihl < IPV4_HEADER_MIN || (readU16BE(buf, pos + 6) & 0x1fff) !== 0) return;
    proto = buf[pos + 9];
    p.innerSrc0 = readI32BE(buf, pos + 12);
    p.innerDst0 = readI32BE(buf, pos + 16);
    p.innerSrc1 = p.innerSrc2 = p.innerSrc3 = 0;
    p.innerDst1 = p.innerDst2 = p.innerDst3 = 0;
    tpos = pos + ihl;
  } else {
    if (end - pos < IPV6_HEADER_SIZE || buf[pos] >> 4 !== 6) return;
    proto = buf[pos + 6];
    p.innerSrc0 = readI32BE(buf, pos + 8);
    p.innerSrc1 = readI32BE(buf, pos + 12);
    p.innerSrc2 = readI32BE(buf, pos + 16);
    p.innerSrc3 = readI32BE(buf, pos + 20);
    p.innerDst0 = readI32BE(buf, pos + 24);
    p.innerDst1 = readI32BE(buf, pos + 28);
    p.innerDst2 = readI32BE(buf, pos + 32);
    p.innerDst3 = readI32BE(buf, pos + 36);
    tpos = pos + IPV6_HEADER_SIZE;
  }
  if (end - tpos < 8) return;
  p.innerProto = proto;
  p.innerEcho = false;
  if ((proto === IPPROTO_ICMP && family === 4) || (proto === IPPROTO_ICMPV6 && family === 6)) {
    const t = buf[tpos];
    if (t !== (family === 4 ? ICMP4_ECHO_REQUEST : ICMP6_ECHO_REQUEST)) return;
    p.innerEcho = true;
    p.innerSport = readU16BE(buf, tpos + 4);
    p.innerDport = 0;
    p.innerValid = true;
    return;
  }
  if (proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP || proto === IPPROTO_DCCP || proto === IPPROTO_UDPLITE) {
    p.innerSport = readU16BE(buf, tpos);
    p.innerDport = readU16BE(buf, tpos + 2);
    p.innerValid = true;
  }
}

/**
 * The acknowledgment number of a packet parsePacket accepted as TCP (not a later fragment). Outbound
 * path only: the inbound parse does not read it (no inbound decision uses it; four loads less per
 * packet). The header chain was validated by parsePacket, so the walk needs no bounds checks.
 */
export function readTcpAck(buf: Uint8Array, off: number, p: ParsedPacket): number {
  let pos: number;
  if (p.family === 4) pos = off + ((buf[off] & 0x0f) << 2);
  else {
    let next = buf[off + 6];
    pos = off + IPV6_HEADER_SIZE;
    for (let n = 0; next !== IPPROTO_TCP && n <= MAX_IPV6_EXT_HEADERS; n++) {
      const len = next === IPPROTO_FRAGMENT ? 8 : (buf[pos + 1] + 1) << 3;
      next = buf[pos];
      pos += len;
    }
  }
  return readI32BE(buf, pos + 8);
}
