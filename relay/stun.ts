// STUN (RFC 8489) subset for endpoint discovery: a Binding request carrying nothing, and a Binding
// success response carrying XOR-MAPPED-ADDRESS (§14.2), the source address the server saw. No
// authentication, no FINGERPRINT, no other attributes: the reflexive address is only a candidate that
// disco (magicsock/) must still confirm with sealed probes, so an on-path forger gains nothing.
//
// Messages share the WireGuard socket; isStunMessage tells them apart (first two bits 0, magic cookie at
// offset 4). Parsers take untrusted input and return null, never throw.

/** §5: the fixed cookie at bytes 4..7 of every message. */
export const STUN_MAGIC_COOKIE = 0x2112a442;
export const STUN_HEADER_SIZE = 20;
export const STUN_TXID_SIZE = 12;
export const STUN_BINDING_REQUEST = 0x0001;
export const STUN_BINDING_SUCCESS = 0x0101;
/** §14.2 XOR-MAPPED-ADDRESS; §14.1 MAPPED-ADDRESS (old servers). */
export const STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020;
export const STUN_ATTR_MAPPED_ADDRESS = 0x0001;
const FAMILY_V4 = 0x01;
const FAMILY_V6 = 0x02;

export interface StunMapped {
  txid: Uint8Array;
  /** 16 bytes, IPv4 as v4-mapped. */
  addr16: Uint8Array;
  port: number;
}

function readU16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

function writeHeader(out: Uint8Array, type: number, bodyLen: number, txid: Uint8Array): void {
  out[0] = type >> 8;
  out[1] = type & 0xff;
  out[2] = bodyLen >> 8;
  out[3] = bodyLen & 0xff;
  out[4] = 0x21;
  out[5] = 0x12;
  out[6] = 0xa4;
  out[7] = 0x42;
  out.set(txid.subarray(0, STUN_TXID_SIZE), 8);
}

/** First two bits zero, the magic cookie, a length that fits: a STUN message (not WireGuard, not disco). */
export function isStunMessage(b: Uint8Array, len: number): boolean {
  return len >= STUN_HEADER_SIZE && (b[0] & 0xc0) === 0 && b[4] === 0x21 && b[5] === 0x12 && b[6] === 0xa4 && b[7] === 0x42;
}

export function encodeBindingRequest(txid: Uint8Array): Uint8Array {
  if (txid.length !== STUN_TXID_SIZE) throw new RangeError('STUN transaction id must be 12 bytes');
  const out = new Uint8Array(STUN_HEADER_SIZE);
  writeHeader(out, STUN_BINDING_REQUEST, 0, txid);
  return out;
}

/** The transaction id of a well-formed Binding request, else null (attributes are ignored). */
export function parseBindingRequest(b: Uint8Array, len: number): Uint8Array | null {
  if (!isStunMessage(b, len) || readU16(b, 0) !== STUN_BINDING_REQUEST) return null;
  const bodyLen = readU16(b, 2);
  if (bodyLen % 4 !== 0 || STUN_HEADER_SIZE + bodyLen > len) return null;
  return b.slice(8, 8 + STUN_TXID_SIZE);
}

/** A Binding success response telling the requester the address:port its request came from. */
export function encodeBindingSuccess(txid: Uint8Array, addr16: Uint8Array, port: number): Uint8Array {
  const v4 = isV4Mapped16(addr16);
  const valueLen = 4 + (v4 ? 4 : 16);
  const out = new Uint8Array(STUN_HEADER_SIZE + 4 + valueLen);
  writeHeader(out, STUN_BINDING_SUCCESS, 4 + valueLen, txid);
  let o = STUN_HEADER_SIZE;
  out[o++] = STUN_ATTR_XOR_MAPPED_ADDRESS >> 8;
  out[o++] = STUN_ATTR_XOR_MAPPED_ADDRESS & 0xff;
  out[o++] = valueLen >> 8;
  out[o++] = valueLen & 0xff;
  out[o++] = 0;
  out[o++] = v4 ? FAMILY_V4 : FAMILY_V6;
  const xport = port ^ (STUN_MAGIC_COOKIE >>> 16);
  out[o++] = xport >> 8;
  out[o++] = xport & 0xff;
  // §14.2: the address is XORed with the cookie (and, for IPv6, cookie ‖ transaction id).
  const src = v4 ? addr16.subarray(12, 16) : addr16.subarray(0, 16);
  for (let i = 0; i < src.length; i++) out[o + i] = src[i] ^ out[4 + i];
  return out;
}

/** Parses a Binding success response: the mapped address (XOR-MAPPED-ADDRESS preferred), else null. */
export function parseBindingSuccess(b: Uint8Array, len: number): StunMapped | null {
  if (!isStunMessage(b, len) || readU16(b, 0) !== STUN_BINDING_SUCCESS) return null;
  const bodyLen = readU16(b, 2);
  if (bodyLen % 4 !== 0 || STUN_HEADER_SIZE + bodyLen > len) return null;
  const end = STUN_HEADER_SIZE + bodyLen;
  let o = STUN_HEADER_SIZE;
  let plain: StunMapped | null = null;
  while (o + 4 <= end) {
    const type = readU16(b, o);
    const alen = readU16(b, o + 2);
    const v = o + 4;
    if (v + alen > end) return null;
    if (type === STUN_ATTR_XOR_MAPPED_ADDRESS || type === STUN_ATTR_MAPPED_ADDRESS) {
      const xor = type === STUN_ATTR_XOR_MAPPED_ADDRESS;
      const fam = b[v + 1];
      const alen4 = fam === FAMILY_V4 ? 4 : fam === FAMILY_V6 ? 16 : -1;
      if (alen4 < 0 || alen !== 4 + alen4) return null;
      const addr16 = new Uint8Array(16);
      const dst = fam === FAMILY_V4 ? 12 : 0;
      if (fam === FAMILY_V4) {
        addr16[10] = 0xff;
        addr16[11] = 0xff;
      }
      for (let i = 0; i < alen4; i++) addr16[dst + i] = b[v + 4 + i] ^ (xor ? b[4 + i] : 0);
      const port = readU16(b, v + 2) ^ (xor ? STUN_MAGIC_COOKIE >>> 16 : 0);
      const m = { txid: b.slice(8, 8 + STUN_TXID_SIZE), addr16, port };
      if (xor) return m;
      plain = m;
    }
    o = v + ((alen + 3) & ~3);
  }
  return plain;
}

function isV4Mapped16(a: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  return a[10] === 0xff && a[11] === 0xff;
}
