// Primitive vectors for both backends (RFC 8439 ChaCha20-Poly1305, RFC 7693 BLAKE2s incl. its keyed
// self-test, RFC 7748 X25519, draft-irtf-cfrg-xchacha XChaCha20-Poly1305, wireguard-go's KDF vectors),
// and a seeded differential test that the node and noble backends agree on random inputs.
import { createCipheriv } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { blake2s } from '@noble/hashes/blake2.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { describe, expect, it } from 'vitest';
import { bytesToHex, hexToBytes } from './bytes.js';
import { NobleCrypto } from './noble-backend.js';
import { FastCrypto, NodeCrypto, counterNonce, type CryptoBackend } from './backend.js';
import { kdf1, kdf2, kdf3 } from './kdf.js';
import { selftestSeq } from './testdata/rfc7693-selftest.js';
import { seededRng } from '../types/seeded-rng.js';

const backends: [string, CryptoBackend][] = [
  ['node', new NodeCrypto()],
  ['noble', new NobleCrypto()],
  ['fast (default)', new FastCrypto()],
];
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const seq = (start: number, n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => start + i);

// RFC 8439 §2.8.2 (IETF code component, used as data).
const SUNSCREEN = ascii("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
const RFC8439_CT =
  'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36' +
  '92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116';
const RFC8439_TAG = '1ae10b594f09e26a7e902ecbd0600691';
// draft-irtf-cfrg-xchacha-03 §A.3.1.
const XCHACHA_CT =
  'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452' +
  '2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e';
const XCHACHA_TAG = 'c0875924c1c7987947deafd8780acf49';
const AAD = hexToBytes('50515253c0c1c2c3c4c5c6c7');

describe('ChaCha20-Poly1305 (RFC 8439 §2.8.2)', () => {
  const key = seq(0x80, 32);
  const nonce = hexToBytes('070000004041424344454647');
  it('node:crypto', () => {
    const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    c.setAAD(AAD, { plaintextLength: SUNSCREEN.length });
    const ct = Buffer.concat([c.update(SUNSCREEN), c.final()]);
    expect(ct.toString('hex')).toBe(RFC8439_CT);
    expect(c.getAuthTag().toString('hex')).toBe(RFC8439_TAG);
  });
  it('@noble/ciphers', () => {
    expect(bytesToHex(chacha20poly1305(key, nonce, AAD).encrypt(SUNSCREEN))).toBe(RFC8439_CT + RFC8439_TAG);
  });
  it('counterNonce is 4 zero bytes ‖ u64 LE', () => {
    expect(bytesToHex(counterNonce(0x0102030405))).toBe('000000000504030201000000');
    expect(bytesToHex(counterNonce(2 ** 53 - 1))).toBe('00000000ffffffffffff1f00');
  });
});

describe.each(backends)('backend %s', (_n, c) => {
  it('XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha §A.3.1)', () => {
    const key = seq(0x80, 32);
    const nonce = hexToBytes('404142434445464748494a4b4c4d4e4f5051525354555657');
    const sealed = c.xseal(key, nonce, SUNSCREEN, AAD);
    expect(bytesToHex(sealed)).toBe(XCHACHA_CT + XCHACHA_TAG);
    expect(bytesToHex(c.xopen(key, nonce, sealed, AAD) as Uint8Array)).toBe(bytesToHex(SUNSCREEN));
    sealed[3] ^= 1;
    expect(c.xopen(key, nonce, sealed, AAD)).toBeNull();
  });

  it('BLAKE2s-256("abc") (RFC 7693 Appendix B)', () => {
    expect(bytesToHex(c.hash(ascii('abc')))).toBe('508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982');
    expect(bytesToHex(c.hash(ascii('a'), ascii('bc')))).toBe('508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982');
  });

  it('X25519 (RFC 7748 §5.2 and §6.1)', () => {
    const k = c.importPrivateKey(hexToBytes('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'));
    expect(bytesToHex(c.dh(k, hexToBytes('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c')) as Uint8Array)).toBe(
      'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
    );
    const alice = c.importPrivateKey(hexToBytes('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
    const bob = c.importPrivateKey(hexToBytes('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'));
    expect(bytesToHex(alice.publicKey)).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(bytesToHex(bob.publicKey)).toBe('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
    expect(bytesToHex(c.dh(alice, bob.publicKey) as Uint8Array)).toBe(shared);
    expect(bytesToHex(c.dh(bob, alice.publicKey) as Uint8Array)).toBe(shared);
  });

  it.each([
    ['zero point', '0000000000000000000000000000000000000000000000000000000000000000'],
    ['point of order 1 (u=1)', '0100000000000000000000000000000000000000000000000000000000000000'],
    ['point of order 8', 'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800'],
  ])('X25519 rejects an all-zero result: %s', (_name, pub) => {
    expect(c.dh(c.generatePrivateKey(), hexToBytes(pub))).toBeNull();
  });

  it('KDF1/2/3 reproduce wireguard-go kdf_test.go vectors', () => {
    const v = JSON.parse(readFileSync(join(import.meta.dirname, 'testdata/wireguard-kdf.json'), 'utf8')) as {
      vectors: { key: string; input: string; t0: string; t1: string; t2: string }[];
    };
    for (const x of v.vectors) {
      const key = hexToBytes(x.key);
      const input = hexToBytes(x.input);
      expect(bytesToHex(kdf1(c, key, input))).toBe(x.t0);
      expect(kdf2(c, key, input).map(bytesToHex)).toEqual([x.t0, x.t1]);
      expect(kdf3(c, key, input).map(bytesToHex)).toEqual([x.t0, x.t1, x.t2]);
    }
  });
});

// RFC 7693 Appendix E self-test: a hash over unkeyed and keyed BLAKE2s of generated inputs, all output
// lengths in {16,20,28,32}; covers keyed BLAKE2s (our mac1/mac2/cookie primitive).

describe('keyed BLAKE2s (RFC 7693 Appendix E self-test)', () => {
  it('reproduces the grand hash and our 16-byte MAC matches', () => {
    const grand = blake2s.create({ dkLen: 32 });
    const macs = backends.map(([, c]) => c);
    for (const outlen of [16, 20, 28, 32]) {
      for (const inlen of [0, 3, 64, 65, 255, 1024]) {
        const input = selftestSeq(inlen, inlen);
        grand.update(blake2s(input, { dkLen: outlen }));
        const key = selftestSeq(outlen, outlen);
        const md = blake2s(input, { dkLen: outlen, key });
        grand.update(md);
        if (outlen === 16) for (const c of macs) expect(bytesToHex(c.mac(key, input))).toBe(bytesToHex(md));
      }
    }
    expect(bytesToHex(grand.digest())).toBe('6a411f08ce25adcdfb02aba641451cec53c598b24f4fc787fbdc88797f4c1dfe');
  });
});

describe.each([
  ['node', 'noble', backends[0][1], backends[1][1]],
  ['fast', 'noble', backends[2][1], backends[1][1]],
])('%s and %s backends agree (seeded differential)', (_a, _b, node, noble) => {
  const rnd = seededRng(0x9e3779b9);
  const hx = (x: Uint8Array | null): string | null => (x ? bytesToHex(x) : null);
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256));

  it('on 200 random inputs for every primitive', () => {
    for (let i = 0; i < 200; i++) {
      const a = bytes(Math.floor(rnd() * 300));
      const b = bytes(Math.floor(rnd() * 40));
      const key = bytes(32);
      const ad = bytes(Math.floor(rnd() * 64));
      const counter = Math.floor(rnd() * 2 ** 40);
      expect(hx(node.hash(a, b))).toEqual(hx(noble.hash(a, b)));
      expect(hx(node.hmac(key, a, b))).toEqual(hx(noble.hmac(key, a, b)));
      expect(hx(node.mac(key.subarray(0, 16), a))).toEqual(hx(noble.mac(key.subarray(0, 16), a)));
      const s1 = node.seal(key, counter, a, ad);
      expect(hx(s1)).toEqual(hx(noble.seal(key, counter, a, ad)));
      expect(hx(noble.open(key, counter, s1, ad))).toEqual(hx(a));
      expect(node.open(key, counter + 1, s1, ad)).toBeNull();
      const n24 = bytes(24);
      expect(hx(node.xseal(key, n24, a, ad))).toEqual(hx(noble.xseal(key, n24, a, ad)));
      if (i % 20 === 0) {
        const k1 = node.importPrivateKey(bytes(32));
        const k2 = noble.importPrivateKey(k1.raw);
        expect(hx(k1.publicKey)).toEqual(hx(k2.publicKey));
        const peer = bytes(32);
        expect(hx(node.dh(k1, peer))).toEqual(hx(noble.dh(k2, peer)));
      }
    }
  });
});
