// TCP options we speak (RFC 9293 §3.2, RFC 7323, RFC 2018): MSS, window scale, timestamps, SACK-permitted
// and SACK blocks. parseTcpOptions decodes into a caller-owned, reused object and never throws (a malformed
// option is ignored, as is everything after one whose length runs past the header); writeTcpOptions and
// writeSackOption encode into a scratch buffer at a fixed offset and return the padded length.

export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MSS = 2; // length 4
export const TCPOPT_WSCALE = 3; // length 3, RFC 7323 §2
export const TCPOPT_SACK_PERMITTED = 4; // length 2, RFC 2018
export const TCPOPT_SACK = 5; // length 2 + 8·n, RFC 2018 §3
export const TCPOPT_TIMESTAMP = 8; // length 10, RFC 7323 §3

/** One SACK block is two 32-bit edges (RFC 2018 §3). */
export const TCP_SACK_BLOCK_SIZE = 8;
/** 40 option bytes hold at most 4 blocks (2 + 4·8 = 34); 3 beside timestamps (12 + 2 + 2 + 3·8 = 40). */
export const TCP_MAX_SACK_BLOCKS = 4;
export const TCP_MAX_SACK_BLOCKS_WITH_TS = 3;

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
  /** SACK blocks in this segment (0 when absent or malformed), their edges in sackBlocks[2i] (left) and [2i+1] (right). */
  sackCount: number;
  readonly sackBlocks: Uint32Array;
}

export function newTcpOptions(): TcpOptions {
  return { mss: 0, wscale: -1, sackPermitted: false, hasTimestamp: false, tsVal: 0, tsEcr: 0, sackCount: 0, sackBlocks: new Uint32Array(2 * TCP_MAX_SACK_BLOCKS) };
}

function readU32BE(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

/** Decodes the options in b[off, end) into `out` (reset first). Malformed trailing options are ignored. */
export function parseTcpOptions(b: Uint8Array, off: number, end: number, out: TcpOptions): void {
  out.mss = 0;
  out.wscale = -1;
  out.sackPermitted = false;
  out.hasTimestamp = false;
  out.sackCount = 0;
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
      out.tsVal = readU32BE(b, i + 2);
      out.tsEcr = readU32BE(b, i + 6);
    } else if (kind === TCPOPT_SACK && (len - 2) % TCP_SACK_BLOCK_SIZE === 0 && len >= 2 + TCP_SACK_BLOCK_SIZE && len <= 2 + TCP_MAX_SACK_BLOCKS * TCP_SACK_BLOCK_SIZE) {
      // RFC 2018 §3: n blocks of (left edge, right edge); which blocks make sense is the sender's question
      const n = (len - 2) / TCP_SACK_BLOCK_SIZE;
      for (let k = 0; k < n; k++) {
        out.sackBlocks[2 * k] = readU32BE(b, i + 2 + k * TCP_SACK_BLOCK_SIZE);
        out.sackBlocks[2 * k + 1] = readU32BE(b, i + 6 + k * TCP_SACK_BLOCK_SIZE);
      }
      out.sackCount = n;
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
 * Writes options at b[off]: MSS, window scale and SACK-permitted when `mss` > 0 / `wscale` >= 0 /
 * `sackPermitted` (SYN segments only), and timestamps when `ts` is set. Returns the length written (a
 * multiple of 4; at most 4 + 4 + 4 + 12 = 24 bytes).
 */
export function writeTcpOptions(b: Uint8Array, off: number, mss: number, wscale: number, ts: boolean, tsVal: number, tsEcr: number, sackPermitted = false): number {
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
  if (sackPermitted) {
    b[o] = TCPOPT_NOP;
    b[o + 1] = TCPOPT_NOP;
    b[o + 2] = TCPOPT_SACK_PERMITTED;
    b[o + 3] = 2;
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

/**
 * Writes a SACK option (RFC 2018 §3) at b[off] with the first `count` blocks of `edges` (left, right
 * pairs), NOP-padded to a multiple of 4. Returns the length written (0 when count is 0). The caller keeps
 * count within the option space left (TCP_MAX_SACK_BLOCKS, or _WITH_TS beside timestamps).
 */
export function writeSackOption(b: Uint8Array, off: number, edges: Uint32Array, count: number): number {
  if (count <= 0) return 0;
  b[off] = TCPOPT_NOP;
  b[off + 1] = TCPOPT_NOP;
  b[off + 2] = TCPOPT_SACK;
  b[off + 3] = 2 + count * TCP_SACK_BLOCK_SIZE;
  let o = off + 4;
  for (let k = 0; k < count; k++) {
    writeU32(b, o, edges[2 * k]);
    writeU32(b, o + 4, edges[2 * k + 1]);
    o += TCP_SACK_BLOCK_SIZE;
  }
  return o - off;
}
