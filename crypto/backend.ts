// The crypto primitives WireGuard and Noise need, behind one small interface so that implementations are
// chosen by benchmark and cross-checked (noble-backend.ts is the pure-JS second backend; backend.test.ts
// checks both against RFC vectors and against each other).
//
// Node backend choices, measured on this 2-vCPU machine (node 20, throwaway per-call timing loops not
// kept in the repo; wireguard/handshake-bench.ts measures the end-to-end handshake rate), µs per call:
//   chacha20-poly1305 1420 B: node seal 8.5 (KeyObject) / 9.5 (raw key), open 6.6; @noble 24.6
//   BLAKE2s-256 64 B: node 3.0; HMAC-BLAKE2s: node 4.5; keyed BLAKE2s-128 (@noble only): 9.0
//   X25519: DH 36, keygen 42, raw private-key import via JWK 41 (so static keys are imported once)
// Node lacks keyed BLAKE2s and XChaCha20-Poly1305; both come from @noble (cookie path only).
//
// The transport data path does not use this interface: see wireguard/transport.ts (TransportAead,
// node:crypto or the native addon, reused nonce and output buffers). This one serves the handshake and
// Noise.
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { asBuffer, isAllZero } from './bytes.js';
import { blake2sHash, blake2sKeyed, hmacBlake2s } from './blake2s.js';
import { AEAD_TAG_SIZE } from './sizes.js';

/** An X25519 private key with its public key and a backend-specific handle (e.g. a KeyObject). */
export interface DhPrivateKey {
  readonly raw: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly handle: unknown;
}

export interface CryptoBackend {
  readonly name: string;
  /** BLAKE2s-256 of a ‖ b. */
  hash(a: Uint8Array, b?: Uint8Array): Uint8Array;
  /** HMAC-BLAKE2s(key, a ‖ b). */
  hmac(key: Uint8Array, a: Uint8Array, b?: Uint8Array): Uint8Array;
  /** Keyed BLAKE2s with a 16-byte output (mac1, mac2, cookie). */
  mac(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** ChaCha20-Poly1305 with nonce = 4 zero bytes ‖ u64 LE counter; returns ciphertext ‖ tag. */
  seal(key: Uint8Array, counter: number, plaintext: Uint8Array, ad: Uint8Array): Uint8Array;
  /** Inverse of seal; null when authentication fails. */
  open(key: Uint8Array, counter: number, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null;
  /** XChaCha20-Poly1305 with a 24-byte nonce. */
  xseal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array;
  xopen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null;
  generatePrivateKey(): DhPrivateKey;
  /** Imports a raw 32-byte private key (clamping is applied by X25519 itself). */
  importPrivateKey(raw: Uint8Array): DhPrivateKey;
  /** X25519; null if the result is all zero (low-order public key) or the public key is unusable. */
  dh(priv: DhPrivateKey, publicKey: Uint8Array): Uint8Array | null;
  randomBytes(n: number): Uint8Array;
}

/** The 12-byte ChaCha20-Poly1305 nonce WireGuard uses: 4 zero bytes ‖ u64 LE counter. */
export function counterNonce(counter: number, out: Uint8Array = new Uint8Array(12)): Uint8Array {
  out[0] = out[1] = out[2] = out[3] = 0;
  const lo = counter % 4294967296;
  const hi = (counter - lo) / 4294967296;
  out[4] = lo & 0xff;
  out[5] = (lo >>> 8) & 0xff;
  out[6] = (lo >>> 16) & 0xff;
  out[7] = (lo >>> 24) & 0xff;
  out[8] = hi & 0xff;
  out[9] = (hi >>> 8) & 0xff;
  out[10] = (hi >>> 16) & 0xff;
  out[11] = (hi >>> 24) & 0xff;
  return out;
}

/** XChaCha20-Poly1305 seal (@noble: node:crypto has no XChaCha); both backends use it (cookie replies). */
export function xchachaSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
  return xchacha20poly1305(key, nonce, ad).encrypt(plaintext);
}

/** Inverse of xchachaSeal; null when authentication fails. */
export function xchachaOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null {
  try {
    return xchacha20poly1305(key, nonce, ad).decrypt(sealed);
  } catch {
    return null;
  }
}

const b64u = (b: Uint8Array): string => asBuffer(b).toString('base64url');
// A placeholder `x` for private JWK import: node requires the member but derives the real public key.
const JWK_X_PLACEHOLDER = b64u(Uint8Array.of(9, ...new Uint8Array(31)));

function importX25519Public(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64u(raw) }, format: 'jwk' });
}

/**
 * The last few imported public keys. A handshake uses each remote ephemeral twice and the remote
 * static once more, so this saves 2–3 JWK imports (~7 µs each) per handshake.
 */
class PublicKeyCache {
  private readonly raws: Uint8Array[] = [];
  private readonly objs: KeyObject[] = [];
  private next = 0;
  constructor(private readonly size = 8) {}

