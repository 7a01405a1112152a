// The packet builder: every header it writes has the length and fields its RFC says, and every checksum
// verifies with an independent one's-complement sum (the receiving kernel drops anything else). Whether
// the filter parses these packets as what they claim is tested beside the parser
// (filter/packet-parser.test.ts).
import { describe, expect, it } from 'vitest';
import { buildFillerPacket, buildPacket, type PacketSpec } from './build.js';
import { crc32c } from './checksum.js';
import { TCP_ACK, TCP_RST, TCP_SYN } from './headers.js';
import { buildEchoRequest, echoReplyKey } from './icmp-echo.js';
import { buildProbe, DEFAULT_PROBE_SPORT } from './probe.js';
import { buildResetToLocal, buildResetToRemote } from './tcp-reset.js';

const V4 = ['100.64.0.1', '100.64.0.2'] as const;
const V6 = ['fd7a:115c:a1e0::1', 'fd7a:115c:a1e0::2'] as const;

/** One's-complement sum over [off, off+len) plus `acc`, folded: 0xffff over a region with a valid checksum. */
function csum(buf: Uint8Array, off: number, len: number, acc = 0): number {
  for (let i = 0; i < len; i += 2) acc += (buf[off + i] << 8) | (i + 1 < len ? buf[off + i + 1] : 0);
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return acc;
}

/** Transport offset (after IPv4 options-less header or IPv6 header plus an optional fragment header). */
function l4(pkt: Uint8Array): number {
  if (pkt[0] >> 4 === 4) return 20;
  return pkt[6] === 44 ? 48 : 40;
}

function pseudo(pkt: Uint8Array, proto: number): number {
  const v6 = pkt[0] >> 4 === 6;
  return (v6 ? csum(pkt, 8, 32) : csum(pkt, 12, 8)) + proto + (pkt.length - l4(pkt));
}

function u16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

function spec(family: 4 | 6, proto: PacketSpec['proto'], extra: Partial<PacketSpec> = {}): PacketSpec {
  const [src, dst] = family === 4 ? V4 : V6;
  return { src, dst, proto, sport: 40000, dport: 5000, ...extra };
}

