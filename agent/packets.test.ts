// Packets the agent writes must carry valid checksums (the receiving kernel drops anything else) and
// parse as what they claim to be; echoReplyKey reads network input, so it is fuzzed.
import { describe, expect, it } from 'vitest';
import { buildEchoRequest, buildProbe, buildTcp, buildUdp, echoReplyKey, TCP_FLAG_RST, TCP_FLAG_SYN } from './packets.js';

/** One's-complement sum over [off, off+len) plus `acc`, folded (0xffff when a checksummed region is valid). */
function csum(buf: Uint8Array, off: number, len: number, acc = 0): number {
  for (let i = 0; i < len; i += 2) acc += (buf[off + i] << 8) | (i + 1 < len ? buf[off + i + 1] : 0);
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return acc;
}

function pseudo(buf: Uint8Array, proto: number): number {
  const v6 = buf[0] >> 4 === 6;
  const l4 = v6 ? 40 : 20;
  const segLen = buf.length - l4;
  return (v6 ? csum(buf, 8, 32) : csum(buf, 12, 8)) + proto + segLen;
}

describe('agent packets', () => {
  it.each([
    { name: 'v4 TCP SYN', pkt: buildTcp({ src: '100.64.0.1', dst: '100.64.0.2', sport: 40000, dport: 22, seq: 0xfffffff0, ack: 0, flags: TCP_FLAG_SYN }), proto: 6 },
    { name: 'v6 TCP RST', pkt: buildTcp({ src: 'fd7a:115c:a1e0::1', dst: 'fd7a:115c:a1e0::2', sport: 22, dport: 40000, seq: 7, ack: 9, flags: TCP_FLAG_RST }), proto: 6 },
    { name: 'v4 UDP odd payload', pkt: buildUdp('100.64.0.1', '100.64.0.2', 5353, 53, Uint8Array.of(1, 2, 3)), proto: 17 },
    { name: 'v6 UDP', pkt: buildUdp('fd7a:115c:a1e0::1', 'fd7a:115c:a1e0::2', 5353, 53), proto: 17 },
    { name: 'v6 echo request', pkt: buildEchoRequest('fd7a:115c:a1e0::1', 'fd7a:115c:a1e0::2', 7, 9, new Uint8Array(5)), proto: 58 },
  ])('$name: valid transport checksum and lengths', ({ pkt, proto }) => {
    const v6 = pkt[0] >> 4 === 6;
    const l4 = v6 ? 40 : 20;
    if (!v6) {
      expect(csum(pkt, 0, 20)).toBe(0xffff);
      expect((pkt[2] << 8) | pkt[3]).toBe(pkt.length);
      expect(pkt[9]).toBe(proto);
    } else {
      expect((pkt[4] << 8) | pkt[5]).toBe(pkt.length - 40);
      expect(pkt[6]).toBe(proto);
    }
    expect(csum(pkt, l4, pkt.length - l4, pseudo(pkt, proto))).toBe(0xffff);
  });

  it('v4 echo request: ICMP checksum over the message only', () => {
    const pkt = buildEchoRequest('100.64.0.1', '100.64.0.2', 0x1234, 0x5678, new Uint8Array(16));
    expect(pkt[20]).toBe(8);
    expect(csum(pkt, 20, pkt.length - 20)).toBe(0xffff);
  });

  it('echoReplyKey matches echo replies only', () => {
    const req = buildEchoRequest('100.64.0.1', '100.64.0.2', 0x1234, 0x5678);
    expect(echoReplyKey(req, 0, req.length)).toBe(-1);
    const reply = Uint8Array.from(req);
    reply[20] = 0;
    expect(echoReplyKey(reply, 0, reply.length)).toBe(0x12345678);
    const r6 = buildEchoRequest('fd7a:115c:a1e0::1', 'fd7a:115c:a1e0::2', 1, 2);
    r6[40] = 129;
    expect(echoReplyKey(r6, 0, r6.length)).toBe(0x00010002);
  });

  it('echoReplyKey never throws on random or truncated input (fuzz)', () => {
    let seed = 99;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    const base = buildEchoRequest('100.64.0.1', '100.64.0.2', 1, 1);
    for (let i = 0; i < 20000; i++) {
      const len = i % 64;
      const buf = i % 2 === 0 ? Uint8Array.from({ length: len }, rnd) : base.slice(0, Math.min(len, base.length));
      const k = echoReplyKey(buf, 0, buf.length);
      expect(k === -1 || k >= 0).toBe(true);
    }
  });

  it('buildProbe picks the packet kind by protocol', () => {
    expect(buildProbe({ src: '100.64.0.1', dst: '100.64.0.2', proto: 6, dport: 22 })[33]).toBe(TCP_FLAG_SYN);
    expect(buildProbe({ src: '100.64.0.1', dst: '100.64.0.2', proto: 17, dport: 53 })[9]).toBe(17);
    expect(buildProbe({ src: '100.64.0.1', dst: '100.64.0.2', proto: 1 })[20]).toBe(8);
    expect(buildProbe({ src: '100.64.0.1', dst: '100.64.0.2', proto: 47 })[9]).toBe(47);
    expect(() => buildProbe({ src: '100.64.0.1', dst: 'fd7a::1', proto: 6 })).toThrow(/same IP family/);
  });
});
