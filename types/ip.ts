// IP addresses and prefixes as bytes: strict textual parsing (no leading zeros in IPv4 octets, no zone
// ids), canonical formatting (RFC 5952 for IPv6), and prefix helpers. Shared by policy/, filter/,
// wireguard/ and control/. Parsers return null on bad input; they never throw.

export type IPFamily = 4 | 6;

export interface IPAddr {
  family: IPFamily;
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array;
}

export interface IPPrefix extends IPAddr {
  bits: number;
}

function parseIPv4Into(s: string, out: Uint8Array, off: number): boolean {
  const parts = s.split('.');
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (p.length === 0 || p.length > 3 || !/^[0-9]+$/.test(p)) return false;
    if (p.length > 1 && p[0] === '0') return false;
    const v = Number(p);
    if (v > 255) return false;
    out[off + i] = v;
  }
  return true;
}

function parseIPv6(s: string): Uint8Array | null {
  if (s.length < 2 || s.length > 45) return null;
  const out = new Uint8Array(16);
  const dbl = s.indexOf('::');
  if (dbl !== -1 && s.indexOf('::', dbl + 1) !== -1) return null;
  const head = dbl === -1 ? s : s.slice(0, dbl);
  const tail = dbl === -1 ? '' : s.slice(dbl + 2);
  const headParts = head === '' ? [] : head.split(':');
  const tailParts = tail === '' ? [] : tail.split(':');
  const words: number[] = [];
  const tailWords: number[] = [];
  const parseGroup = (g: string, list: number[], isLast: boolean): boolean => {
    if (isLast && g.includes('.')) {
      const v4 = new Uint8Array(4);
      if (!parseIPv4Into(g, v4, 0)) return false;
      list.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      return true;
    }
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return false;
    list.push(parseInt(g, 16));
    return true;
  };
  for (let i = 0; i < headParts.length; i++) {
    if (!parseGroup(headParts[i], words, dbl === -1 && i === headParts.length - 1)) return null;
  }
  for (let i = 0; i < tailParts.length; i++) {
    if (!parseGroup(tailParts[i], tailWords, i === tailParts.length - 1)) return null;
  }
  const total = words.length + tailWords.length;
  if (dbl === -1) {
    if (total !== 8) return null;
  } else if (total > 7) {
    return null;
  }
  const all = dbl === -1 ? words : [...words, ...new Array<number>(8 - total).fill(0), ...tailWords];
  for (let i = 0; i < 8; i++) {
    out[2 * i] = all[i] >> 8;
    out[2 * i + 1] = all[i] & 0xff;
  }
  return out;
}

/** Parses a textual IPv4 or IPv6 address (no brackets, no zone, no prefix). */
export function parseIP(s: string): IPAddr | null {
  if (typeof s !== 'string') return null;
  if (s.includes(':')) {
    const b = parseIPv6(s);
    return b ? { family: 6, bytes: b } : null;
  }
  const b = new Uint8Array(4);
  return parseIPv4Into(s, b, 0) ? { family: 4, bytes: b } : null;
}

/** Parses `addr/bits`; a bare address is a full-length prefix. Host bits are kept: see `hasHostBits`. */
export function parsePrefix(s: string): IPPrefix | null {
  if (typeof s !== 'string') return null;
  const slash = s.indexOf('/');
  if (slash === -1) {
    const a = parseIP(s);
    return a ? { ...a, bits: a.family === 4 ? 32 : 128 } : null;
  }
  const a = parseIP(s.slice(0, slash));
  const bitsText = s.slice(slash + 1);
  if (!a || !/^[0-9]{1,3}$/.test(bitsText) || (bitsText.length > 1 && bitsText[0] === '0')) return null;
  const bits = Number(bitsText);
  if (bits > (a.family === 4 ? 32 : 128)) return null;
  return { ...a, bits };
}

/** True when bits beyond the prefix length are set (`10.0.0.1/8`). */
export function hasHostBits(p: IPPrefix): boolean {
  const b = p.bytes;
  for (let i = 0; i < b.length; i++) {
    const keep = Math.max(0, Math.min(8, p.bits - 8 * i));
    const mask = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
    if ((b[i] & ~mask & 0xff) !== 0) return true;
  }
  return false;
}

/** The prefix with its host bits cleared. */
export function maskPrefix(p: IPPrefix): IPPrefix {
  const out = new Uint8Array(p.bytes.length);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, p.bits - 8 * i));
    out[i] = p.bytes[i] & (keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff);
  }
  return { family: p.family, bytes: out, bits: p.bits };
}

/** Canonical text: dotted quad, or RFC 5952 IPv6 (lowercase, longest zero run compressed). */
export function formatIP(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((bytes[2 * i] << 8) | bytes[2 * i + 1]);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart === -1) return w.map((x) => x.toString(16)).join(':');
  const left = w.slice(0, bestStart).map((x) => x.toString(16)).join(':');
  const right = w.slice(bestStart + bestLen).map((x) => x.toString(16)).join(':');
  return `${left}::${right}`;
}

export function formatPrefix(p: IPPrefix): string {
  return `${formatIP(p.bytes)}/${p.bits}`;
}

/** True when `addr` (same family) lies inside `p`. */
export function prefixContains(p: IPPrefix, addr: Uint8Array): boolean {
  if (addr.length !== p.bytes.length) return false;
  let bits = p.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((addr[i] & mask) !== (p.bytes[i] & mask)) return false;
  }
  return true;
}

/** Compares two same-length addresses as unsigned big-endian numbers. */
export function compareIP(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/** Parses `ip:port`, `[v6]:port`. Returns null on anything else. */
export function parseAddrPort(s: string): { addr: IPAddr; port: number } | null {
  // Like parseIP and parsePrefix: a non-string (an endpoint from a malformed JSON netmap) is bad input, not a crash.
  if (typeof s !== 'string') return null;
  let host: string;
  let portText: string;
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end === -1 || s[end + 1] !== ':') return null;
    host = s.slice(1, end);
    portText = s.slice(end + 2);
    if (!host.includes(':')) return null;
  } else {
    const colon = s.lastIndexOf(':');
    if (colon === -1) return null;
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (host.includes(':')) return null;
  }
  if (!/^[0-9]{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port > 65535) return null;
  const addr = parseIP(host);
  return addr ? { addr, port } : null;
}

export function formatAddrPort(addr: Uint8Array, port: number): string {
  return addr.length === 16 ? `[${formatIP(addr)}]:${port}` : `${formatIP(addr)}:${port}`;
}
