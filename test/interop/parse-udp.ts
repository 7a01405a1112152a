// Reads back the UDP packets the kernel hands to a TUN in interop tests (tests build theirs with
// packet/build.ts).

export interface UdpSummary {
  version: 4 | 6;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  payload: string;
}

/** Parses an IPv4/IPv6 UDP packet (no extension headers); null for anything else. */
export function parseUdp(p: Uint8Array): UdpSummary | null {
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const ver = p[0] >> 4;
  let off: number;
  let src: string;
  let dst: string;
  if (ver === 4) {
    if (p[9] !== 17) return null;
    off = (p[0] & 15) * 4;
    src = Array.from(p.subarray(12, 16)).join('.');
    dst = Array.from(p.subarray(16, 20)).join('.');
  } else if (ver === 6) {
    if (p[6] !== 17) return null;
    off = 40;
    const hex = (a: Uint8Array): string => {
      const g: string[] = [];
      for (let i = 0; i < 16; i += 2) g.push(((a[i] << 8) | a[i + 1]).toString(16));
      return g.join(':');
    };
    src = hex(p.subarray(8, 24));
    dst = hex(p.subarray(24, 40));
  } else {
    return null;
  }
  const len = v.getUint16(off + 4);
  return {
    version: ver,
    src,
    dst,
    sport: v.getUint16(off),
    dport: v.getUint16(off + 2),
    payload: Buffer.from(p.subarray(off + 8, off + len)).toString(),
  };
}
