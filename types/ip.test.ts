// Table tests and a seeded fuzz for the most shared parser in the tree. References for the fuzz: Node's
// net.isIP (same strictness: dotted-decimal IPv4 without leading zeros, IPv6 with an optional trailing IPv4)
// and the WHATWG URL host serializer (RFC 5952 compression, lowercase) for the canonical IPv6 text.
import { isIP } from 'node:net';
import { describe, expect, it } from 'vitest';
import { seededRng as rng } from './seeded-rng.js';
import {
  compareIP,
  formatAddrPort,
  formatIP,
  formatPrefix,
  hasHostBits,
  maskPrefix,
  parseAddrPort,
  parseIP,
  parsePrefix,
  prefixContains,
  type IPPrefix,
} from './ip.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const pfx = (s: string): IPPrefix => {
  const p = parsePrefix(s);
  if (!p) throw new Error(`bad test prefix ${s}`);
  return p;
};
const ip = (s: string): Uint8Array => {
  const a = parseIP(s);
  if (!a) throw new Error(`bad test address ${s}`);
  return a.bytes;
};

describe('parseIP: IPv4', () => {
  it.each([
    { s: '0.0.0.0', hex: '00000000' },
    { s: '255.255.255.255', hex: 'ffffffff' },
    { s: '100.64.0.1', hex: '64400001' },
    { s: '1.2.3.4', hex: '01020304' },
    { s: '10.0.0.0', hex: '0a000000' },
  ])('$s', ({ s, hex: want }) => {
    const a = parseIP(s);
    expect(a?.family).toBe(4);
    expect(hex(a!.bytes)).toBe(want);
    expect(formatIP(a!.bytes)).toBe(s);
  });

  it.each([
    // leading zeros are ambiguous (octal in inet_aton), so refused
    '01.2.3.4', '1.2.3.04', '00.0.0.0', '1.2.3.000',
    // out of range, wrong part count, empty parts
    '256.0.0.0', '1.2.3.256', '1.2.3', '1.2.3.4.5', '1..3.4', '.1.2.3', '1.2.3.', '', '.',
    // other spellings inet_aton accepts
    '0x1.2.3.4', '1e1.2.3.4', '16909060', '1.2.772',
    // signs, spaces, non-ASCII digits, a port, a prefix
    '+1.2.3.4', '-1.2.3.4', ' 1.2.3.4', '1.2.3.4 ', '1.2.3.4\n', '١.2.3.4', '1.2.3.4:80', '1.2.3.4/32',
  ])('refuses %j', (s) => {
    expect(parseIP(s)).toBeNull();
  });
});

describe('parseIP: IPv6', () => {
  it.each([
    // canonical text is RFC 5952: lowercase, no leading zeros, the longest (first on a tie) run of ≥2 zero groups as ::
    { s: '::', canon: '::' },
    { s: '::1', canon: '::1' },
    { s: '1::', canon: '1::' },
    { s: '0:0:0:0:0:0:0:0', canon: '::' },
    { s: '0000:0000:0000:0000:0000:0000:0000:0001', canon: '::1' },
    { s: '2001:DB8::A', canon: '2001:db8::a' },
    { s: '2001:db8:0:0:1:0:0:1', canon: '2001:db8::1:0:0:1' },
    { s: '2001:0:0:1:0:0:0:1', canon: '2001:0:0:1::1' },
    { s: '2001:db8:0:1:1:1:1:1', canon: '2001:db8:0:1:1:1:1:1' },
    { s: '1:2:3:4:5:6:7::', canon: '1:2:3:4:5:6:7:0' },
    { s: '::2:3:4:5:6:7:8', canon: '0:2:3:4:5:6:7:8' },
    { s: 'fd7a:115c:a1e0::1', canon: 'fd7a:115c:a1e0::1' },
    // embedded IPv4 in the last 32 bits (formatted as hex words)
    { s: '::ffff:1.2.3.4', canon: '::ffff:102:304' },
    { s: '::1.2.3.4', canon: '::102:304' },
    { s: '1:2:3:4:5:6:1.2.3.4', canon: '1:2:3:4:5:6:102:304' },
    { s: '1:2:3:4:5::255.255.255.255', canon: '1:2:3:4:5:0:ffff:ffff' },
    { s: '0000:0000:0000:0000:0000:ffff:255.255.255.255', canon: '::ffff:ffff:ffff' },
  ])('$s → $canon', ({ s, canon }) => {
    const a = parseIP(s);
    expect(a?.family).toBe(6);
    expect(formatIP(a!.bytes)).toBe(canon);
    expect(hex(parseIP(canon)!.bytes)).toBe(hex(a!.bytes));
  });

  it.each([
    // colons in the wrong places
    ':', ':::', '::::', '1:::2', '1::2::3', ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7:', ':1::', '1::2:',
    // too many or too few groups; :: must stand for at least one group
    '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8::', '::1:2:3:4:5:6:7:8', '1:2:3:4::5:6:7:8',
    // bad groups
    '12345::', '::g', '::-1', ':: 1', '1 ::',
    // zones, brackets, prefixes, ports are for other parsers
    'fe80::1%eth0', 'fe80::1%1', '[::1]', '::1/128', '[::1]:80',
    // embedded IPv4: only last, only dotted decimal, only four parts, no leading zeros, and it counts as two groups
    '::1.2.3.4:1', '1.2.3.4::', '::1.2.3', '::1.2.3.4.5', '::ffff:001.2.3.4', '::256.1.1.1', '1:2:3:4:5:6:7:1.2.3.4', '1:2:3:4:5:6::1.2.3.4',
    // longer than any valid text
    '0000:0000:0000:0000:0000:0000:0000:0000:',
  ])('refuses %j', (s) => {
    expect(parseIP(s)).toBeNull();
  });
});

