// The Noise/WireGuard key derivation (HKDF over HMAC-BLAKE2s, paper §5.4 and Noise §4.3):
//   prk = HMAC(key, input); T1 = HMAC(prk, 0x01); Ti = HMAC(prk, T(i−1) ‖ i)
// and the symmetric state both the generic Noise core and the WireGuard handshake are built from.
import { AEAD_TAG_SIZE } from './sizes.js';
import type { CryptoBackend } from './backend.js';
import { wipe } from './bytes.js';

const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);
const THREE = Uint8Array.of(3);
const EMPTY = new Uint8Array(0);

export function kdf1(c: CryptoBackend, key: Uint8Array, input: Uint8Array): Uint8Array {
  const prk = c.hmac(key, input);
  const t1 = c.hmac(prk, ONE);
  wipe(prk);
  return t1;
}

export function kdf2(c: CryptoBackend, key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  const prk = c.hmac(key, input);
  const t1 = c.hmac(prk, ONE);
  const t2 = c.hmac(prk, t1, TWO);
  wipe(prk);
  return [t1, t2];
}

export function kdf3(c: CryptoBackend, key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const prk = c.hmac(key, input);
  const t1 = c.hmac(prk, ONE);
  const t2 = c.hmac(prk, t1, TWO);
  const t3 = c.hmac(prk, t2, THREE);
  wipe(prk);
  return [t1, t2, t3];
}

/**
 * Noise SymmetricState (Noise §5.2): chaining key ck, handshake hash h, and the current cipher key k
 * with its nonce n. WireGuard's C and H are ck and h. Every AEAD here is keyed fresh by mixKey, so n is
 * 0 for WireGuard's handshake messages, as the paper has it.
 */
export class SymmetricState {
  ck: Uint8Array;
  h: Uint8Array;
  k: Uint8Array | null = null;
  n = 0;

  constructor(
    readonly crypto: CryptoBackend,
    ck: Uint8Array,
    h: Uint8Array,
  ) {
    this.ck = ck;
    this.h = h;
  }

  /** InitializeSymmetric: h = name padded to 32 bytes, or HASH(name) if longer; ck = h. */
  static fromProtocolName(c: CryptoBackend, name: string): SymmetricState {
    const bytes = new TextEncoder().encode(name);
    let h: Uint8Array;
    if (bytes.length <= 32) {
      h = new Uint8Array(32);
      h.set(bytes);
    } else {
      h = c.hash(bytes);
    }
    return new SymmetricState(c, Uint8Array.from(h), h);
  }

  clone(): SymmetricState {
    const s = new SymmetricState(this.crypto, Uint8Array.from(this.ck), Uint8Array.from(this.h));
    s.k = this.k && Uint8Array.from(this.k);
    s.n = this.n;
    return s;
  }

  mixHash(data: Uint8Array): void {
    this.h = this.crypto.hash(this.h, data);
  }

  mixKey(ikm: Uint8Array): void {
    const [ck, k] = kdf2(this.crypto, this.ck, ikm);
    wipe(this.ck);
    wipe(this.k);
    this.ck = ck;
    this.k = k;
    this.n = 0;
  }

  /** Used by the psk token: ck, τ, k = KDF3(ck, psk); h = HASH(h ‖ τ). */
  mixKeyAndHash(ikm: Uint8Array): void {
    const [ck, tau, k] = kdf3(this.crypto, this.ck, ikm);
    wipe(this.ck);
    wipe(this.k);
    this.ck = ck;
    this.mixHash(tau);
    wipe(tau);
    this.k = k;
    this.n = 0;
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const out = this.k ? this.crypto.seal(this.k, this.n++, plaintext, this.h) : Uint8Array.from(plaintext);
    this.mixHash(out);
    return out;
  }

  /** Null on authentication failure (state is then unchanged except nothing: h is not mixed). */
  decryptAndHash(ciphertext: Uint8Array): Uint8Array | null {
    if (!this.k) {
      this.mixHash(ciphertext);
      return Uint8Array.from(ciphertext);
    }
    if (ciphertext.length < AEAD_TAG_SIZE) return null;
    const pt = this.crypto.open(this.k, this.n, ciphertext, this.h);
    if (!pt) return null;
    this.n++;
    this.mixHash(ciphertext);
    return pt;
  }

  /** Split(): two transport keys (initiator→responder, responder→initiator). */
  split(): [Uint8Array, Uint8Array] {
    return kdf2(this.crypto, this.ck, EMPTY);
  }

  wipe(): void {
    wipe(this.ck);
    wipe(this.k);
  }
}
