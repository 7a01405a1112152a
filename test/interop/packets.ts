// Tiny IP/UDP packet builders and parsers for tests that write raw packets into a TUN device and check
// what the kernel hands back. Checksums are computed (the kernel verifies them on delivery).
import { isIPv4 } from 'node:net';
import { addrToBytes16 } from '../../net/udp-dgram.js';

function addrBytes(text: string): Uint8Array {
  const b = new Uint8Array(16);
  if (!addrToBytes16(text, b)) throw new Error(`bad address ${text}`);
  return isIPv4(text) ? b.subarray(12) : b;
}

function sum16(bytes: Uint8Array, acc = 0): number {
  for (let i = 0; i + 1 < bytes.length; i += 2) acc += (bytes[i] << 8) | bytes[i + 1];
  if (bytes.length & 1) acc += bytes[bytes.length - 1] << 8;
  return acc;
}

function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return ~acc & 0xffff;
}

function udp(sport: number, dport: number, payload: Uint8Array, pseudo: Uint8Array): Uint8Array {
  const u = new Uint8Array(8 + payload.length);
  const v = new DataView(u.buffer);
  v.setUint16(0, sport);
  v.setUint16(2, dport);
  v.setUint16(4, u.length);
  u.set(payload, 8);
  const c = fold(sum16(u, sum16(pseudo)));
  v.setUint16(6, c === 0 ? 0xffff : c);
  return u;
}

export function ipv4Udp(src: string, dst: string, sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const s = addrBytes(src);
  const d = addrBytes(dst);
  const pseudo = new Uint8Array(12);
  pseudo.set(s, 0);
  pseudo.set(d, 4);
  pseudo[9] = 17;
  new DataView(pseudo.buffer).setUint16(10, 8 + payload.length);
  const body = udp(sport, dport, payload, pseudo);
  const p = new Uint8Array(20 + body.length);
  const v = new DataView(p.buffer);
  p[0] = 0x45;
  v.setUint16(2, p.length);
  p[8] = 64;
  p[9] = 17;
  p.set(s, 12);
  p.set(d, 16);
  v.setUint16(10, fold(sum16(p.subarray(0, 20))));
  p.set(body, 20);
  return p;
}

export function ipv6Udp(src: string, dst: string, sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const s = addrBytes(src);
  const d = addrBytes(dst);
  const pseudo = new Uint8Array(40);
  pseudo.set(s, 0);
  pseudo.set(d, 16);
  new DataView(pseudo.buffer).setUint32(32, 8 + payload.length);
  pseudo[39] = 17;
  const body = udp(sport, dport, payload, pseudo);
  const p = new Uint8Array(40 + body.length);
  const v = new DataView(p.buffer);
  p[0] = 0x60;
  v.setUint16(4, body.length);
  p[6] = 17;
  p[7] = 64;
  p.set(s, 8);
  p.set(d, 24);
  p.set(body, 40);
  return p;
}

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