describe('formatIP and formatAddrPort', () => {
  it.each([
    { bytes: '00000000000000000000000000000000', want: '::' },
    { bytes: '00010000000000000000000000000000', want: '1::' },
    // a single zero group is not compressed
    { bytes: '00010000000100010001000100010001', want: '1:0:1:1:1:1:1:1' },
    // equal runs: the first one
    { bytes: '00010000000000010000000000010001', want: '1::1:0:0:1:1' },
    // the longest run wins over an earlier shorter one
    { bytes: '00010000000000010000000000000001', want: '1:0:0:1::1' },
    { bytes: 'fe800000000000000000000000000001', want: 'fe80::1' },
  ])('$want', ({ bytes, want }) => {
    expect(formatIP(Buffer.from(bytes, 'hex'))).toBe(want);
  });

  it.each([
    { addr: '1.2.3.4', port: 80, want: '1.2.3.4:80' },
    { addr: '::1', port: 51820, want: '[::1]:51820' },
    { addr: '0.0.0.0', port: 0, want: '0.0.0.0:0' },
  ])('formatAddrPort $want', ({ addr, port, want }) => {
    expect(formatAddrPort(ip(addr), port)).toBe(want);
  });
});

describe('parsePrefix', () => {
  it.each([
    { s: '0.0.0.0/0', bits: 0, host: false },
    { s: '10.0.0.0/8', bits: 8, host: false },
    { s: '10.0.0.1/8', bits: 8, host: true },
    { s: '100.64.0.0/10', bits: 10, host: false },
    { s: '100.127.255.255/10', bits: 10, host: true },
    { s: '1.2.3.4/32', bits: 32, host: false },
    { s: '1.2.3.4', bits: 32, host: false },
    { s: '::/0', bits: 0, host: false },
    { s: '::1/0', bits: 0, host: true },
    { s: 'fd7a:115c:a1e0::/48', bits: 48, host: false },
    { s: 'fd7a:115c:a1e0:1::/48', bits: 48, host: true },
    { s: '::1/128', bits: 128, host: false },
    { s: '::1', bits: 128, host: false },
    { s: '::ffff:1.2.3.0/120', bits: 120, host: false },
  ])('$s: /$bits, host bits $host', ({ s, bits, host }) => {
    const p = pfx(s);
    expect(p.bits).toBe(bits);
    expect(hasHostBits(p)).toBe(host);
    const m = maskPrefix(p);
    expect(hasHostBits(m)).toBe(false);
    expect(prefixContains(m, p.bytes)).toBe(true);
    expect(hasHostBits(p)).toBe(hex(m.bytes) !== hex(p.bytes));
  });

  it.each([
    '1.2.3.4/33', '::/129', '1.2.3.4/08', '::/00', '1.2.3.4/', '1.2.3.4/1/2', '/8', '1.2.3.4/+8', '1.2.3.4/-1', '1.2.3.4/ 8',
    '1.2.3.4/8 ', '1.2.3.4/0x8', '1.2.3.4/1000', '01.2.3.4/8', 'fe80::1%eth0/64', '[::1]/128', '', '/',
  ])('refuses %j', (s) => {
    expect(parsePrefix(s)).toBeNull();
  });

  it.each([
    { p: '10.0.0.0/8', a: '10.255.255.255', want: true },
    { p: '10.0.0.0/8', a: '11.0.0.0', want: false },
    { p: '0.0.0.0/0', a: '255.255.255.255', want: true },
    { p: '100.64.0.0/10', a: '100.127.0.1', want: true },
    { p: '100.64.0.0/10', a: '100.128.0.1', want: false },
    { p: '1.2.3.4/32', a: '1.2.3.5', want: false },
    { p: '::/0', a: '1.2.3.4', want: false }, // families never mix
    { p: '0.0.0.0/0', a: '::', want: false },
    { p: 'fd7a:115c:a1e0::/48', a: 'fd7a:115c:a1e0:ffff::1', want: true },
    { p: 'fd7a:115c:a1e0::/48', a: 'fd7a:115c:a1e1::1', want: false },
    { p: '::ffff:0.0.0.0/96', a: '::ffff:1.2.3.4', want: true },
  ])('prefixContains($p, $a) = $want', ({ p, a, want }) => {
    expect(prefixContains(pfx(p), ip(a))).toBe(want);
  });

  it.each([
    { a: '1.2.3.4', b: '1.2.3.4', sign: 0 },
    { a: '1.2.3.4', b: '1.2.3.5', sign: -1 },
    { a: '128.0.0.0', b: '127.255.255.255', sign: 1 },
    { a: '::1', b: '::', sign: 1 },
    { a: '1.2.3.4', b: '::', sign: -1 }, // v4 sorts before v6
  ])('compareIP($a, $b) has sign $sign', ({ a, b, sign }) => {
    expect(Math.sign(compareIP(ip(a), ip(b)))).toBe(sign);
  });
});

