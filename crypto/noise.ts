// A generic Noise IK handshake, optionally with the psk2 modifier: Noise_IK(psk2)_25519_ChaChaPoly_BLAKE2s.
// WireGuard is this pattern with prologue = "WireGuard v1 zx2c4 Jason@zx2c4.com", payload 1 = TAI64N and
// payload 2 = empty (wireguard/handshake.ts builds its messages from the same SymmetricState); the control
// channel uses it directly with its own prologue. Tested against the cacophony vector.
//
//   IK:  <- s
//        ...
//        -> e, es, s, ss          (psk2: e also mixes the key)
//        <- e, ee, se [, psk]
//
// API
//   const hs = new NoiseHandshake({ initiator, staticPrivate, remoteStatic?, prologue, psk? });
//   initiator: m1 = hs.writeMessage(payload); payload2 = hs.readMessage(m2);
//   responder: payload1 = hs.readMessage(m1); hs.remoteStaticPublic (known now); m2 = hs.writeMessage(payload)
//   hs.isComplete() → true after message 2; const { send, recv } = hs.split(); hs.handshakeHash()
//   NoiseCipher.encrypt(plaintext, ad?) / decrypt(ciphertext, ad?): implicit nonces counting from 0;
//   decrypt throws GrantwireError (ERR_NOISE_DECRYPT) on authentication failure, which includes a
//   replayed or reordered message (its nonce no longer matches). A failed decrypt does not advance.
//   Message sizes: m1 = 32 + 48 + payload + 16 bytes, m2 = 32 + payload + 16 bytes.
//
// Not concurrency-safe (one handshake per object); a handshake object is single-use.
import { GrantwireError } from '../types/errors.js';
import { AEAD_TAG_SIZE, KEY_SIZE } from './sizes.js';
import { defaultCrypto, type CryptoBackend, type DhPrivateKey } from './backend.js';
import { SymmetricState } from './kdf.js';
import { concatBytes, wipe } from './bytes.js';

export interface NoiseHandshakeOptions {
  initiator: boolean;
  staticPrivate: Uint8Array;
  /** Required for the initiator (IK: the responder's static key is known in advance). */
  remoteStatic?: Uint8Array;
  prologue: Uint8Array;
  /** 32 bytes; enables the psk2 modifier. */
  psk?: Uint8Array;
  /** Fixed ephemeral private key, for test vectors only. */
  ephemeralPrivate?: Uint8Array;
  crypto?: CryptoBackend;
}

const MAX_NONCE = Number.MAX_SAFE_INTEGER;

/** One direction of a Noise transport session. Nonces count up from 0 and are never reused. */
export class NoiseCipher {
  private n = 0;
  constructor(
    private readonly key: Uint8Array,
    private readonly crypto: CryptoBackend = defaultCrypto(),
  ) {}

  /** Next nonce this cipher will use. */
  get nonce(): number {
    return this.n;
  }

  encrypt(plaintext: Uint8Array, ad: Uint8Array = EMPTY): Uint8Array {
    if (this.n >= MAX_NONCE) throw new GrantwireError('ERR_NOISE_NONCE_EXHAUSTED', 'noise cipher: nonce space exhausted; rekey');
    return this.crypto.seal(this.key, this.n++, plaintext, ad);
  }

  decrypt(ciphertext: Uint8Array, ad: Uint8Array = EMPTY): Uint8Array {
    if (this.n >= MAX_NONCE) throw new GrantwireError('ERR_NOISE_NONCE_EXHAUSTED', 'noise cipher: nonce space exhausted; rekey');
    const pt = ciphertext.length >= AEAD_TAG_SIZE ? this.crypto.open(this.key, this.n, ciphertext, ad) : null;
    if (!pt) throw new GrantwireError('ERR_NOISE_DECRYPT', `noise cipher: message ${this.n} failed authentication (tampered, replayed or out of order)`);
    this.n++;
    return pt;
  }

  wipe(): void {
    wipe(this.key);
  }
}

const EMPTY = new Uint8Array(0);

export class NoiseHandshake {
  private readonly crypto: CryptoBackend;
  private readonly initiator: boolean;
  private readonly s: DhPrivateKey;
  private readonly psk: Uint8Array | null;
  private readonly fixedEphemeral: Uint8Array | null;
  private e: DhPrivateKey | null = null;
  private rs: Uint8Array | null;
  private re: Uint8Array | null = null;
  private readonly ss: SymmetricState;
  private step = 0; // messages processed: 0, 1, 2
  private failed = false;

  constructor(opts: NoiseHandshakeOptions) {
    this.crypto = opts.crypto ?? defaultCrypto();
    this.initiator = opts.initiator;
    if (opts.staticPrivate?.length !== KEY_SIZE) throw new GrantwireError('ERR_NOISE_CONFIG', 'noise: staticPrivate must be 32 bytes');
    if (opts.psk != null && opts.psk.length !== KEY_SIZE) throw new GrantwireError('ERR_NOISE_CONFIG', 'noise: psk must be 32 bytes');
    if (this.initiator && opts.remoteStatic?.length !== KEY_SIZE) {
      throw new GrantwireError('ERR_NOISE_CONFIG', 'noise: an IK initiator needs the 32-byte remoteStatic key');
    }
    this.s = this.crypto.importPrivateKey(opts.staticPrivate);
    this.psk = opts.psk ? Uint8Array.from(opts.psk) : null;
    this.fixedEphemeral = opts.ephemeralPrivate ?? null;
    this.rs = this.initiator ? Uint8Array.from(opts.remoteStatic as Uint8Array) : null;
    const name = `Noise_IK${this.psk ? 'psk2' : ''}_25519_ChaChaPoly_BLAKE2s`;
    this.ss = SymmetricState.fromProtocolName(this.crypto, name);
    this.ss.mixHash(opts.prologue);
    // Pre-message pattern "<- s": the responder's static key.
    this.ss.mixHash(this.initiator ? (this.rs as Uint8Array) : this.s.publicKey);
  }

