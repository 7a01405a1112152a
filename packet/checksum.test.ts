// The fast RFC 1071 sum (native 16-bit words, swapped at the end) against the byte-at-a-time reference:
// random buffers, offsets (odd and even, inside subarrays), lengths and initial values.
import { describe, expect, it } from 'vitest';
import { seededRng } from '../types/seeded-rng.js';
import { onesComplementSum, onesComplementSumBytes } from './checksum.js';

describe('onesComplementSum', () => {
  it.each([
    { name: 'whole buffers', seed: 1, sub: false },
    { name: 'subarrays at odd and even byte offsets', seed: 2, sub: true },
  ])('matches the byte-at-a-time reference: $name (5 000 cases)', ({ seed, sub }) => {
    const r = seededRng(seed);
    for (let n = 0; n < 5_000; n++) {
      const size = (r() * 3000) | 0;
      const backing = new Uint8Array(size + 8);
      for (let i = 0; i < backing.length; i++) backing[i] = (r() * 256) | 0;
      if (n % 7 === 0) backing.fill(0xff);
      const b = sub ? backing.subarray((r() * 8) | 0) : backing;
      const off = (r() * Math.min(b.length, 40)) | 0;
      const len = (r() * (b.length - off + 1)) | 0;
      const initial = (r() * 0x10000) | 0;
      expect(onesComplementSum(b, off, len, initial)).toBe(onesComplementSumBytes(b, off, len, initial));
    }
  });

  it('an odd-sized ArrayBuffer and the last byte of it', () => {
    const b = new Uint8Array(129).fill(0xab);
    expect(onesComplementSum(b, 1, 128)).toBe(onesComplementSumBytes(b, 1, 128));
    expect(onesComplementSum(b, 0, 129)).toBe(onesComplementSumBytes(b, 0, 129));
  });
});
