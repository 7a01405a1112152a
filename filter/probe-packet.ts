// Builds real packets: probes for `policy eval` and `agent explain` (TCP SYN, UDP datagram, SCTP INIT,
// ICMP/ICMPv6 echo request, or a bare IP packet of any protocol), TCP resets for revoked flows, and
// arbitrary test packets. Checksums are computed so the packets are valid on a real TUN as well.
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../types/filter-rule.js';
import { GrantwireError } from '../types/errors.js';
import { parseIP } from '../types/ip.js';
import { crc32c, finishChecksum, onesComplementSum, pseudoHeaderSum } from './checksum.js';
import { ICMP4_ECHO_REQUEST, ICMP6_ECHO_REQUEST, TCP_RST, TCP_SYN } from './packet.js';
import { protoNumber } from './proto-names.js';
import type { RevokedFlow } from './engine.js';

export interface PacketSpec {
  src: string;
  dst: string;
  /** 'icmp' means ICMPv6 when the addresses are IPv6. */
  proto: 'tcp' | 'udp' | 'sctp' | 'icmp' | number;
  sport?: number;
  dport?: number;
  /** TCP flags (default SYN), sequence and acknowledgement numbers. */
  tcpFlags?: number;
  seq?: number;
  ack?: number;
  /** ICMP type (default echo request), code and identifier. */
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
  /** Transport payload (after the transport header), or bytes after the IP header for bare protocols. */
  payload?: Uint8Array;
  /** IPv4 ID / IPv6 fragment identification. */
  ipId?: number;
  /** Fragment offset in bytes (multiple of 8) and more-fragments flag; adds an IPv6 fragment header. */
  fragOffset?: number;
  moreFragments?: boolean;
}

export const DEFAULT_PROBE_SPORT = 40000;

function u16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function u32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

function transport(spec: PacketSpec, proto: number, v6: boolean): Uint8Array {
  const payload = spec.payload ?? new Uint8Array(0);
  const sport = spec.sport ?? DEFAULT_PROBE_SPORT;
  const dport = spec.dport ?? 0;
  let h: Uint8Array;
  if (proto === IPPROTO_TCP) {
    h = new Uint8Array(20 + payload.length);
    u16(h, 0, sport);
    u16(h, 2, dport);
    u32(h, 4, spec.seq ?? 1);
    u32(h, 8, spec.ack ?? 0);
    h[12] = 5 << 4;
    h[13] = spec.tcpFlags ?? TCP_SYN;
    u16(h, 14, 65535);
    h.set(payload, 20);
  } else if (proto === IPPROTO_UDP) {
    h = new Uint8Array(8 + payload.length);
    u16(h, 0, sport);
    u16(h, 2, dport);
    u16(h, 4, h.length);
    h.set(payload, 8);
  } else if (proto === IPPROTO_SCTP) {
    // common header + INIT chunk (RFC 9260 §3.3.2) unless a payload is given
    const body = spec.payload ?? Uint8Array.of(1, 0, 0, 20, 0, 0, 0, 1, 0, 1, 0, 0, 0, 10, 0, 10, 0, 0, 0, 1);
    h = new Uint8Array(12 + body.length);
    u16(h, 0, sport);
    u16(h, 2, dport);
    h.set(body, 12);
    const c = crc32c(h, 0, h.length);
    // CRC32c is stored little-endian-reflected as computed (RFC 9260 appendix B).
    h[8] = c & 0xff;
    h[9] = (c >>> 8) & 0xff;
    h[10] = (c >>> 16) & 0xff;
    h[11] = (c >>> 24) & 0xff;
  } else if ((proto === IPPROTO_ICMP && !v6) || (proto === IPPROTO_ICMPV6 && v6)) {
    h = new Uint8Array(8 + payload.length);
    h[0] = spec.icmpType ?? (v6 ? ICMP6_ECHO_REQUEST : ICMP4_ECHO_REQUEST);
    h[1] = spec.icmpCode ?? 0;
    u16(h, 4, spec.icmpId ?? 1);
    u16(h, 6, 1);
    h.set(payload, 8);
  } else {
    h = payload.slice();
  }
  return h;
}