describe('buildPacket: headers and checksums', () => {
  // hdr: transport header length; sum: how the transport is checksummed
  const rows: { name: string; s: PacketSpec; proto: number; hdr: number; sum: 'pseudo' | 'plain' | 'crc32c' | 'none' }[] = [];
  for (const family of [4, 6] as const) {
    rows.push(
      { name: `v${family} TCP SYN`, s: spec(family, 'tcp'), proto: 6, hdr: 20, sum: 'pseudo' },
      { name: `v${family} TCP with options`, s: spec(family, 'tcp', { tcpOptions: Uint8Array.of(2, 4, 5, 0xb4, 1) }), proto: 6, hdr: 28, sum: 'pseudo' },
      { name: `v${family} UDP odd payload`, s: spec(family, 'udp', { payload: Uint8Array.of(1, 2, 3) }), proto: 17, hdr: 8, sum: 'pseudo' },
      { name: `v${family} UDP-Lite`, s: spec(family, 136), proto: 136, hdr: 8, sum: 'pseudo' },
      { name: `v${family} DCCP-Request`, s: spec(family, 'dccp'), proto: 33, hdr: 20, sum: 'pseudo' },
      { name: `v${family} SCTP INIT`, s: spec(family, 'sctp'), proto: 132, hdr: 12, sum: 'crc32c' },
      { name: `v${family} GRE`, s: spec(family, 'gre'), proto: 47, hdr: 4, sum: 'none' },
      { name: `v${family} ESP, bare`, s: spec(family, 'esp', { payload: new Uint8Array(8) }), proto: 50, hdr: 0, sum: 'none' },
    );
  }
  rows.push(
    { name: 'v4 ICMP echo (message-only checksum)', s: spec(4, 'icmp', { payload: new Uint8Array(5) }), proto: 1, hdr: 8, sum: 'plain' },
    { name: 'v6 icmp means ICMPv6 (pseudo-header checksum)', s: spec(6, 'icmp', { payload: new Uint8Array(5) }), proto: 58, hdr: 8, sum: 'pseudo' },
    { name: 'v6 ICMPv6 fragment', s: spec(6, 'icmpv6', { fragOffset: 0, moreFragments: true, ipId: 7 }), proto: 58, hdr: 8, sum: 'pseudo' },
    { name: 'v6 number 1 is literal: bare', s: spec(6, 1), proto: 1, hdr: 0, sum: 'none' },
    { name: 'v4 number 58 is literal: bare', s: spec(4, 58), proto: 58, hdr: 0, sum: 'none' },
  );

  it.each(rows)('$name', ({ s, proto, hdr, sum }) => {
    const pkt = buildPacket(s);
    const t = l4(pkt);
    const payload = s.payload?.length ?? (proto === 132 ? 20 : 0);
    expect(pkt.length).toBe(t + hdr + payload);
    if (pkt[0] >> 4 === 4) {
      expect(csum(pkt, 0, 20)).toBe(0xffff);
      expect(u16(pkt, 2)).toBe(pkt.length);
      expect(pkt[9]).toBe(proto);
    } else {
      expect(u16(pkt, 4)).toBe(pkt.length - 40);
      expect(t === 48 ? pkt[40] : pkt[6]).toBe(proto);
    }
    if (hdr >= 4 && proto !== 47 && proto !== 1 && proto !== 58) expect([u16(pkt, t), u16(pkt, t + 2)]).toEqual([40000, 5000]);
    if (sum === 'pseudo') expect(csum(pkt, t, pkt.length - t, pseudo(pkt, proto))).toBe(0xffff);
    if (sum === 'plain') expect(csum(pkt, t, pkt.length - t)).toBe(0xffff);
    if (sum === 'crc32c') {
      const copy = pkt.slice(t);
      const stored = (copy[8] | (copy[9] << 8) | (copy[10] << 16) | (copy[11] << 24)) >>> 0;
      copy.fill(0, 8, 12);
      expect(crc32c(copy, 0, copy.length)).toBe(stored);
    }
  });

  it('TCP fields: flags, seq, ack, data offset, window', () => {
    const p = buildPacket(spec(4, 'tcp', { tcpFlags: TCP_RST | TCP_ACK, seq: 0xfffffff0, ack: 7, tcpOptions: Uint8Array.of(1) }));
    expect([p[33], u16(p, 24) * 65536 + u16(p, 26), u16(p, 28) * 65536 + u16(p, 30), p[32] >> 4, u16(p, 34)]).toEqual([TCP_RST | TCP_ACK, 0xfffffff0, 7, 6, 0]);
    expect(u16(buildPacket(spec(4, 'tcp')), 34)).toBe(65535); // SYN: open window
  });

  it('DCCP-Request: data offset 5 words, X = 1, type Request', () => {
    const p = buildPacket(spec(4, 'dccp'));
    expect([p[24], p[28] & 1, (p[28] >> 1) & 0x0f]).toEqual([5, 1, 0]);
  });

  it.each([
    { name: 'v4 first fragment', family: 4 as const, off: 0, mf: true, want: 0x2000 },
    { name: 'v4 later fragment', family: 4 as const, off: 1480, mf: false, want: 185 },
    { name: 'v6 later fragment', family: 6 as const, off: 1448, mf: true, want: 1448 | 1 },
  ])('$name: offset and more-fragments bits', ({ family, off, mf, want }) => {
    const p = buildPacket(spec(family, 'udp', { fragOffset: off, moreFragments: mf, ipId: 0x01020304 }));
    if (family === 4) expect(u16(p, 6)).toBe(want);
    else expect([p[6], p[40], u16(p, 42), u16(p, 44) * 65536 + u16(p, 46)]).toEqual([44, 17, want, 0x01020304]);
  });

  it('unfragmented IPv4 sets don\'t-fragment', () => {
    expect(u16(buildPacket(spec(4, 'udp')), 6)).toBe(0x4000);
  });

  it.each([
    { name: 'mixed families', s: { src: V4[0], dst: V6[1], proto: 'tcp' }, code: 'ERR_PROBE_ADDR' },
    { name: 'bad address', s: { src: '100.64.0.256', dst: V4[1], proto: 'tcp' }, code: 'ERR_PROBE_ADDR' },
    { name: 'unknown protocol name', s: { src: V4[0], dst: V4[1], proto: 'bogus' }, code: 'ERR_PROBE_PROTO' },
    { name: 'protocol number out of range', s: { src: V4[0], dst: V4[1], proto: 256 }, code: 'ERR_PROBE_PROTO' },
  ])('throws $code on $name', ({ s, code }) => {
    expect(() => buildPacket(s)).toThrow(expect.objectContaining({ code }));
  });

  it('crc32c matches the published check value ("123456789" → 0xE3069283)', () => {
    expect(crc32c(new TextEncoder().encode('123456789'), 0, 9)).toBe(0xe3069283);
  });

  it('filler packets: protocol 253, the asked length, filled', () => {
    const p4 = buildFillerPacket('10.0.0.1', '10.0.0.2', 5);
    const p6 = buildFillerPacket('fd00::1', 'fd00::2', 0, 0xcd);
    expect([p4.length, p4[9], p4[24]]).toEqual([25, 253, 0xab]);
    expect([p6.length, p6[6]]).toEqual([40, 253]);
  });
});

