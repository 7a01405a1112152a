// TCP options we speak (RFC 9293 §3.2, RFC 7323, RFC 2018's SACK-permitted is recognised but not offered):
// MSS, window scale, timestamps. parseTcpOptions decodes into a caller-owned, reused object and never throws;
// writeTcpOptions encodes into a scratch buffer at a fixed offset and returns the padded length.

export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MSS = 2; // length 4
export const TCPOPT_WSCALE = 3; // length 3, RFC 7323 §2
export const TCPOPT_SACK_PERMITTED = 4; // length 2, RFC 2018
export const TCPOPT_TIMESTAMP = 8; // length 10, RFC 7323 §3

export const TCP_MAX_WSCALE = 14; // RFC 7323 §2.3
/** NOP NOP TS(10): the 12 bytes of timestamps on every segment once negotiated. */
export const TCP_TS_OPTION_SPACE = 12;
/** Default send MSS when the peer sends no MSS option (RFC 9293 §3.7.1): 536 (IPv4), 1220 (IPv6). */
export const TCP_DEFAULT_MSS_V4 = 536;
export const TCP_DEFAULT_MSS_V6 = 1220;

export interface TcpOptions {
  mss: number; // 0 = absent
  wscale: number; // -1 = absent
  sackPermitted: boolean;
  hasTimestamp: boolean;
  tsVal: number;
  tsEcr: number;
}

export function newTcpOptions(): TcpOptions {
  return { mss: 0, wscale: -1, sackPermitted: false, hasTimestamp: false, tsVal: 0, tsEcr: 0 };
}

/** Decodes the options in b[off, end) into `out` (reset first). Malformed trailing options are ignored. */
export function parseTcpOptions(b: Uint8Array, off: number, end: number, out: TcpOptions): void {
  out.mss = 0;
  out.wscale = -1;
  out.sackPermitted = false;
  out.hasTimestamp = false;
  let i = off;
  while (i < end) {
    const kind = b[i];
    if (kind === TCPOPT_EOL) return;
    if (kind === TCPOPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return;
    const len = b[i + 1];
    if (len < 2 || i + len > end) return;
    if (kind === TCPOPT_MSS && len === 4) out.mss = (b[i + 2] << 8) | b[i + 3];
    else if (kind === TCPOPT_WSCALE && len === 3) out.wscale = Math.min(b[i + 2], TCP_MAX_WSCALE);
    else if (kind === TCPOPT_SACK_PERMITTED && len === 2) out.sackPermitted = true;
    else if (kind === TCPOPT_TIMESTAMP && len === 10) {
      out.hasTimestamp = true;
      out.tsVal = ((b[i + 2] << 24) | (b[i + 3] << 16) | (b[i + 4] << 8) | b[i + 5]) >>> 0;
      out.tsEcr = ((b[i + 6] << 24) | (b[i + 7] << 16) | (b[i + 8] << 8) | b[i + 9]) >>> 0;
    }
    i += len;
  }
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/**
 * Writes options at b[off]: MSS and window scale when `mss` > 0 / `wscale` >= 0 (SYN segments only), and
 * timestamps when `ts` is set. Returns the length written (a multiple of 4).
 */
export function writeTcpOptions(b: Uint8Array, off: number, mss: number, wscale: number, ts: boolean, tsVal: number, tsEcr: number): number {
  let o = off;
  if (mss > 0) {
    b[o] = TCPOPT_MSS;
    b[o + 1] = 4;
    b[o + 2] = (mss >>> 8) & 0xff;
    b[o + 3] = mss & 0xff;
    o += 4;
  }
  if (wscale >= 0) {
    b[o] = TCPOPT_NOP;
    b[o + 1] = TCPOPT_WSCALE;
    b[o + 2] = 3;
    b[o + 3] = wscale;
    o += 4;
  }
  if (ts) {
    b[o] = TCPOPT_NOP;
    b[o + 1] = TCPOPT_NOP;
    b[o + 2] = TCPOPT_TIMESTAMP;
    b[o + 3] = 10;
    writeU32(b, o + 4, tsVal);
    writeU32(b, o + 8, tsEcr);
    o += 12;
  }
  return o - off;
}
