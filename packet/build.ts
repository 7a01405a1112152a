// The one IP packet builder of the tree: IPv4 (RFC 791) or IPv6 (RFC 8200, optionally with a fragment
// header) around TCP (RFC 9293), UDP (RFC 768), UDP-Lite (RFC 3828), SCTP (RFC 9260), DCCP (RFC 4340),
// GRE (RFC 2784), ICMP/ICMPv6 (RFC 792, RFC 4443), or any other protocol's bytes. Checksums are real
// (IPv4 header, pseudo-header transport sums, SCTP's CRC32c) because the agent writes some of these
// packets into a TUN, where the kernel verifies them.
//
// Every transport header is at least as long as the filter's parser requires (filter/packet-parser.ts,
// sizes in ./headers.ts), so a probe is judged as the protocol it claims to be, never as malformed.
// Pure; allocates the packet it returns. Used per command, per revoked flow and in tests, never per
// forwarded packet.
import { GrantwireError } from '../types/errors.js';
import { parseIP } from '../types/ip.js';
import {
  icmpProtoFor,
  IPPROTO_DCCP,
  IPPROTO_EXPERIMENT,
  IPPROTO_FRAGMENT,
  IPPROTO_GRE,
  IPPROTO_ICMP,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPPROTO_UDPLITE,
  isIcmpOf,
  parseIpProto,
} from '../types/ipproto.js';
import { crc32c, finishChecksum, onesComplementSum, pseudoHeaderSum } from './checksum.js';
import {
  DCCP_HEADER_X,
  DEFAULT_TTL,
  GRE_HEADER_MIN,
  ICMP4_ECHO_REQUEST,
  ICMP6_ECHO_REQUEST,
  ICMP_HEADER_SIZE,
  IPV4_DONT_FRAGMENT,
  IPV4_HEADER_MIN,
  IPV4_MORE_FRAGMENTS,
  IPV6_FRAGMENT_HEADER_SIZE,
  IPV6_HEADER_SIZE,
  SCTP_COMMON_HEADER_SIZE,
  TCP_HEADER_MIN,
  TCP_RST,
  TCP_SYN,
  UDP_HEADER_SIZE,
} from './headers.js';

export interface PacketSpec {
  src: string;
  dst: string;
  /**
   * A protocol number, or a name from types/ipproto.ts. The name `icmp` means the ICMP of the addresses'
   * family (ICMPv6 for IPv6); numbers are taken literally (1 inside IPv6 is a bare protocol-1 packet).
   */
  proto: number | string;
  sport?: number;
  dport?: number;
  /** TCP control bits (default SYN), sequence (default 1) and acknowledgment number (default 0). */
  tcpFlags?: number;
  seq?: number;
  ack?: number;
  /** TCP window; default 0 for a RST, 65535 otherwise. */
  window?: number;
  /** TCP options, padded with zeros (end of option list) to a multiple of four bytes. */
  tcpOptions?: Uint8Array;
  /** ICMP type (default echo request), code, and the rest-of-header words (echo: identifier, sequence). */
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
  icmpSeq?: number;
  /**
   * Bytes after the transport header (after the IP header for protocols without one here). For SCTP it
   * replaces the default INIT chunk; for DCCP it follows the Request's service code.
   */
  payload?: Uint8Array;
  /** IPv4 identification / IPv6 fragment identification. */
  ipId?: number;
  /** Fragment offset in bytes (multiple of 8) and more-fragments flag; adds an IPv6 fragment header. */
  fragOffset?: number;
  moreFragments?: boolean;
}

const EMPTY = new Uint8Array(0);

// SCTP INIT chunk (RFC 9260 §3.3.2): type 1, flags 0, length 20, initiate tag 1, a_rwnd 65536,
// 10 outbound / 10 inbound streams, initial TSN 1.
const SCTP_INIT_CHUNK = Uint8Array.of(1, 0, 0, 20, 0, 0, 0, 1, 0, 1, 0, 0, 0, 10, 0, 10, 0, 0, 0, 1);
const DCCP_SERVICE_CODE_SIZE = 4; // RFC 4340 §5.2, DCCP-Request
const DCCP_TYPE_REQUEST = 0;
const GRE_PROTO_IPV4 = 0x0800; // the EtherType of the (absent) payload

