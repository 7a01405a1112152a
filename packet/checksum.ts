// Internet checksum (RFC 1071) and CRC32c (RFC 9260 appendix B, for SCTP), for packets we build:
// probes, TCP resets. Not used on the packet path (the filter never verifies checksums).

/** The byte-at-a-time sum: the reference for the fast path below (and its fallback). */
export function onesComplementSumBytes(b: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = initial;
  let i = off;
  for (; i + 1 < off + len; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (i < off + len) sum += b[i] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
const FAST_MIN_LEN = 64;
// A one-entry cache of a 16-bit view over the last buffer summed (the netstack's scratch buffer, a TUN
// reader's arena), so the fast path allocates nothing per packet.
let viewBuffer: ArrayBufferLike | null = null;
let view16: Uint16Array<ArrayBufferLike> = new Uint16Array(0);

/**
 * RFC 1071 sum of b[off, off+len) as big-endian 16-bit words, plus `initial`, folded to 16 bits. Long,
 * 2-byte-aligned ranges are summed as native 16-bit words and byte-swapped at the end (the sum is
 * byte-order independent, RFC 1071 §2(B)): about 3× faster on the netstack's per-segment checksums.
 */
export function onesComplementSum(b: Uint8Array, off: number, len: number, initial = 0): number {
  const abs = b.byteOffset + off;
  if (!LITTLE_ENDIAN || len < FAST_MIN_LEN || (abs & 1) !== 0 || off < 0 || off + len > b.length) return onesComplementSumBytes(b, off, len, initial);
  if (b.buffer !== viewBuffer) {
    viewBuffer = b.buffer;
    view16 = new Uint16Array(b.buffer, 0, b.buffer.byteLength >>> 1);
  }
  const w = view16;
  let k = abs >>> 1;
  const words = len >>> 1;
  const end = k + words;
  let sum = 0;
  for (const end4 = end - 3; k < end4; k += 4) sum += w[k] + w[k + 1] + w[k + 2] + w[k + 3];
  for (; k < end; k++) sum += w[k];
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  sum = ((sum & 0xff) << 8) | (sum >>> 8); // back to network byte order
  sum += initial;
  if (len & 1) sum += b[off + len - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

export function finishChecksum(sum: number): number {
  return ~sum & 0xffff;
}

/** Sum of the IPv4/IPv6 pseudo-header for a transport checksum. */
export function pseudoHeaderSum(src: Uint8Array, dst: Uint8Array, proto: number, length: number): number {
  let sum = onesComplementSum(src, 0, src.length) + onesComplementSum(dst, 0, dst.length);
  sum += proto + (length >>> 16) + (length & 0xffff);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

let crcTable: Uint32Array | null = null;

export function crc32c(b: Uint8Array, off: number, len: number): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = off; i < off + len; i++) crc = crcTable[(crc ^ b[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
