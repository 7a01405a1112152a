// One TCP segment in and out. Inbound: the fields of a received segment, decoded into a reused object by
// the demultiplexer. Outbound: writeTcpSegment fills in the TCP header, the IP header and the checksum
// around options and payload the caller has already placed in the scratch buffer, so a segment is built
// in place with no allocation.
import { IPPROTO_TCP } from '../types/ipproto.js';
import { TCP_HEADER_MIN } from '../packet/headers.js';
import { ipHeaderLength, transportChecksum, writeIpHeader } from './ip.js';
import { newTcpOptions, type TcpOptions } from './tcp-options.js';

export interface TcpSegment {
  buf: Uint8Array;
  seq: number;
  ack: number;
  flags: number;
  /** The raw 16-bit window field (unscaled). */
  window: number;
  dataOff: number;
  dataLen: number;
  opts: TcpOptions;
}

export function newTcpSegment(): TcpSegment {
  return { buf: new Uint8Array(0), seq: 0, ack: 0, flags: 0, window: 0, dataOff: 0, dataLen: 0, opts: newTcpOptions() };
}

/** Where a segment's options start in the scratch buffer, and its payload after `optLen` bytes of them. */
export function tcpOptionsOffset(family: 4 | 6): number {
  return ipHeaderLength(family) + TCP_HEADER_MIN;
}

/**
 * Completes the segment in b: options (optLen bytes) and payload (dataLen bytes) are already in place
 * after the TCP header. Returns the packet's total length.
 */
export function writeTcpSegment(
  b: Uint8Array,
  family: 4 | 6,
  src: Uint8Array,
  dst: Uint8Array,
  sport: number,
  dport: number,
  seq: number,
  ack: number,
  flags: number,
  window: number,
  optLen: number,
  dataLen: number,
): number {
  const t = ipHeaderLength(family);
  const hl = TCP_HEADER_MIN + optLen;
  const l4Len = hl + dataLen;
  b[t] = sport >>> 8;
  b[t + 1] = sport & 0xff;
  b[t + 2] = dport >>> 8;
  b[t + 3] = dport & 0xff;
  b[t + 4] = seq >>> 24;
  b[t + 5] = (seq >>> 16) & 0xff;
  b[t + 6] = (seq >>> 8) & 0xff;
  b[t + 7] = seq & 0xff;
  b[t + 8] = ack >>> 24;
  b[t + 9] = (ack >>> 16) & 0xff;
  b[t + 10] = (ack >>> 8) & 0xff;
  b[t + 11] = ack & 0xff;
  b[t + 12] = (hl >>> 2) << 4;
  b[t + 13] = flags;
  b[t + 14] = (window >>> 8) & 0xff;
  b[t + 15] = window & 0xff;
  b[t + 16] = 0;
  b[t + 17] = 0;
  b[t + 18] = 0; // urgent pointer: never used
  b[t + 19] = 0;
  writeIpHeader(b, family, src, dst, IPPROTO_TCP, l4Len);
  const c = transportChecksum(b, t, l4Len, src, dst, IPPROTO_TCP);
  b[t + 16] = c >>> 8;
  b[t + 17] = c & 0xff;
  return t + l4Len;
}
