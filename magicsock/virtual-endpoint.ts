// Virtual peer endpoints: MagicBind gives each peer `[100::N]:9` (RFC 6666 discard prefix, never a real
// address) as its WireGuard endpoint, and keys direct paths by address without allocating for IPv4.
import { formatEndpoint } from '../net/endpoint.js';

/** The virtual endpoint port (discard); the address is VIRTUAL_PREFIX ‖ 0…0 ‖ index u32 BE. */
export const VIRTUAL_PORT = 9;
const VIRTUAL_PREFIX0 = 0x01;

/** `[100::N]:9` for peer index N. */
export function virtualEndpoint(index: number): string {
  return `[100::${(index >>> 16).toString(16)}:${(index & 0xffff).toString(16)}]:${VIRTUAL_PORT}`;
}

/** Writes peer index N's virtual address at out[off]. */
export function writeVirtual(out: Uint8Array, off: number, index: number): void {
  out.fill(0, off, off + 16);
  out[off] = VIRTUAL_PREFIX0;
  out[off + 12] = index >>> 24;
  out[off + 13] = (index >>> 16) & 0xff;
  out[off + 14] = (index >>> 8) & 0xff;
  out[off + 15] = index & 0xff;
}

/** The peer index of a virtual endpoint, or -1 for a real address. */
export function virtualIndex(addr16: Uint8Array, port: number): number {
  if (port !== VIRTUAL_PORT || addr16[0] !== VIRTUAL_PREFIX0) return -1;
  for (let i = 1; i < 12; i++) if (addr16[i] !== 0) return -1;
  return ((addr16[12] << 24) | (addr16[13] << 16) | (addr16[14] << 8) | addr16[15]) >>> 0;
}

/** A number for IPv4 (address × 65536 + port, exact below 2^53), a string for IPv6: no allocation for IPv4. */
export function addrKeyOf(a: Uint8Array, off: number, port: number): number | string {
  let v4 = a[off + 10] === 0xff && a[off + 11] === 0xff;
  for (let i = 0; i < 10 && v4; i++) if (a[off + i] !== 0) v4 = false;
  if (v4) return (((a[off + 12] << 24) | (a[off + 13] << 16) | (a[off + 14] << 8) | a[off + 15]) >>> 0) * 65536 + port;
  return formatEndpoint(a, port, off);
}
