// SOCKS version 5 on the wire (RFC 1928): the method-selection greeting, the request, the reply and the
// UDP request header, as pure functions over caller-owned bytes. Parsers never throw on network input:
// they return `{ kind: 'short' }` when more bytes are needed, `{ kind: 'bad', reply }` with the reply
// code to send when the input is malformed, or the parsed value and how many bytes it used.
// Authentication (RFC 1929 user/password, GSSAPI) is not offered: only NO AUTHENTICATION REQUIRED.
import { formatIP, parseIP } from '../../types/ip.js';

export const SOCKS_VERSION = 5;

// Methods (RFC 1928 §3).
export const METHOD_NO_AUTH = 0x00;
export const METHOD_NONE_ACCEPTABLE = 0xff;

// Commands (§4).
export const CMD_CONNECT = 0x01;
export const CMD_BIND = 0x02;
export const CMD_UDP_ASSOCIATE = 0x03;

// Address types (§4, §5).
export const ATYP_IPV4 = 0x01;
export const ATYP_DOMAIN = 0x03;
export const ATYP_IPV6 = 0x04;

// Reply codes (§6).
export const REP_SUCCEEDED = 0x00;
export const REP_GENERAL_FAILURE = 0x01;
export const REP_NOT_ALLOWED = 0x02;
export const REP_NETWORK_UNREACHABLE = 0x03;
export const REP_HOST_UNREACHABLE = 0x04;
export const REP_CONNECTION_REFUSED = 0x05;
export const REP_TTL_EXPIRED = 0x06;
export const REP_COMMAND_NOT_SUPPORTED = 0x07;
export const REP_ADDRESS_TYPE_NOT_SUPPORTED = 0x08;

/** Greeting: VER NMETHODS METHODS[NMETHODS] (§3); at most 2 + 255 bytes. */
export const MAX_GREETING_SIZE = 2 + 255;
/** Request: VER CMD RSV ATYP, address (at most 1 + 255), PORT (§4). */
export const MAX_REQUEST_SIZE = 4 + 1 + 255 + 2;

export type SocksAddressType = 'ipv4' | 'ipv6' | 'domain';

export interface SocksAddress {
  type: SocksAddressType;
  /** Canonical IP text, or the domain name as sent. */
  host: string;
  port: number;
}

export interface SocksRequest extends SocksAddress {
  command: number;
}

export type Parsed<T> = { kind: 'ok'; value: T; used: number } | { kind: 'short' } | { kind: 'bad'; reply: number; why: string };

const SHORT = { kind: 'short' } as const;

function bad(reply: number, why: string): { kind: 'bad'; reply: number; why: string } {
  return { kind: 'bad', reply, why };
}

/** The client's greeting: the methods it offers. */
export function parseGreeting(buf: Uint8Array): Parsed<number[]> {
  if (buf.length < 2) return SHORT;
  if (buf[0] !== SOCKS_VERSION) return bad(REP_GENERAL_FAILURE, `version ${buf[0]}, want 5`);
  const n = buf[1];
  if (n === 0) return bad(REP_GENERAL_FAILURE, 'no methods offered');
  if (buf.length < 2 + n) return SHORT;
  return { kind: 'ok', value: Array.from(buf.subarray(2, 2 + n)), used: 2 + n };
}

/** Domain names as SOCKS carries them: 1-255 bytes of printable ASCII (no spaces or controls). */
function domainText(b: Uint8Array): string | null {
  for (let i = 0; i < b.length; i++) if (b[i] <= 0x20 || b[i] >= 0x7f) return null;
  return String.fromCharCode(...b);
}

