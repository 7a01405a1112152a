// Disco sealing: round trips, every single-byte tamper and a wrong recipient fail to open, plaintexts of
// the wrong shape are rejected, and random input never throws (fuzz).
import { describe, expect, it } from 'vitest';
import { seededRng } from '../types/seeded-rng.js';
import { DISCO_PING, DISCO_PONG, DiscoBox, encodeDiscoPlaintext, isDiscoMessage, parseDiscoPlaintext, type DiscoMessage } from './disco.js';

const a = new DiscoBox();
const b = new DiscoBox();
const txid = Uint8Array.from({ length: 12 }, (_, i) => i);
const ping: DiscoMessage = { type: DISCO_PING, txid, sentAtMs: 1_700_000_000_123, nodeKey: new Uint8Array(32).fill(9) };
const pong: DiscoMessage = { type: DISCO_PONG, txid, addr16: Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 198, 51, 100, 9), port: 41641 };

describe('disco sealing', () => {
  it.each([
    { name: 'ping', m: ping },
    { name: 'pong', m: pong },
  ])('round-trips a $name', ({ m }) => {
    const box = a.seal(b.publicKey, m)!;
    expect(isDiscoMessage(box, box.length)).toBe(true);
    expect(b.open(box, box.length)).toEqual(m);
  });

  it('fails to open after any single-byte change, for the wrong recipient, or truncated', () => {
    const box = a.seal(b.publicKey, ping)!;
    for (let i = 0; i < box.length; i++) {
      const t = Uint8Array.from(box);
      t[i] ^= 0x01;
      expect(b.open(t, t.length), `byte ${i}`).toBeNull();
    }
    expect(new DiscoBox().open(box, box.length)).toBeNull();
    for (let n = 0; n < box.length; n++) expect(b.open(box, n)).toBeNull();
  });

  it.each([
    { name: 'empty', p: new Uint8Array(0) },
    { name: 'unknown type', p: Uint8Array.from([3, ...encodeDiscoPlaintext(ping).subarray(1)]) },
    { name: 'ping one byte short', p: encodeDiscoPlaintext(ping).subarray(0, 52) },
    { name: 'pong one byte long', p: Uint8Array.from([...encodeDiscoPlaintext(pong), 0]) },
  ])('rejects a plaintext that is $name', ({ p }) => {
    expect(parseDiscoPlaintext(p)).toBeNull();
  });

  it('never throws on random input (fuzz, 20k cases)', () => {
    const rnd = seededRng(7);
    const box = a.seal(b.publicKey, pong)!;
    const deadline = Date.now() + 3000;
    for (let i = 0; i < 20_000 && Date.now() < deadline; i++) {
      const x = i % 2 === 0 ? Uint8Array.from(box) : new Uint8Array(Math.floor(rnd() * 160));
      for (let k = 0; k < (i % 2 === 0 ? 2 : x.length); k++) x[Math.floor(rnd() * x.length)] = Math.floor(rnd() * 256);
      const len = Math.floor(rnd() * (x.length + 1));
      expect(() => {
        b.open(x, len);
        parseDiscoPlaintext(x.subarray(0, len));
      }).not.toThrow();
    }
  });
});