describe('parseAddrPort', () => {
  it.each([
    { s: '1.2.3.4:80', addr: '1.2.3.4', port: 80 },
    { s: '[::1]:51820', addr: '::1', port: 51820 },
    { s: '[::ffff:1.2.3.4]:0', addr: '::ffff:102:304', port: 0 },
    { s: '1.2.3.4:65535', addr: '1.2.3.4', port: 65535 },
    { s: '1.2.3.4:080', addr: '1.2.3.4', port: 80 }, // like Go's netip: the port is a plain decimal
  ])('$s', ({ s, addr, port }) => {
    const ap = parseAddrPort(s);
    expect(ap && formatIP(ap.addr.bytes)).toBe(addr);
    expect(ap?.port).toBe(port);
  });

  it.each([
    '1.2.3.4', '1.2.3.4:', '1.2.3.4:65536', '1.2.3.4:-1', '1.2.3.4:123456', '1.2.3.4: 80', ':80', '::1:80', '[::1]', '[::1]:',
    '[::1]80', '[1.2.3.4]:80', '[::1]]:80', '[[::1]:80', '[fe80::1%eth0]:80', 'host:80', '',
  ])('refuses %j', (s) => {
    expect(parseAddrPort(s)).toBeNull();
  });
});

describe('parsers never throw, whatever they are handed', () => {
  // Values that reach the parsers from JSON (netmaps, LocalAPI bodies, policy files) are not always strings.
  it.each([undefined, null, 42, {}, [], ['1.2.3.4'], true])('%j', (v) => {
    const s = v as unknown as string;
    expect(parseIP(s)).toBeNull();
    expect(parsePrefix(s)).toBeNull();
    expect(parseAddrPort(s)).toBeNull();
  });
});