describe('buildProbe', () => {
  it.each([
    { name: 'tcp → SYN from the default source port', q: { src: V4[0], dst: V4[1], proto: 6, dport: 22 }, at: [[9, 6], [33, TCP_SYN], [20, DEFAULT_PROBE_SPORT >> 8], [23, 22]] },
    { name: 'udp by name', q: { src: V4[0], dst: V4[1], proto: 'udp', dport: 53 }, at: [[9, 17], [23, 53]] },
    { name: 'icmp (1) over IPv4 → ICMP echo request', q: { src: V4[0], dst: V4[1], proto: 1 }, at: [[9, 1], [20, 8]] },
    { name: 'icmp (1) over IPv6 → ICMPv6 echo request', q: { src: V6[0], dst: V6[1], proto: 1 }, at: [[6, 58], [40, 128]] },
    { name: 'icmpv6 (58) over IPv4 → ICMP echo request', q: { src: V4[0], dst: V4[1], proto: 'icmpv6' }, at: [[9, 1], [20, 8]] },
    { name: 'gre', q: { src: V6[0], dst: V6[1], proto: 'gre' }, at: [[6, 47], [42, 0x08]] },
    { name: 'sctp with its 12-byte common header', q: { src: V4[0], dst: V4[1], proto: 132, dport: 9899 }, at: [[9, 132], [22, 9899 >> 8]] },
  ])('$name', ({ q, at }) => {
    const p = buildProbe(q);
    for (const [off, want] of at) expect(p[off]).toBe(want);
  });

  it('rejects an unknown protocol and mixed families', () => {
    expect(() => buildProbe({ src: V4[0], dst: V4[1], proto: 'bogus' })).toThrow(/bad probe protocol/);
    expect(() => buildProbe({ src: V4[0], dst: V6[0], proto: 6 })).toThrow(/same IP family/);
  });
});

describe('TCP resets for a revoked flow', () => {
  const flow = { local: V4[1], localPort: 22, remote: V4[0], remotePort: 40000, tcp: { remoteNextSeq: 111, localNextSeq: 901 } };
  it.each([
    { name: 'toward local: from the peer, seq = what local expects, RST', pkt: buildResetToLocal(flow)!, src: 0, sport: 40000, seq: 111, ack: 0, flags: TCP_RST },
    { name: 'toward remote: from local, seq = what the peer expects, RST|ACK', pkt: buildResetToRemote(flow)!, src: 1, sport: 22, seq: 901, ack: 111, flags: TCP_RST | TCP_ACK },
  ])('$name', ({ pkt, src, sport, seq, ack, flags }) => {
    expect(pkt[15]).toBe(src + 1); // 100.64.0.1 or .2
    expect([u16(pkt, 20), u16(pkt, 24) * 65536 + u16(pkt, 26), u16(pkt, 28) * 65536 + u16(pkt, 30), pkt[33]]).toEqual([sport, seq, ack, flags]);
    expect(csum(pkt, 20, pkt.length - 20, pseudo(pkt, 6))).toBe(0xffff);
  });

  it('nothing to reset without TCP state', () => {
    expect(buildResetToLocal({ ...flow, tcp: undefined })).toBeNull();
    expect(buildResetToRemote({ ...flow, tcp: undefined })).toBeNull();
  });
});

describe('ICMP echo', () => {
  it('v4 echo request: type 8, id and seq, checksum over the message only', () => {
    const pkt = buildEchoRequest(V4[0], V4[1], 0x1234, 0x5678, new Uint8Array(16));
    expect([pkt[9], pkt[20], u16(pkt, 24), u16(pkt, 26)]).toEqual([1, 8, 0x1234, 0x5678]);
    expect(csum(pkt, 20, pkt.length - 20)).toBe(0xffff);
  });

  it('v6 echo request: type 128 with a pseudo-header checksum', () => {
    const pkt = buildEchoRequest(V6[0], V6[1], 7, 9, new Uint8Array(5));
    expect([pkt[6], pkt[40]]).toEqual([58, 128]);
    expect(csum(pkt, 40, pkt.length - 40, pseudo(pkt, 58))).toBe(0xffff);
  });

  it('echoReplyKey matches echo replies only', () => {
    const req = buildEchoRequest(V4[0], V4[1], 0x1234, 0x5678);
    expect(echoReplyKey(req, 0, req.length)).toBe(-1);
    const reply = Uint8Array.from(req);
    reply[20] = 0;
    expect(echoReplyKey(reply, 0, reply.length)).toBe(0x12345678);
    const r6 = buildEchoRequest(V6[0], V6[1], 1, 2);
    r6[40] = 129;
    expect(echoReplyKey(r6, 0, r6.length)).toBe(0x00010002);
    expect(echoReplyKey(r6, 4, r6.length)).toBe(-1); // window past the buffer
  });

  it('echoReplyKey never throws on random or truncated input (fuzz)', () => {
    let seed = 99;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    const base = buildEchoRequest(V4[0], V4[1], 1, 1);
    for (let i = 0; i < 20000; i++) {
      const len = i % 64;
      const buf = i % 2 === 0 ? Uint8Array.from({ length: len }, rnd) : base.slice(0, Math.min(len, base.length));
      const k = echoReplyKey(buf, 0, buf.length);
      expect(k === -1 || k >= 0).toBe(true);
    }
  });
});
