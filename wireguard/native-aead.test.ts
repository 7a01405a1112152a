// The native transport AEAD against node:crypto's (TransportCrypto): byte-identical messages, each opens
// the other's, tampering and short messages are rejected.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { NativeTransportCrypto } from './native-aead.js';
import { TransportCrypto, importAeadKey, paddedLength } from './transport.js';

const native = NativeTransportCrypto.create();
if (native === null) console.warn('native-aead.test: skipped (native addon not built)');

describe.skipIf(native === null)('NativeTransportCrypto', () => {
  const ref = new TransportCrypto();

  it('matches node:crypto byte for byte and round-trips (random keys, counters, lengths)', () => {
    const n = native!;
    const out1 = new Uint8Array(2048);
    const out2 = new Uint8Array(2048);
    const plain = new Uint8Array(2048);
    const rounds = process.env.GRANTWIRE_LONG ? 5000 : 500;
    for (let i = 0; i < rounds; i++) {
      const raw = randomBytes(32);
      const kn = n.importKey(raw);
      const kr = importAeadKey(raw);
      const len = i % 7 === 0 ? 0 : (i * 37) % 1421;
      const padded = paddedLength(len, 1420);
      const counter = i % 5 === 0 ? 2 ** 40 + i : i % 3 === 0 ? 4294967295 + i : i;
      const src = randomBytes(len + 8);
      const a = n.seal(kn, 0x01020304, counter, src, 8, len, padded, out1);
      const b = ref.seal(kr, 0x01020304, counter, src, 8, len, padded, out2);
      expect(a).toBe(b);
      expect(Buffer.from(out1.subarray(0, a)).equals(Buffer.from(out2.subarray(0, b)))).toBe(true);
      expect(n.open(kn, out2, b, plain)).toBe(padded);
      expect(Buffer.from(plain.subarray(0, len)).equals(src.subarray(8))).toBe(true);
      expect(ref.open(kr, out1, a, plain)).toBe(padded);
    }
  });

  it('rejects a flipped bit anywhere, a wrong key, a wrong counter and short input', () => {
    const n = native!;
    const raw = randomBytes(32);
    const k = n.importKey(raw);
    const msg = new Uint8Array(256);
    const src = randomBytes(100);
    const len = n.seal(k, 7, 42, src, 0, 100, 112, msg);
    const out = new Uint8Array(256);
    expect(n.open(k, msg, len, out)).toBe(112);
    for (const bit of [16 * 8, 50 * 8 + 3, (len - 1) * 8 + 7]) {
      const bad = msg.slice();
      bad[bit >> 3] ^= 1 << (bit & 7);
      expect(n.open(k, bad, len, out)).toBe(-1);
    }
    const counterFlip = msg.slice();
    counterFlip[8] ^= 1;
    expect(n.open(k, counterFlip, len, out)).toBe(-1);
    expect(n.open(n.importKey(randomBytes(32)), msg, len, out)).toBe(-1);
    expect(n.open(k, msg, 31, out)).toBe(-1);
    // Keepalive: empty plaintext.
    const ka = n.seal(k, 7, 43, src, 0, 0, 0, msg);
    expect(ka).toBe(32);
    expect(n.open(k, msg, ka, out)).toBe(0);
  });

  it('throws on misuse instead of overrunning buffers', () => {
    const n = native!;
    const k = n.importKey(randomBytes(32));
    expect(() => n.seal(k, 1, 1, new Uint8Array(10), 0, 20, 32, new Uint8Array(100))).toThrow(/bad arguments/);
    expect(() => n.seal(k, 1, 1, new Uint8Array(100), 0, 50, 64, new Uint8Array(60))).toThrow(/bad arguments/);
    expect(() => n.importKey(new Uint8Array(31))).toThrow(/32 bytes/);
  });
});
