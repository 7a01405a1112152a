// Internet checksum (RFC 1071) and CRC32c (RFC 9260 appendix B, for SCTP), for packets we build:
// probes, TCP resets. Not used on the packet path (the filter never verifies checksums).

export function onesComplementSum(b: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = initial;
  let i = off;
  for (; i + 1 < off + len; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (i < off + len) sum += b[i] << 8;
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
