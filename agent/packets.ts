// IP packets the agent itself writes: ICMP echo requests for `agent ping`, TCP RSTs that cut revoked
// flows, and probe packets for `explain`. Byte layouts per RFC 791 (IPv4), RFC 8200 (IPv6), RFC 9293
// (TCP), RFC 768 (UDP), RFC 792 / RFC 4443 (ICMP, ICMPv6); checksums are real because the receiving
// kernel verifies them. These run per command or per revoked flow, never per forwarded packet.
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../types/filter-rule.js';
import { parseIP } from '../types/ip.js';

export const TCP_FLAG_FIN = 0x01;
export const TCP_FLAG_SYN = 0x02;
export const TCP_FLAG_RST = 0x04;
export const TCP_FLAG_ACK = 0x10;

const IPV4_HEADER = 20;
const IPV6_HEADER = 40;
const TCP_HEADER = 20;
const UDP_HEADER = 8;
const ICMP_ECHO_HEADER = 8;
const DEFAULT_TTL = 64;

function sum16(buf: Uint8Array, off: number, len: number, acc: number): number {
  let i = off;
  const end = off + len;
  for (; i + 1 < end; i += 2) acc += (buf[i] << 8) | buf[i + 1];
  if (i < end) acc += buf[i] << 8;
  return acc;
}

function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return ~acc & 0xffff;
}

function writeU16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}

function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 24) & 0xff;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

function addr(text: string): Uint8Array {
  const a = parseIP(text);
  if (!a) throw new Error(`not an IP address: ${JSON.stringify(text)}`);
  return a.bytes;
}

/** An IP packet with `payloadLen` bytes after the header; returns the buffer and the payload offset. */
function ipPacket(src: Uint8Array, dst: Uint8Array, proto: number, payloadLen: number): { buf: Uint8Array; off: number } {
  if (src.length !== dst.length) throw new Error('source and destination must be the same IP family');
  if (src.length === 4) {
    const buf = new Uint8Array(IPV4_HEADER + payloadLen);
    buf[0] = 0x45;
    writeU16(buf, 2, buf.length);
    writeU16(buf, 4, (Math.random() * 0xffff) | 0);
    buf[6] = 0x40; // don't fragment
    buf[8] = DEFAULT_TTL;
    buf[9] = proto;
    buf.set(src, 12);
    buf.set(dst, 16);
    writeU16(buf, 10, fold(sum16(buf, 0, IPV4_HEADER, 0)));
    return { buf, off: IPV4_HEADER };
  }
  const buf = new Uint8Array(IPV6_HEADER + payloadLen);
  buf[0] = 0x60;
  writeU16(buf, 4, payloadLen);
  buf[6] = proto;
  buf[7] = DEFAULT_TTL;
  buf.set(src, 8);
  buf.set(dst, 24);
  return { buf, off: IPV6_HEADER };
}

/** Transport checksum over the pseudo-header (RFC 9293 §3.1, RFC 8200 §8.1) and the segment. */
function transportChecksum(buf: Uint8Array, off: number, proto: number): number {
  const v6 = buf[0] >> 4 === 6;
  const segLen = buf.length - off;
  let acc = v6 ? sum16(buf, 8, 32, 0) : sum16(buf, 12, 8, 0);
  acc += proto + segLen;
  acc = sum16(buf, off, segLen, acc);
  const c = fold(acc);
  return proto === IPPROTO_UDP && c === 0 ? 0xffff : c;
}

export interface TcpSegment {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  window?: number;
}

export function buildTcp(s: TcpSegment): Uint8Array {
  const { buf, off } = ipPacket(addr(s.src), addr(s.dst), IPPROTO_TCP, TCP_HEADER);
  writeU16(buf, off, s.sport);
  writeU16(buf, off + 2, s.dport);
  writeU32(buf, off + 4, s.seq >>> 0);
  writeU32(buf, off + 8, s.ack >>> 0);
  buf[off + 12] = (TCP_HEADER / 4) << 4;
  buf[off + 13] = s.flags;
  writeU16(buf, off + 14, s.window ?? (s.flags & TCP_FLAG_RST ? 0 : 65535));
  writeU16(buf, off + 16, transportChecksum(buf, off, IPPROTO_TCP));
  return buf;
}