/** ATYP, address and port starting at `off`. */
export function parseAddress(buf: Uint8Array, off: number): Parsed<SocksAddress> {
  if (buf.length < off + 1) return SHORT;
  const atyp = buf[off];
  let host: string;
  let p: number;
  if (atyp === ATYP_IPV4 || atyp === ATYP_IPV6) {
    const n = atyp === ATYP_IPV4 ? 4 : 16;
    if (buf.length < off + 1 + n + 2) return SHORT;
    host = formatIP(buf.slice(off + 1, off + 1 + n));
    p = off + 1 + n;
  } else if (atyp === ATYP_DOMAIN) {
    if (buf.length < off + 2) return SHORT;
    const n = buf[off + 1];
    if (n === 0) return bad(REP_GENERAL_FAILURE, 'empty domain name');
    if (buf.length < off + 2 + n + 2) return SHORT;
    const name = domainText(buf.subarray(off + 2, off + 2 + n));
    if (name === null) return bad(REP_GENERAL_FAILURE, 'domain name is not printable ASCII');
    host = name;
    p = off + 2 + n;
  } else {
    return bad(REP_ADDRESS_TYPE_NOT_SUPPORTED, `address type ${atyp}`);
  }
  const port = (buf[p] << 8) | buf[p + 1];
  const type: SocksAddressType = atyp === ATYP_IPV4 ? 'ipv4' : atyp === ATYP_IPV6 ? 'ipv6' : 'domain';
  return { kind: 'ok', value: { type, host, port }, used: p + 2 - off };
}

/** The request after the greeting: VER CMD RSV ATYP DST.ADDR DST.PORT. */
export function parseRequest(buf: Uint8Array): Parsed<SocksRequest> {
  if (buf.length < 4) return SHORT;
  if (buf[0] !== SOCKS_VERSION) return bad(REP_GENERAL_FAILURE, `version ${buf[0]}, want 5`);
  const command = buf[1];
  const a = parseAddress(buf, 3);
  if (a.kind !== 'ok') return a;
  if (command !== CMD_CONNECT && command !== CMD_UDP_ASSOCIATE) return bad(REP_COMMAND_NOT_SUPPORTED, `command ${command}`);
  return { kind: 'ok', value: { command, ...a.value }, used: 3 + a.used };
}

/** ATYP + address + port for `host` (an IP, else a domain name of at most 255 bytes). */
export function encodeAddress(host: string, port: number): Uint8Array {
  const ip = parseIP(host);
  let out: Uint8Array;
  if (ip) {
    const n = ip.bytes.length;
    out = new Uint8Array(1 + n + 2);
    out[0] = n === 4 ? ATYP_IPV4 : ATYP_IPV6;
    out.set(ip.bytes, 1);
  } else {
    const name = Buffer.from(host, 'latin1').subarray(0, 255);
    out = new Uint8Array(2 + name.length + 2);
    out[0] = ATYP_DOMAIN;
    out[1] = name.length;
    out.set(name, 2);
  }
  out[out.length - 2] = (port >> 8) & 0xff;
  out[out.length - 1] = port & 0xff;
  return out;
}

/** VER REP RSV ATYP BND.ADDR BND.PORT; failures carry 0.0.0.0:0. */
export function buildReply(rep: number, bindHost = '0.0.0.0', bindPort = 0): Uint8Array {
  const a = encodeAddress(bindHost, bindPort);
  const out = new Uint8Array(3 + a.length);
  out[0] = SOCKS_VERSION;
  out[1] = rep;
  out.set(a, 3);
  return out;
}

export interface SocksDatagram extends SocksAddress {
  /** Offset of the payload in the parsed buffer. */
  dataOffset: number;
}

/** A UDP request header (§7): RSV(2) FRAG ATYP DST.ADDR DST.PORT DATA. Fragments are not supported: null. */
export function parseUdpHeader(buf: Uint8Array): SocksDatagram | null {
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0 || buf[2] !== 0) return null;
  const a = parseAddress(buf, 3);
  if (a.kind !== 'ok') return null;
  return { ...a.value, dataOffset: 3 + a.used };
}

/** The header to put before a datagram relayed back to the client from `host:port`. */
export function buildUdpHeader(host: string, port: number): Uint8Array {
  const a = encodeAddress(host, port);
  const out = new Uint8Array(3 + a.length);
  out.set(a, 3);
  return out;
}
