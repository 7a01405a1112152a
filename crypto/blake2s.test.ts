// Our BLAKE2s against RFC 7693 and against node:crypto and @noble on seeded random inputs.
import { createHash, createHmac } from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2.js';
import { describe, expect, it } from 'vitest';
import { blake2sHash, blake2sKeyed, blake2sN, hmacBlake2s } from './blake2s.js';
import { bytesToHex } from './bytes.js';
import { selftestSeq } from './testdata/rfc7693-selftest.js';
import { seededRng } from '../types/seeded-rng.js';

const hex = bytesToHex;


describe('blake2s.ts', () => {
  it('RFC 7693 Appendix B: BLAKE2s-256("abc")', () => {
    expect(hex(blake2sHash(new TextEncoder().encode('abc')))).toBe('508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982');
  });

  it('RFC 7693 Appendix E self-test grand hash (unkeyed and keyed, all output lengths)', () => {
    const parts: Uint8Array[] = [];
    for (const outlen of [16, 20, 28, 32]) {
      for (const inlen of [0, 3, 64, 65, 255, 1024]) {
        const input = selftestSeq(inlen, inlen);
        parts.push(blake2sN(input, outlen));
        parts.push(blake2sKeyed(selftestSeq(outlen, outlen), input, outlen));
      }
    }
    const all = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    expect(hex(blake2sHash(all))).toBe('6a411f08ce25adcdfb02aba641451cec53c598b24f4fc787fbdc88797f4c1dfe');
  });

  it('agrees with node:crypto and @noble on seeded random inputs', () => {
    const r = seededRng(99);
    const rnd = (n: number): number => Math.floor(r() * n);
    const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => rnd(256));
    const bad: string[] = [];
    for (let i = 0; i < 500; i++) {
      const a = bytes(rnd(300));
      const b = bytes(rnd(130));
      const key = bytes(1 + rnd(80));
      const k32 = key.subarray(0, Math.min(32, key.length));
      if (hex(blake2sHash(a, b)) !== createHash('blake2s256').update(a).update(b).digest('hex')) bad.push(`hash ${i}`);
      if (hex(hmacBlake2s(key, a, b)) !== createHmac('blake2s256', key).update(a).update(b).digest('hex')) bad.push(`hmac ${i}`);
      if (hex(blake2sKeyed(k32, a, 16)) !== hex(blake2s(a, { key: k32, dkLen: 16 }))) bad.push(`keyed ${i}`);
    }
    expect(bad).toEqual([]);
  });
});
