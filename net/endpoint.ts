// Endpoints (UDP address + port of a peer) in the 16-byte v4-mapped form the UdpBind uses, parsed from
// and formatted to `1.2.3.4:51820` / `[2001:db8::1]:51820` (IPv4 shown without the ::ffff: prefix).
import { GrantwireError } from '../types/errors.js';
import { formatIP, parseAddrPort } from '../types/ip.js';
import { V4_MAPPED_PREFIX } from './io.js';

export interface Endpoint {
  addr16: Uint8Array;
  port: number;
}

export function isV4Mapped(addr16: Uint8Array, off = 0): boolean {
  for (let i = 0; i < 12; i++) if (addr16[off + i] !== V4_MAPPED_PREFIX[i]) return false;
  return true;
}

/** 4 or 16 address bytes → 16 bytes (v4-mapped for IPv4). */
export function toAddr16(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 16) return Uint8Array.from(bytes);
  const out = new Uint8Array(16);
  out.set(V4_MAPPED_PREFIX);
  out.set(bytes, 12);
  return out;
}

/** Parses `ip:port` or `[v6]:port`; throws GrantwireError ERR_WG_BAD_ENDPOINT on bad input (local config). */
export function parseEndpoint(s: string): Endpoint {
  const ap = parseAddrPort(s.trim());
  if (!ap || ap.port === 0) {
    throw new GrantwireError('ERR_WG_BAD_ENDPOINT', `invalid endpoint ${JSON.stringify(s)}: expected ip:port or [ipv6]:port`);
  }
  return { addr16: toAddr16(ap.addr.bytes), port: ap.port };
}

export function formatEndpoint(addr16: Uint8Array, port: number, off = 0): string {
  if (isV4Mapped(addr16, off)) return `${formatIP(addr16.subarray(off + 12, off + 16))}:${port}`;
  return `[${formatIP(addr16.subarray(off, off + 16))}]:${port}`;
}