export function buildUdp(src: string, dst: string, sport: number, dport: number, payload = new Uint8Array(0)): Uint8Array {
  const { buf, off } = ipPacket(addr(src), addr(dst), IPPROTO_UDP, UDP_HEADER + payload.length);
  writeU16(buf, off, sport);
  writeU16(buf, off + 2, dport);
  writeU16(buf, off + 4, UDP_HEADER + payload.length);
  buf.set(payload, off + UDP_HEADER);
  writeU16(buf, off + 6, transportChecksum(buf, off, IPPROTO_UDP));
  return buf;
}

/** ICMP (v4) or ICMPv6 echo request with `payload` (RFC 792 type 8 / RFC 4443 type 128). */
export function buildEchoRequest(src: string, dst: string, id: number, seq: number, payload = new Uint8Array(0)): Uint8Array {
  const s = addr(src);
  const v6 = s.length === 16;
  const proto = v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
  const { buf, off } = ipPacket(s, addr(dst), proto, ICMP_ECHO_HEADER + payload.length);
  buf[off] = v6 ? 128 : 8;
  writeU16(buf, off + 4, id);
  writeU16(buf, off + 6, seq);
  buf.set(payload, off + ICMP_ECHO_HEADER);
  // ICMPv4's checksum covers the message only; ICMPv6 adds the pseudo-header.
  writeU16(buf, off + 2, v6 ? transportChecksum(buf, off, proto) : fold(sum16(buf, off, buf.length - off, 0)));
  return buf;
}

/** A bare IP packet of another protocol with four zero "port" bytes, for explain probes. */
export function buildRaw(src: string, dst: string, proto: number, sport = 0, dport = 0): Uint8Array {
  const { buf, off } = ipPacket(addr(src), addr(dst), proto, 8);
  writeU16(buf, off, sport);
  writeU16(buf, off + 2, dport);
  return buf;
}

/** The packet explain asks the filter about: TCP SYN, UDP datagram, ICMP echo request, or raw. */
export function buildProbe(q: { src: string; dst: string; proto: number; sport?: number; dport?: number }): Uint8Array {
  const sport = q.sport ?? 40000;
  const dport = q.dport ?? 0;
  switch (q.proto) {
    case IPPROTO_TCP:
      return buildTcp({ src: q.src, dst: q.dst, sport, dport, seq: 1, ack: 0, flags: TCP_FLAG_SYN });
    case IPPROTO_UDP:
      return buildUdp(q.src, q.dst, sport, dport);
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      return buildEchoRequest(q.src, q.dst, 1, 1);
    default:
      return buildRaw(q.src, q.dst, q.proto, sport, dport);
  }
}

/**
 * If buf[off, off+len) is an ICMP/ICMPv6 echo reply, returns `(id << 16) | seq`; else -1. Never throws
 * (it reads network input).
 */
export function echoReplyKey(buf: Uint8Array, off: number, len: number): number {
  if (len < 1) return -1;
  const v = buf[off] >> 4;
  let l4: number;
  if (v === 4) {
    if (len < IPV4_HEADER + ICMP_ECHO_HEADER || buf[off + 9] !== IPPROTO_ICMP) return -1;
    l4 = off + (buf[off] & 0x0f) * 4;
    if (l4 + ICMP_ECHO_HEADER > off + len || buf[l4] !== 0) return -1;
  } else if (v === 6) {
    if (len < IPV6_HEADER + ICMP_ECHO_HEADER || buf[off + 6] !== IPPROTO_ICMPV6) return -1;
    l4 = off + IPV6_HEADER;
    if (buf[l4] !== 129) return -1;
  } else return -1;
  return ((((buf[l4 + 4] << 8) | buf[l4 + 5]) << 16) | ((buf[l4 + 6] << 8) | buf[l4 + 7])) >>> 0;
}
