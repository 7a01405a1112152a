// The IP layer of the netstack: decoding an inbound IPv4 (RFC 791) or IPv6 (RFC 8200) header into a
// reused object, and writing the header of an outbound packet into the scratch buffer. Fragments are not
// reassembled (the tunnel MTU bounds what the peers send, and TCP's MSS keeps segments under it); IPv6
// extension headers other than a final fragment header are not walked. Never throws on network input.
import { finishChecksum, onesComplementSum, pseudoHeaderSum } from '../packet/checksum.js';
import { DEFAULT_TTL, IPV4_DONT_FRAGMENT, IPV4_HEADER_MIN, IPV4_MORE_FRAGMENTS, IPV6_HEADER_SIZE } from '../packet/headers.js';

export const IP_PARSE_OK = 0;
export const IP_PARSE_MALFORMED = 1;
export const IP_PARSE_FRAGMENT = 2;

/** A decoded IP header: addresses are offsets into the packet; l4 is the transport header's offset. */
export interface IpPacket {
  family: 4 | 6;
  proto: number;
  srcOff: number;
  dstOff: number;
  l4Off: number;
  l4Len: number;
}

export function newIpPacket(): IpPacket {
  return { family: 4, proto: 0, srcOff: 0, dstOff: 0, l4Off: 0, l4Len: 0 };
}

/** Decodes b[off, off+len) into `out`; returns IP_PARSE_OK or the drop reason. */
export function parseIpPacket(b: Uint8Array, off: number, len: number, out: IpPacket): number {
  if (len < 1 || off < 0 || off + len > b.length) return IP_PARSE_MALFORMED;
  const v = b[off] >> 4;
  if (v === 4) {
    if (len < IPV4_HEADER_MIN) return IP_PARSE_MALFORMED;
    const ihl = (b[off] & 0x0f) * 4;
    const total = (b[off + 2] << 8) | b[off + 3];
    if (ihl < IPV4_HEADER_MIN || total < ihl || total > len) return IP_PARSE_MALFORMED;
    const frag = (b[off + 6] << 8) | b[off + 7];
    if ((frag & IPV4_MORE_FRAGMENTS) !== 0 || (frag & 0x1fff) !== 0) return IP_PARSE_FRAGMENT;
    out.family = 4;
    out.proto = b[off + 9];
    out.srcOff = off + 12;
    out.dstOff = off + 16;
    out.l4Off = off + ihl;
    out.l4Len = total - ihl;
    return IP_PARSE_OK;
  }
  if (v === 6) {
    if (len < IPV6_HEADER_SIZE) return IP_PARSE_MALFORMED;
    const payload = (b[off + 4] << 8) | b[off + 5];
    if (IPV6_HEADER_SIZE + payload > len) return IP_PARSE_MALFORMED;
    const next = b[off + 6];
    if (next === 44) return IP_PARSE_FRAGMENT; // RFC 8200 §4.5
    out.family = 6;
    out.proto = next;
    out.srcOff = off + 8;
    out.dstOff = off + 24;
    out.l4Off = off + IPV6_HEADER_SIZE;
    out.l4Len = payload;
    return IP_PARSE_OK;
  }
  return IP_PARSE_MALFORMED;
}

export function ipHeaderLength(family: 4 | 6): number {
  return family === 4 ? IPV4_HEADER_MIN : IPV6_HEADER_SIZE;
}

let ipv4Id = 0;

/** Writes an IPv4/IPv6 header at b[0] for `l4Len` bytes of protocol `proto`; returns the header length. */
export function writeIpHeader(b: Uint8Array, family: 4 | 6, src: Uint8Array, dst: Uint8Array, proto: number, l4Len: number): number {
  if (family === 4) {
    const total = IPV4_HEADER_MIN + l4Len;
    b[0] = 0x45;
    b[1] = 0;
    b[2] = total >>> 8;
    b[3] = total & 0xff;
    ipv4Id = (ipv4Id + 1) & 0xffff;
    b[4] = ipv4Id >>> 8;
    b[5] = ipv4Id & 0xff;
    b[6] = IPV4_DONT_FRAGMENT >>> 8;
    b[7] = 0;
    b[8] = DEFAULT_TTL;
    b[9] = proto;
    b[10] = 0;
    b[11] = 0;
    b.set(src, 12);
    b.set(dst, 16);
    const c = finishChecksum(onesComplementSum(b, 0, IPV4_HEADER_MIN));
    b[10] = c >>> 8;
    b[11] = c & 0xff;
    return IPV4_HEADER_MIN;
  }
  b[0] = 0x60;
  b[1] = 0;
  b[2] = 0;
  b[3] = 0;
  b[4] = l4Len >>> 8;
  b[5] = l4Len & 0xff;
  b[6] = proto;
  b[7] = DEFAULT_TTL;
  b.set(src, 8);
  b.set(dst, 24);
  return IPV6_HEADER_SIZE;
}

/** A UDP header at b[off] with a zero checksum (the caller fills it once the payload is in place). */
export function writeUdpHeader(b: Uint8Array, off: number, sport: number, dport: number, udpLen: number): void {
  b[off] = sport >>> 8;
  b[off + 1] = sport & 0xff;
  b[off + 2] = dport >>> 8;
  b[off + 3] = dport & 0xff;
  b[off + 4] = udpLen >>> 8;
  b[off + 5] = udpLen & 0xff;
  b[off + 6] = 0;
  b[off + 7] = 0;
}

/** The transport checksum (pseudo-header included) of b[l4Off, l4Off+l4Len) with the field at `csumOff`. */
export function transportChecksum(b: Uint8Array, l4Off: number, l4Len: number, src: Uint8Array, dst: Uint8Array, proto: number): number {
  return finishChecksum(onesComplementSum(b, l4Off, l4Len, pseudoHeaderSum(src, dst, proto, l4Len)));
}

/**
 * Whether the transport checksum of an inbound packet verifies. Addresses are read in place through
 * subarray-free sums (`srcOff`/`dstOff` into the same buffer).
 */
export function verifyTransportChecksum(b: Uint8Array, p: IpPacket): boolean {
  const alen = p.family === 4 ? 4 : 16;
  let sum = onesComplementSum(b, p.srcOff, alen) + onesComplementSum(b, p.dstOff, alen);
  sum += p.proto + (p.l4Len >>> 16) + (p.l4Len & 0xffff);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return onesComplementSum(b, p.l4Off, p.l4Len, sum) === 0xffff;
}