describe('fuzz (seeded)', () => {
  const ALPHABET = '0123456789abcdefABCDEFg::::....//%[]- ';
  const randomText = (r: () => number, maxLen: number): string => {
    let s = '';
    const n = Math.floor(r() * maxLen);
    for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(r() * ALPHABET.length)];
    return s;
  };
  /** 4 or 16 random bytes, often with runs of zeros (so :: compression and its ties get exercised). */
  const randomAddr = (r: () => number): Uint8Array => {
    const b = new Uint8Array(r() < 0.3 ? 4 : 16);
    for (let i = 0; i < b.length; i++) b[i] = r() < 0.5 ? 0 : Math.floor(r() * 256);
    return b;
  };
  /** Valid texts in several spellings, then cut or mutated at one random place. */
  const nearValid = (r: () => number): string => {
    const b = randomAddr(r);
    let s = formatIP(b);
    if (b.length === 16 && r() < 0.3) s = s.toUpperCase();
    if (b.length === 16 && r() < 0.3) s = `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
    if (r() < 0.3) s += `/${Math.floor(r() * 140)}`;
    const cut = Math.floor(r() * (s.length + 1));
    const k = r();
    if (k < 0.4) return s.slice(0, cut);
    if (k < 0.7) return s.slice(0, cut) + ALPHABET[Math.floor(r() * ALPHABET.length)] + s.slice(cut);
    if (k < 0.85) return s.slice(0, cut) + s.slice(cut + 1);
    return s;
  };

  it('agrees with net.isIP and the WHATWG serializer, and round-trips, on random and truncated text', () => {
    const r = rng(0x1b5eed);
    let accepted = 0;
    for (let i = 0; i < 60_000; i++) {
      const s = i % 2 === 0 ? randomText(r, 24) : nearValid(r);
      const a = parseIP(s);
      // net.isIP allows zone ids (`fe80::1%eth0`); we refuse them on purpose.
      const want = s.includes('%') ? 0 : isIP(s);
      if ((a?.family ?? 0) !== want) expect.fail(`parseIP(${JSON.stringify(s)}) family ${a?.family ?? 0}, net.isIP says ${want}`);
      if (!a) continue;
      accepted++;
      const text = formatIP(a.bytes);
      if (a.family === 6) {
        const canon = new URL(`http://[${s}]/`).hostname.slice(1, -1);
        if (text !== canon) expect.fail(`formatIP(parseIP(${JSON.stringify(s)})) = ${text}, WHATWG says ${canon}`);
      }
      const again = parseIP(text);
      if (!again || hex(again.bytes) !== hex(a.bytes) || formatIP(again.bytes) !== text) expect.fail(`round trip of ${JSON.stringify(s)} via ${text}`);
    }
    // the generator must actually reach the accepting paths, or the test proves little
    expect(accepted).toBeGreaterThan(5_000);
  });

  it('prefixes and addr:port: no throw, and format(parse(x)) parses back to the same value', () => {
    const r = rng(0x9e3779b9);
    let prefixes = 0;
    let addrPorts = 0;
    for (let i = 0; i < 60_000; i++) {
      const s = i % 2 === 0 ? randomText(r, 30) : nearValid(r);
      const p = parsePrefix(s);
      if (p) {
        prefixes++;
        const q = parsePrefix(formatPrefix(p));
        if (!q || q.bits !== p.bits || hex(q.bytes) !== hex(p.bytes)) expect.fail(`prefix round trip of ${JSON.stringify(s)}`);
        if (p.bits > (p.family === 4 ? 32 : 128)) expect.fail(`${s}: bits out of range`);
        if (hasHostBits(maskPrefix(p))) expect.fail(`${s}: masked prefix keeps host bits`);
      }
      const b = randomAddr(r);
      const port = Math.floor(r() * 65536);
      const text = formatAddrPort(b, port);
      const apText = r() < 0.5 ? text : text.slice(0, Math.floor(r() * text.length));
      const ap = parseAddrPort(apText);
      if (apText === text) {
        if (!ap || ap.port !== port || hex(ap.addr.bytes) !== hex(b)) expect.fail(`addr:port round trip of ${text}`);
        addrPorts++;
      } else if (ap && formatAddrPort(ap.addr.bytes, ap.port) !== apText && !/:0\d/.test(apText)) {
        // a truncation can still be valid (`1.2.3.4:655` from `…:6553`); then it must format back to itself
        expect.fail(`${apText} parsed but formats as ${formatAddrPort(ap.addr.bytes, ap.port)}`);
      }
    }
    expect(prefixes).toBeGreaterThan(5_000);
    expect(addrPorts).toBeGreaterThan(20_000);
  });
});
