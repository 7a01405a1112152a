// STUN codec: the RFC 5769 §2.2 IPv4 and §2.3 IPv6 mapped addresses, round trips for IPv4 and IPv6, rejection of
// malformed messages, and a bounded fuzz (random and truncated input never throws).
import { describe, expect, it } from 'vitest';
import { seededRng } from '../types/seeded-rng.js';
import { encodeBindingRequest, encodeBindingSuccess, isStunMessage, parseBindingRequest, parseBindingSuccess } from './stun.js';

const TXID = Uint8Array.from(Buffer.from('b7e7a701bc34d686fa87dfae', 'hex'));
const v4 = (a: number, b: number, c: number, d: number) => Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d);

describe('STUN codec', () => {
  it('decodes RFC 5769 §2.2: XOR-MAPPED-ADDRESS 192.0.2.1:32853 after a SOFTWARE attribute', () => {
    const software = Buffer.from('8022001054455354205645435430522076657220', 'hex'); // "TEST VECTOR " padded
    const xma = Buffer.from('00200008' + '0001a147e112a643', 'hex');
    const body = Buffer.concat([software, xma]);
    const msg = Buffer.concat([Buffer.from([0x01, 0x01, body.length >> 8, body.length & 0xff, 0x21, 0x12, 0xa4, 0x42]), TXID, body]);
    const m = parseBindingSuccess(msg, msg.length);
    expect(m && { port: m.port, addr: [...m.addr16.subarray(12)] }).toEqual({ port: 32853, addr: [192, 0, 2, 1] });
  });

  // §2.3 is the IPv6 response: the same transaction id, XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853,
  // the address XORed with the cookie ‖ transaction id (RFC 8489 §14.2). Our encoder must write exactly those bytes.
  const XMA_V6 = '00200014' + '0002a147' + '0113a9faa5d3f179bc25f4b5bed2b9d9';
  const ADDR_V6 = Uint8Array.from(Buffer.from('20010db8123456780011223344556677', 'hex'));

  it('decodes RFC 5769 §2.3: XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853', () => {
    const body = Buffer.from('80220010' + '7465737420766563746f722020202020'.slice(0, 32) + XMA_V6, 'hex');
    const msg = Buffer.concat([Buffer.from([0x01, 0x01, body.length >> 8, body.length & 0xff, 0x21, 0x12, 0xa4, 0x42]), TXID, body]);
    const m = parseBindingSuccess(msg, msg.length);
    expect(m && { port: m.port, addr: Buffer.from(m.addr16).toString('hex') }).toEqual({ port: 32853, addr: Buffer.from(ADDR_V6).toString('hex') });
  });

  it('encodes the RFC 5769 §2.3 IPv6 XOR-MAPPED-ADDRESS byte for byte', () => {
    const msg = encodeBindingSuccess(TXID, ADDR_V6, 32853);
    expect(Buffer.from(msg.subarray(20)).toString('hex')).toBe(XMA_V6);
  });

  it.each([
    { name: 'IPv4', addr16: v4(198, 51, 100, 7), port: 41641 },
    { name: 'IPv6', addr16: Uint8Array.from(Buffer.from('20010db8123456780011223344556677', 'hex')), port: 32853 },
    { name: 'port 1', addr16: v4(203, 0, 113, 200), port: 1 },
  ])('round-trips a Binding success for $name', ({ addr16, port }) => {
    const msg = encodeBindingSuccess(TXID, addr16, port);
    expect(isStunMessage(msg, msg.length)).toBe(true);
    const m = parseBindingSuccess(msg, msg.length);
    expect(m).not.toBeNull();
    expect([...m!.addr16]).toEqual([...addr16]);
    expect(m!.port).toBe(port);
    expect([...m!.txid]).toEqual([...TXID]);
  });

  it('round-trips a Binding request and tells it apart from WireGuard and disco', () => {
    const req = encodeBindingRequest(TXID);
    expect([...parseBindingRequest(req, req.length)!]).toEqual([...TXID]);
    const wgInit = new Uint8Array(148);
    wgInit[0] = 1;
    expect(isStunMessage(wgInit, wgInit.length)).toBe(false);
    expect(isStunMessage(Uint8Array.from([0x47, 0x57, 0x64, 0x73, 0x63, 0x01, ...new Array(70).fill(0)]), 76)).toBe(false);
  });

  it.each([
    { name: 'too short', mut: (b: Uint8Array) => b.subarray(0, 19) },
    { name: 'wrong cookie', mut: (b: Uint8Array) => (b[4] ^= 1, b) },
    { name: 'top bits set', mut: (b: Uint8Array) => (b[0] |= 0x80, b) },
    { name: 'length beyond the datagram', mut: (b: Uint8Array) => (b[3] = 200, b) },
    { name: 'length not a multiple of 4', mut: (b: Uint8Array) => (b[3] = 2, b) },
    { name: 'attribute longer than the body', mut: (b: Uint8Array) => (b[23] = 40, b) },
    { name: 'unknown family', mut: (b: Uint8Array) => (b[25] = 3, b) },
  ])('rejects a Binding success that is $name', ({ mut }) => {
    const b = mut(Uint8Array.from(encodeBindingSuccess(TXID, v4(192, 0, 2, 1), 9)));
    expect(parseBindingSuccess(b, b.length)).toBeNull();
  });

  it('never throws on random or truncated input (fuzz, 20k cases)', () => {
    const rnd = seededRng(13);
    const good = encodeBindingSuccess(TXID, v4(192, 0, 2, 1), 4000);
    const deadline = Date.now() + 3000;
    for (let i = 0; i < 20_000 && Date.now() < deadline; i++) {
      const b = i % 2 === 0 ? Uint8Array.from(good) : new Uint8Array(Math.floor(rnd() * 80));
      if (i % 2 === 0) for (let k = 0; k < 3; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      else for (let k = 0; k < b.length; k++) b[k] = Math.floor(rnd() * 256);
      if (i % 4 === 1 && b.length >= 8) b.set([0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42]);
      const len = Math.floor(rnd() * (b.length + 1));
      expect(() => {
        parseBindingSuccess(b, len);
        parseBindingRequest(b, len);
        isStunMessage(b, len);
      }).not.toThrow();
    }
  });
});