/** Any IPv4/IPv6 packet (tests, probes, resets). Throws GrantwireError on bad addresses or protocol. */
export function buildPacket(spec: PacketSpec): Uint8Array {
  const s = parseIP(spec.src);
  const d = parseIP(spec.dst);
  if (!s || !d) throw new GrantwireError('ERR_PROBE_ADDR', `bad probe address ${!s ? spec.src : spec.dst}`);
  if (s.family !== d.family) throw new GrantwireError('ERR_PROBE_ADDR', `probe addresses ${spec.src} and ${spec.dst} are of different families`);
  const v6 = s.family === 6;
  let proto = protoNumber(spec.proto);
  if (proto === null) throw new GrantwireError('ERR_PROBE_PROTO', `bad probe protocol ${String(spec.proto)}`);
  if (spec.proto === 'icmp' && v6) proto = IPPROTO_ICMPV6;
  const t = transport(spec, proto, v6);
  const fragmented = spec.fragOffset !== undefined || spec.moreFragments === true;
  // Transport checksums cover the whole datagram; compute them before fragment bookkeeping.
  const isIcmp = (proto === IPPROTO_ICMP && !v6) || (proto === IPPROTO_ICMPV6 && v6);
  if (proto === IPPROTO_TCP || proto === IPPROTO_UDP || (isIcmp && v6)) {
    const ck = proto === IPPROTO_TCP ? 16 : proto === IPPROTO_UDP ? 6 : 2;
    if (t.length >= ck + 2) {
      const sum = onesComplementSum(t, 0, t.length, pseudoHeaderSum(s.bytes, d.bytes, proto, t.length));
      let c = finishChecksum(sum);
      if (proto === IPPROTO_UDP && c === 0) c = 0xffff;
      u16(t, ck, c);
    }
  } else if (isIcmp && t.length >= 4) {
    u16(t, 2, finishChecksum(onesComplementSum(t, 0, t.length)));
  }
  const fragOffset = spec.fragOffset ?? 0;
  if (!v6) {
    const out = new Uint8Array(20 + t.length);
    out[0] = 0x45;
    u16(out, 2, out.length);
    u16(out, 4, spec.ipId ?? 0);
    u16(out, 6, fragmented ? ((spec.moreFragments ? 0x2000 : 0) | ((fragOffset >>> 3) & 0x1fff)) : 0x4000);
    out[8] = 64;
    out[9] = proto;
    out.set(s.bytes, 12);
    out.set(d.bytes, 16);
    u16(out, 10, finishChecksum(onesComplementSum(out, 0, 20)));
    out.set(t, 20);
    return out;
  }
  const ext = fragmented ? 8 : 0;
  const out = new Uint8Array(40 + ext + t.length);
  out[0] = 0x60;
  u16(out, 4, ext + t.length);
  out[6] = fragmented ? 44 : proto;
  out[7] = 64;
  out.set(s.bytes, 8);
  out.set(d.bytes, 24);
  if (fragmented) {
    out[40] = proto;
    u16(out, 42, (fragOffset & 0xfff8) | (spec.moreFragments ? 1 : 0));
    u32(out, 44, spec.ipId ?? 0);
  }
  out.set(t, 40 + ext);
  return out;
}

/**
 * A real probe packet: TCP SYN, UDP datagram, SCTP INIT, ICMP/ICMPv6 echo request, or a bare IP packet
 * of that protocol number. `dport` defaults to 0, `sport` to 40000.
 */
export function buildProbePacket(p: { src: string; dst: string; proto: 'tcp' | 'udp' | 'sctp' | 'icmp' | number; sport?: number; dport?: number }): Uint8Array {
  return buildPacket({ src: p.src, dst: p.dst, proto: p.proto, sport: p.sport, dport: p.dport });
}

/**
 * A TCP RST for a revoked flow. `toward: 'local'` makes it look as if the peer reset the connection
 * (write it to the TUN so the local socket closes now); 'remote' resets the peer's side.
 */
export function buildTcpReset(flow: RevokedFlow, toward: 'local' | 'remote'): Uint8Array | null {
  if (flow.proto !== IPPROTO_TCP || !flow.tcp) return null;
  const toLocal = toward === 'local';
  return buildPacket({
    src: toLocal ? flow.remote : flow.local,
    dst: toLocal ? flow.local : flow.remote,
    proto: 'tcp',
    sport: toLocal ? flow.remotePort : flow.localPort,
    dport: toLocal ? flow.localPort : flow.remotePort,
    tcpFlags: TCP_RST,
    seq: toLocal ? flow.tcp.remoteNextSeq : flow.tcp.localNextSeq,
  });
}