function writeU16BE(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function writeU32BE(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/** Transport header length (before the payload) for `proto` inside a packet of `family`. */
function headerLength(spec: PacketSpec, proto: number, family: 4 | 6): number {
  switch (proto) {
    case IPPROTO_TCP:
      return TCP_HEADER_MIN + (((spec.tcpOptions?.length ?? 0) + 3) & ~3);
    case IPPROTO_UDP:
    case IPPROTO_UDPLITE:
      return UDP_HEADER_SIZE;
    case IPPROTO_SCTP:
      return SCTP_COMMON_HEADER_SIZE;
    case IPPROTO_DCCP:
      return DCCP_HEADER_X + DCCP_SERVICE_CODE_SIZE;
    case IPPROTO_GRE:
      return GRE_HEADER_MIN;
    default:
      return isIcmpOf(proto, family) ? ICMP_HEADER_SIZE : 0;
  }
}

/** Writes the transport header and payload at `t` and its checksum; `end` is the packet's end. */
function writeTransport(out: Uint8Array, t: number, spec: PacketSpec, proto: number, family: 4 | 6, src: Uint8Array, dst: Uint8Array, payload: Uint8Array): void {
  const end = out.length;
  const sport = spec.sport ?? 0;
  const dport = spec.dport ?? 0;
  const hl = headerLength(spec, proto, family);
  out.set(payload, t + hl);
  const pseudo = (): number => pseudoHeaderSum(src, dst, proto, end - t);
  switch (proto) {
    case IPPROTO_TCP: {
      const flags = spec.tcpFlags ?? TCP_SYN;
      writeU16BE(out, t, sport);
      writeU16BE(out, t + 2, dport);
      writeU32BE(out, t + 4, (spec.seq ?? 1) >>> 0);
      writeU32BE(out, t + 8, (spec.ack ?? 0) >>> 0);
      out[t + 12] = (hl >> 2) << 4;
      out[t + 13] = flags;
      writeU16BE(out, t + 14, spec.window ?? (flags & TCP_RST ? 0 : 65535));
      if (spec.tcpOptions) out.set(spec.tcpOptions, t + TCP_HEADER_MIN);
      writeU16BE(out, t + 16, finishChecksum(onesComplementSum(out, t, end - t, pseudo())));
      return;
    }
    case IPPROTO_UDP:
    case IPPROTO_UDPLITE: {
      writeU16BE(out, t, sport);
      writeU16BE(out, t + 2, dport);
      // UDP: length; UDP-Lite: checksum coverage, 0 = the whole datagram (RFC 3828 §3.1).
      writeU16BE(out, t + 4, proto === IPPROTO_UDP ? end - t : 0);
      const c = finishChecksum(onesComplementSum(out, t, end - t, pseudo()));
      writeU16BE(out, t + 6, c === 0 ? 0xffff : c); // 0 means "no checksum" (RFC 768)
      return;
    }
    case IPPROTO_SCTP: {
      writeU16BE(out, t, sport);
      writeU16BE(out, t + 2, dport);
      // verification tag 0, as in an INIT (RFC 9260 §8.5.1)
      const c = crc32c(out, t, end - t);
      // The CRC32c goes on the wire in the byte order it is computed (RFC 9260 appendix B).
      out[t + 8] = c & 0xff;
      out[t + 9] = (c >>> 8) & 0xff;
      out[t + 10] = (c >>> 16) & 0xff;
      out[t + 11] = (c >>> 24) & 0xff;
      return;
    }
    case IPPROTO_DCCP: {
      // DCCP-Request, generic header with X = 1 (RFC 4340 §5.1, §5.2); sequence number 1, service code 0.
      writeU16BE(out, t, sport);
      writeU16BE(out, t + 2, dport);
      out[t + 4] = hl >> 2; // data offset in 32-bit words
      out[t + 5] = 0; // CCVal 0, CsCov 0: the checksum covers the whole packet
      out[t + 8] = (DCCP_TYPE_REQUEST << 1) | 1; // Res 0, Type, X = 1
      out[t + 15] = 1;
      writeU16BE(out, t + 6, finishChecksum(onesComplementSum(out, t, end - t, pseudo())));
      return;
    }
    case IPPROTO_GRE:
      writeU16BE(out, t, 0); // no checksum, key or sequence; version 0
      writeU16BE(out, t + 2, GRE_PROTO_IPV4);
      return;
  }
  if (hl === ICMP_HEADER_SIZE) {
    const type = spec.icmpType ?? (family === 4 ? ICMP4_ECHO_REQUEST : ICMP6_ECHO_REQUEST);
    const echo = type === (family === 4 ? ICMP4_ECHO_REQUEST : ICMP6_ECHO_REQUEST);
    out[t] = type;
    out[t + 1] = spec.icmpCode ?? 0;
    writeU16BE(out, t + 4, spec.icmpId ?? (echo ? 1 : 0));
    writeU16BE(out, t + 6, spec.icmpSeq ?? (echo ? 1 : 0));
    // ICMP's checksum covers the message only; ICMPv6 adds the pseudo-header (RFC 4443 §2.3).
    writeU16BE(out, t + 2, finishChecksum(onesComplementSum(out, t, end - t, family === 6 ? pseudo() : 0)));
  }
}

/** Resolves a spec's protocol: a number as is, a name through types/ipproto.ts, `icmp` per family. */
export function specProto(proto: number | string, family: 4 | 6): number | null {
  const n = parseIpProto(proto);
  if (n === IPPROTO_ICMP && typeof proto === 'string' && proto.toLowerCase() === 'icmp') return icmpProtoFor(family);
  return n;
}

/** Any IPv4/IPv6 packet. Throws GrantwireError (ERR_PROBE_ADDR, ERR_PROBE_PROTO) on bad addresses or protocol. */
export function buildPacket(spec: PacketSpec): Uint8Array {
  const s = parseIP(spec.src);
  const d = parseIP(spec.dst);
  if (!s || !d) throw new GrantwireError('ERR_PROBE_ADDR', `bad probe address ${!s ? spec.src : spec.dst}`);
  if (s.family !== d.family) throw new GrantwireError('ERR_PROBE_ADDR', `probe addresses ${spec.src} and ${spec.dst} are not the same IP family`);
  const family = s.family;
  const proto = specProto(spec.proto, family);
  if (proto === null) throw new GrantwireError('ERR_PROBE_PROTO', `bad probe protocol ${String(spec.proto)}`);
  const payload = spec.payload ?? (proto === IPPROTO_SCTP ? SCTP_INIT_CHUNK : EMPTY);
  const fragmented = spec.fragOffset !== undefined || spec.moreFragments === true;
  const fragOffset = spec.fragOffset ?? 0;
  const transportLen = headerLength(spec, proto, family) + payload.length;
  if (family === 4) {
    const out = new Uint8Array(IPV4_HEADER_MIN + transportLen);
    out[0] = 0x45; // version 4, IHL 5
    writeU16BE(out, 2, out.length);
    writeU16BE(out, 4, spec.ipId ?? 0);
    writeU16BE(out, 6, fragmented ? (spec.moreFragments ? IPV4_MORE_FRAGMENTS : 0) | ((fragOffset >>> 3) & 0x1fff) : IPV4_DONT_FRAGMENT);
    out[8] = DEFAULT_TTL;
    out[9] = proto;
    out.set(s.bytes, 12);
    out.set(d.bytes, 16);
    writeU16BE(out, 10, finishChecksum(onesComplementSum(out, 0, IPV4_HEADER_MIN)));
    // Transport checksums cover the whole datagram, as if it were reassembled.
    writeTransport(out, IPV4_HEADER_MIN, spec, proto, family, s.bytes, d.bytes, payload);
    return out;
  }
  const ext = fragmented ? IPV6_FRAGMENT_HEADER_SIZE : 0;
  const out = new Uint8Array(IPV6_HEADER_SIZE + ext + transportLen);
  out[0] = 0x60; // version 6, traffic class 0, flow label 0
  writeU16BE(out, 4, ext + transportLen);
  out[6] = fragmented ? IPPROTO_FRAGMENT : proto;
  out[7] = DEFAULT_TTL;
  out.set(s.bytes, 8);
  out.set(d.bytes, 24);
  if (fragmented) {
    out[40] = proto;
    writeU16BE(out, 42, (fragOffset & 0xfff8) | (spec.moreFragments ? 1 : 0));
    writeU32BE(out, 44, spec.ipId ?? 0);
  }
  writeTransport(out, IPV6_HEADER_SIZE + ext, spec, proto, family, s.bytes, d.bytes, payload);
  return out;
}

/**
 * An IP packet of protocol 253 (RFC 3692: experimentation and testing) carrying `payloadLen` bytes of
 * `fill`, `payloadLen` + 20 (IPv4) or + 40 (IPv6) bytes long: for tests and benchmarks that move packets
 * through a device without looking into them.
 */
export function buildFillerPacket(src: string, dst: string, payloadLen = 8, fill = 0xab): Uint8Array {
  return buildPacket({ src, dst, proto: IPPROTO_EXPERIMENT, payload: new Uint8Array(payloadLen).fill(fill) });
}