  isComplete(): boolean {
    return this.step === 2;
  }

  /** The remote static public key: known to the initiator up front, to the responder after message 1. */
  get remoteStaticPublic(): Uint8Array | null {
    return this.rs;
  }

  handshakeHash(): Uint8Array {
    return Uint8Array.from(this.ss.h);
  }

  writeMessage(payload: Uint8Array = EMPTY): Uint8Array {
    this.checkTurn(true);
    const parts: Uint8Array[] = [];
    this.e = this.fixedEphemeral ? this.crypto.importPrivateKey(this.fixedEphemeral) : this.crypto.generatePrivateKey();
    this.tokenE(this.e.publicKey);
    parts.push(this.e.publicKey);
    if (this.step === 0) {
      // -> e, es, s, ss
      this.mixDh(this.e, this.rs as Uint8Array);
      parts.push(this.ss.encryptAndHash(this.s.publicKey));
      this.mixDh(this.s, this.rs as Uint8Array);
    } else {
      // <- e, ee, se, psk
      this.mixDh(this.e, this.re as Uint8Array);
      this.mixDh(this.e, this.rs as Uint8Array);
      if (this.psk) this.ss.mixKeyAndHash(this.psk);
    }
    parts.push(this.ss.encryptAndHash(payload));
    this.step++;
    return concatBytes(...parts);
  }

  /** Returns the payload; throws GrantwireError (ERR_NOISE_HANDSHAKE) when the message is not authentic. */
  readMessage(msg: Uint8Array): Uint8Array {
    this.checkTurn(false);
    const fail = (why: string): never => {
      this.failed = true;
      throw new GrantwireError('ERR_NOISE_HANDSHAKE', `noise: message ${this.step + 1} rejected: ${why}`);
    };
    const minLen = this.step === 0 ? KEY_SIZE + KEY_SIZE + AEAD_TAG_SIZE + AEAD_TAG_SIZE : KEY_SIZE + AEAD_TAG_SIZE;
    if (msg.length < minLen) fail(`too short (${msg.length} < ${minLen} bytes)`);
    this.re = Uint8Array.from(msg.subarray(0, KEY_SIZE));
    this.tokenE(this.re);
    let off = KEY_SIZE;
    if (this.step === 0) {
      // -> e, es, s, ss   (responder side)
      if (!this.mixDhOk(this.s, this.re)) fail('bad ephemeral key');
      const encS = msg.subarray(off, off + KEY_SIZE + AEAD_TAG_SIZE);
      off += KEY_SIZE + AEAD_TAG_SIZE;
      const rs = this.ss.decryptAndHash(encS);
      if (!rs) fail('static key does not decrypt');
      this.rs = rs as Uint8Array;
      if (!this.mixDhOk(this.s, this.rs)) fail('bad static key');
    } else {
      // <- e, ee, se, psk   (initiator side)
      const e = this.e as DhPrivateKey;
      if (!this.mixDhOk(e, this.re)) fail('bad ephemeral key');
      if (!this.mixDhOk(this.s, this.re)) fail('bad ephemeral key');
      if (this.psk) this.ss.mixKeyAndHash(this.psk);
    }
    const payload = this.ss.decryptAndHash(msg.subarray(off));
    if (!payload) fail('payload does not authenticate (wrong key or psk, or tampered)');
    this.step++;
    return payload as Uint8Array;
  }

  /** Transport ciphers; only after the handshake is complete. */
  split(): { send: NoiseCipher; recv: NoiseCipher } {
    if (!this.isComplete()) throw new GrantwireError('ERR_NOISE_STATE', 'noise: split() before the handshake completed');
    const [k1, k2] = this.ss.split();
    const i2r = new NoiseCipher(k1, this.crypto);
    const r2i = new NoiseCipher(k2, this.crypto);
    return this.initiator ? { send: i2r, recv: r2i } : { send: r2i, recv: i2r };
  }

  private tokenE(pub: Uint8Array): void {
    this.ss.mixHash(pub);
    if (this.psk) this.ss.mixKey(pub);
  }

  private mixDh(priv: DhPrivateKey, pub: Uint8Array): void {
    if (!this.mixDhOk(priv, pub)) {
      this.failed = true;
      throw new GrantwireError('ERR_NOISE_HANDSHAKE', 'noise: Diffie-Hellman produced an invalid (all-zero) result');
    }
  }

  private mixDhOk(priv: DhPrivateKey, pub: Uint8Array): boolean {
    const shared = this.crypto.dh(priv, pub);
    if (!shared) return false;
    this.ss.mixKey(shared);
    wipe(shared);
    return true;
  }

  private checkTurn(writing: boolean): void {
    if (this.failed) throw new GrantwireError('ERR_NOISE_STATE', 'noise: handshake already failed');
    if (this.step >= 2) throw new GrantwireError('ERR_NOISE_STATE', 'noise: handshake already complete');
    const initiatorTurn = this.step === 0;
    const myTurn = initiatorTurn === this.initiator;
    if (myTurn !== writing) {
      throw new GrantwireError('ERR_NOISE_STATE', `noise: not our turn to ${writing ? 'write' : 'read'} message ${this.step + 1}`);
    }
  }
}