  get(raw: Uint8Array): KeyObject {
    for (let i = 0; i < this.raws.length; i++) {
      const r = this.raws[i];
      let same = true;
      for (let j = 0; j < 32; j++) {
        if (r[j] !== raw[j]) {
          same = false;
          break;
        }
      }
      if (same) return this.objs[i];
    }
    const obj = importX25519Public(raw);
    const slot = this.next;
    this.next = (slot + 1) % this.size;
    this.raws[slot] = Uint8Array.from(raw);
    this.objs[slot] = obj;
    return obj;
  }
}

function nodeKeyFromObject(k: KeyObject): DhPrivateKey {
  const jwk = k.export({ format: 'jwk' });
  const raw = new Uint8Array(Buffer.from(jwk.d as string, 'base64url'));
  const publicKey = new Uint8Array(Buffer.from(jwk.x as string, 'base64url'));
  return { raw, publicKey, handle: k };
}

/** node:crypto everywhere it has the primitive; @noble for keyed BLAKE2s and XChaCha20-Poly1305. */
export class NodeCrypto implements CryptoBackend {
  readonly name: string = 'node';
  private readonly nonce = Buffer.alloc(12);
  private readonly publicKeys = new PublicKeyCache();

  hash(a: Uint8Array, b?: Uint8Array): Uint8Array {
    const h = createHash('blake2s256').update(a);
    if (b) h.update(b);
    return h.digest();
  }

  hmac(key: Uint8Array, a: Uint8Array, b?: Uint8Array): Uint8Array {
    const h = createHmac('blake2s256', key).update(a);
    if (b) h.update(b);
    return h.digest();
  }

  mac(key: Uint8Array, data: Uint8Array): Uint8Array {
    return blake2s(data, { key, dkLen: 16 });
  }

  seal(key: Uint8Array, counter: number, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
    const c = createCipheriv('chacha20-poly1305', key, counterNonce(counter, this.nonce), { authTagLength: 16 });
    if (ad.length) c.setAAD(ad, { plaintextLength: plaintext.length });
    const body = c.update(plaintext);
    c.final();
    const out = Buffer.allocUnsafe(body.length + AEAD_TAG_SIZE);
    body.copy(out, 0);
    c.getAuthTag().copy(out, body.length);
    return out;
  }

  open(key: Uint8Array, counter: number, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null {
    if (sealed.length < AEAD_TAG_SIZE) return null;
    const n = sealed.length - AEAD_TAG_SIZE;
    const d = createDecipheriv('chacha20-poly1305', key, counterNonce(counter, this.nonce), { authTagLength: 16 });
    d.setAuthTag(sealed.subarray(n));
    if (ad.length) d.setAAD(ad, { plaintextLength: n });
    const out = d.update(sealed.subarray(0, n));
    try {
      d.final();
    } catch {
      return null;
    }
    return out;
  }

  xseal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
    return xchachaSeal(key, nonce, plaintext, ad);
  }

  xopen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null {
    return xchachaOpen(key, nonce, sealed, ad);
  }

  generatePrivateKey(): DhPrivateKey {
    return nodeKeyFromObject(generateKeyPairSync('x25519').privateKey);
  }

  importPrivateKey(raw: Uint8Array): DhPrivateKey {
    const k = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64u(raw), x: JWK_X_PLACEHOLDER }, format: 'jwk' });
    const jwk = k.export({ format: 'jwk' });
    return { raw: Uint8Array.from(raw), publicKey: new Uint8Array(Buffer.from(jwk.x as string, 'base64url')), handle: k };
  }

  dh(priv: DhPrivateKey, publicKey: Uint8Array): Uint8Array | null {
    if (publicKey.length !== 32) return null;
    let out: Uint8Array;
    try {
      out = diffieHellman({ privateKey: priv.handle as KeyObject, publicKey: this.publicKeys.get(publicKey) });
    } catch {
      // OpenSSL refuses low-order points (ERR_OSSL_FAILED_DURING_DERIVATION): same as an all-zero result.
      return null;
    }
    return isAllZero(out) ? null : out;
  }

  randomBytes(n: number): Uint8Array {
    return randomBytes(n);
  }
}

/**
 * The default: node:crypto for ChaCha20-Poly1305 and X25519, our own BLAKE2s (blake2s.ts) for HASH,
 * HMAC and the keyed MAC, which beats createHash/createHmac/@noble on these tiny inputs (measured on
 * this machine under load, µs per call: hash 64 B 2.3–3.1 vs 6.4–8.6 node; HMAC 7.5–8.4 vs 9.8–16.7
 * node; keyed 116 B 4.4–5.6 vs 9.8–17 @noble).
 */
export class FastCrypto extends NodeCrypto {
  override readonly name: string = 'node+blake2s-js';

  override hash(a: Uint8Array, b?: Uint8Array): Uint8Array {
    return blake2sHash(a, b);
  }

  override hmac(key: Uint8Array, a: Uint8Array, b?: Uint8Array): Uint8Array {
    return hmacBlake2s(key, a, b);
  }

  override mac(key: Uint8Array, data: Uint8Array): Uint8Array {
    return blake2sKeyed(key, data, 16);
  }
}

let defaultBackend: CryptoBackend | null = null;

/** The backend used unless one is injected (FastCrypto: fastest measured). */
export function defaultCrypto(): CryptoBackend {
  if (!defaultBackend) defaultBackend = new FastCrypto();
  return defaultBackend;
}
