// Relay framing: frames split at every byte boundary reassemble exactly; bad types and lengths fail the
// stream once with a reason; random streams never throw (fuzz).
import { describe, expect, it } from 'vitest';
import { seededRng } from '../types/seeded-rng.js';
import { encodeFrame, encodePacketFrame, FrameReader, FrameType, MAX_FRAME_PAYLOAD, writeFrameHeader } from './frame.js';

const KEY = new Uint8Array(32).fill(7);
const PROOF = new Uint8Array(32).fill(9);

function collect(): { reader: FrameReader; got: { type: number; payload: string }[] } {
  const got: { type: number; payload: string }[] = [];
  return { reader: new FrameReader((type, p) => got.push({ type, payload: Buffer.from(p).toString('hex') })), got };
}

describe('relay frames', () => {
  const stream = Buffer.concat([
    encodeFrame(FrameType.SERVER_OK, PROOF),
    encodePacketFrame(FrameType.SEND_PACKET, KEY, Buffer.from('hello world'), 0, 11),
    encodeFrame(FrameType.PING, Buffer.alloc(8, 1)),
    encodeFrame(FrameType.PEER_GONE, KEY),
  ]);

  it.each([1, 2, 3, 5, 7, 13, stream.length])('reassembles frames fed in chunks of %i bytes', (size) => {
    const { reader, got } = collect();
    for (let o = 0; o < stream.length; o += size) expect(reader.push(stream.subarray(o, o + size))).toBeNull();
    expect(got.map((g) => g.type)).toEqual([FrameType.SERVER_OK, FrameType.SEND_PACKET, FrameType.PING, FrameType.PEER_GONE]);
    expect(got[1].payload).toBe(Buffer.concat([KEY, Buffer.from('hello world')]).toString('hex'));
  });

  it.each([
    { name: 'unknown type 0', type: 0, len: 0 },
    { name: 'unknown type 99', type: 99, len: 0 },
    { name: 'packet longer than the limit', type: FrameType.SEND_PACKET, len: MAX_FRAME_PAYLOAD + 1 },
    { name: 'packet without data', type: FrameType.SEND_PACKET, len: 32 },
    { name: 'short challenge', type: FrameType.SERVER_CHALLENGE, len: 63 },
    { name: 'OK with a truncated proof', type: FrameType.SERVER_OK, len: 31 },
    { name: 'OK without a proof', type: FrameType.SERVER_OK, len: 0 },
    { name: 'client auth without its nonce', type: FrameType.CLIENT_AUTH, len: 64 },
  ])('fails the stream on $name', ({ type, len }) => {
    const { reader, got } = collect();
    const h = new Uint8Array(5);
    writeFrameHeader(h, 0, type, len);
    expect(reader.push(h)).toMatch(/frame type|unknown/);
    expect(reader.push(encodeFrame(FrameType.SERVER_OK, PROOF))).toBe('stream already failed');
    expect(got).toEqual([]);
  });

  it('never throws on random streams (fuzz, 5k streams)', () => {
    const rnd = seededRng(42);
    const deadline = Date.now() + 3000;
    for (let i = 0; i < 5000 && Date.now() < deadline; i++) {
      const { reader } = collect();
      const b = i % 2 === 0 ? Uint8Array.from(stream) : new Uint8Array(Math.floor(rnd() * 200));
      for (let k = 0; k < (i % 2 === 0 ? 2 : b.length); k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      expect(() => {
        for (let o = 0; o < b.length; o += 1 + Math.floor(rnd() * 16)) reader.push(b.subarray(o, o + 1 + Math.floor(rnd() * 16)));
      }).not.toThrow();
    }
  });
});
