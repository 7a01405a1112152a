// The WireGuard handshake (paper §5.4.2–5.4.3, wireguard-go noise-protocol.go): Noise_IKpsk2 with
// prologue = the WireGuard identifier, payload 1 = TAI64N, payload 2 = empty, carried in the fixed
// 148/92-byte messages. Built from the same KDF/HASH/AEAD primitives as the generic core (noise.ts),
// written out step by step so that the static-static DH is precomputed per peer and the responder can
// find the peer (and its psk) from the decrypted static key in the middle of message 1.
//
//   C = Ci = HASH(construction); H = HASH(Hi ‖ S_r.pub) with Hi = HASH(Ci ‖ identifier)
//   initiation:  C = KDF1(C, E_i.pub); H = HASH(H ‖ E_i.pub)
//                (C, k) = KDF2(C, DH(E_i, S_r)); enc_static = AEAD(k, 0, S_i.pub, H); H = HASH(H ‖ enc_static)
//                (C, k) = KDF2(C, DH(S_i, S_r)); enc_ts = AEAD(k, 0, TAI64N, H); H = HASH(H ‖ enc_ts)
//   response:    C = KDF1(C, E_r.pub); H = HASH(H ‖ E_r.pub)
//                C = KDF1(C, DH(E_r, E_i)); C = KDF1(C, DH(E_r, S_i))
//                (C, τ, k) = KDF3(C, psk); H = HASH(H ‖ τ); enc_empty = AEAD(k, 0, ε, H); H = HASH(H ‖ enc_empty)
//   keys:        (T_i→r, T_r→i) = KDF2(C, ε)
//
// Consumers validate everything before they touch the peer's state, so a forged or replayed message
// leaves it unchanged. mac1/mac2 are added and checked by cookie.ts; message parsing never throws.
import { ctEqual, wipe } from '../crypto/bytes.js';
import { readU32LE, writeU32LE } from './bytes.js';
import {
  AEAD_TAG_SIZE,
  HANDSHAKE_INITATION_RATE_MS,
  INIT_OFF_EPHEMERAL,
  INIT_OFF_SENDER,
  INIT_OFF_STATIC,
  INIT_OFF_TIMESTAMP,
  KEY_SIZE,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_INITIATION_TYPE,
  MESSAGE_RESPONSE_SIZE,
  MESSAGE_RESPONSE_TYPE,
  NOISE_CONSTRUCTION,
  RESP_OFF_EMPTY,
  RESP_OFF_EPHEMERAL,
  RESP_OFF_RECEIVER,
  RESP_OFF_SENDER,
  TAI64N_SIZE,
  WG_IDENTIFIER,
} from './constants.js';
import type { CryptoBackend, DhPrivateKey } from '../crypto/backend.js';
import { kdf1, kdf2, kdf3 } from '../crypto/kdf.js';
import { tai64n, tai64nAfter } from './tai64n.js';

export const HS_ZEROED = 0;
export const HS_INITIATION_CREATED = 1;
export const HS_INITIATION_CONSUMED = 2;
export const HS_RESPONSE_CREATED = 3;
export const HS_RESPONSE_CONSUMED = 4;

/** Drop reasons (also counter names). */
export const R_HS_DECRYPT = 'handshake_decrypt_failed';
export const R_HS_UNKNOWN_PEER = 'handshake_unknown_peer';
export const R_HS_REPLAY = 'handshake_replay';
export const R_HS_FLOOD = 'handshake_flood';
export const R_HS_BAD_DH = 'handshake_bad_dh';
export const R_HS_STATE = 'handshake_unexpected';

const EMPTY = new Uint8Array(0);
const ZERO_KEY = new Uint8Array(KEY_SIZE);

export interface WgConstants {
  ci: Uint8Array;
  hi: Uint8Array;
}

const constCache = new WeakMap<CryptoBackend, WgConstants>();

/** Ci = HASH(construction), Hi = HASH(Ci ‖ identifier); cached per backend. */
export function wgConstants(c: CryptoBackend): WgConstants {
  let k = constCache.get(c);
  if (!k) {
    const enc = new TextEncoder();
    const ci = c.hash(enc.encode(NOISE_CONSTRUCTION));
    k = { ci, hi: c.hash(ci, enc.encode(WG_IDENTIFIER)) };
    constCache.set(c, k);
  }
  return k;
}

/** Our static identity with its precomputed H0 = HASH(Hi ‖ S_local.pub) for consuming initiations. */
export class LocalStatic {
  readonly key: DhPrivateKey;
  readonly h0: Uint8Array;
  constructor(
    readonly crypto: CryptoBackend,
    privateKey: Uint8Array,
  ) {
    this.key = crypto.importPrivateKey(privateKey);
    this.h0 = crypto.hash(wgConstants(crypto).hi, this.key.publicKey);
  }
  get publicKey(): Uint8Array {
    return this.key.publicKey;
  }
}

/** Per-peer handshake state (one per peer; not concurrency-safe). */
export class PeerHandshake {
  state = HS_ZEROED;
  readonly remoteStatic: Uint8Array;
  presharedKey: Uint8Array = Uint8Array.from(ZERO_KEY);
  /** DH(S_local, S_remote), null when the remote key is low-order (then no handshake is possible). */
  precomputedStaticStatic: Uint8Array | null = null;
  /** HASH(Hi ‖ S_remote.pub): the initiator's starting H. */
  h0: Uint8Array = EMPTY;
  chainKey: Uint8Array = EMPTY;
  hash: Uint8Array = EMPTY;
  localEphemeral: DhPrivateKey | null = null;
  remoteEphemeral: Uint8Array = new Uint8Array(KEY_SIZE);
  localIndex = 0;
  remoteIndex = 0;
  lastTimestamp = new Uint8Array(TAI64N_SIZE);
  lastInitiationConsumed = -Infinity;
  /** Monotonic ms of the last initiation or response we sent (re-initiation is held off for REKEY_TIMEOUT). */
  lastSentHandshake = -Infinity;
  /**
   * Our own initiation, kept when the peer's initiation crossed it (both sides initiated at once).
   * wireguard-go and the kernel overwrite it, so both sides then drop each other's response and the
   * first packet waits for the 5 s retransmit; keeping it lets the crossing response complete a
   * session at once. Wire-compatible: it only changes which responses we can consume.
   */
  crossed: { ephemeral: DhPrivateKey; chainKey: Uint8Array; hash: Uint8Array; localIndex: number } | null = null;

  constructor(remoteStatic: Uint8Array) {
    this.remoteStatic = Uint8Array.from(remoteStatic);
  }

  /** (Re)computes the per-peer constants for a local identity. */
  precompute(local: LocalStatic | null): void {
    const c = local?.crypto;
    wipe(this.precomputedStaticStatic);
    this.precomputedStaticStatic = local && c ? c.dh(local.key, this.remoteStatic) : null;
    this.h0 = local && c ? c.hash(wgConstants(c).hi, this.remoteStatic) : EMPTY;
  }

  setPresharedKey(psk: Uint8Array | null): void {
    this.presharedKey = psk ? Uint8Array.from(psk) : Uint8Array.from(ZERO_KEY);
  }

  forgetCrossed(): void {
    if (this.crossed) {
      wipe(this.crossed.chainKey);
      wipe(this.crossed.hash);
      this.crossed = null;
    }
  }

  clear(): void {
    wipe(this.chainKey);
    wipe(this.hash);
    this.chainKey = EMPTY;
    this.hash = EMPTY;
    this.localEphemeral = null;
    this.remoteEphemeral.fill(0);
    this.state = HS_ZEROED;
  }
}

/** Session keys derived at the end of a handshake. */
export interface SessionKeys {
  sendKey: Uint8Array;
  recvKey: Uint8Array;
  isInitiator: boolean;
  localIndex: number;
  remoteIndex: number;
}

export interface HandshakeEngineOptions {
  crypto: CryptoBackend;
  local: LocalStatic;
  /** Finds a peer by its static public key (responder side). */
  lookupPeer: (staticPublic: Uint8Array) => PeerHandshake | null;
  /** Receives `LOCAL_EPHEMERAL_PRIVATE_KEY = <b64>` lines (for tshark), if set. */
  keyLog?: ((line: string) => void) | null;
}

/**
 * Creates and consumes handshake messages for one local identity. Functions that consume return null on
 * failure and leave the reason in `lastReason` (a counter name); nothing here throws on network input.
 */
export class HandshakeEngine {
  readonly crypto: CryptoBackend;
  local: LocalStatic;
  lastReason = '';
  private readonly lookupPeer: (staticPublic: Uint8Array) => PeerHandshake | null;
  keyLog: ((line: string) => void) | null;

  constructor(opts: HandshakeEngineOptions) {
    this.crypto = opts.crypto;
    this.local = opts.local;
    this.lookupPeer = opts.lookupPeer;
    this.keyLog = opts.keyLog ?? null;
  }

  /**
   * A 148-byte initiation (mac1/mac2 still zero) for `peer`, from our new `localIndex`; `wallMs` is
   * Date.now() for the TAI64N. Null if the peer's key is unusable (low-order).
   */
  createInitiation(peer: PeerHandshake, localIndex: number, wallMs: number): Uint8Array | null {
    const c = this.crypto;
    if (!peer.precomputedStaticStatic) {
      this.lastReason = R_HS_BAD_DH;
      return null;
    }
    const msg = new Uint8Array(MESSAGE_INITIATION_SIZE);
    writeU32LE(msg, 0, MESSAGE_INITIATION_TYPE);
    writeU32LE(msg, INIT_OFF_SENDER, localIndex);
    const e = c.generatePrivateKey();
    this.logEphemeral(e, peer);
    let ck = wgConstants(c).ci;
    let h = peer.h0;
    msg.set(e.publicKey, INIT_OFF_EPHEMERAL);
    ck = kdf1(c, ck, e.publicKey);
    h = c.hash(h, e.publicKey);
    const es = c.dh(e, peer.remoteStatic);
    if (!es) {
      this.lastReason = R_HS_BAD_DH;
      return null;
    }
    let k: Uint8Array;
    [ck, k] = kdf2(c, ck, es);
    const encStatic = c.seal(k, 0, this.local.publicKey, h);
    msg.set(encStatic, INIT_OFF_STATIC);
    h = c.hash(h, encStatic);
    [ck, k] = kdf2(c, ck, peer.precomputedStaticStatic);
    const encTs = c.seal(k, 0, tai64n(wallMs), h);
    msg.set(encTs, INIT_OFF_TIMESTAMP);
    h = c.hash(h, encTs);
    wipe(es);
    wipe(k);
    peer.clear();
    peer.forgetCrossed();
    peer.localEphemeral = e;
    peer.chainKey = ck;
    peer.hash = h;
    peer.localIndex = localIndex;
    peer.state = HS_INITIATION_CREATED;
    return msg;
  }

  /**
   * Consumes a 148-byte initiation (mac1 already checked). On success the peer's state holds what the
   * response needs and the peer is returned; `now` is monotonic ms for the flood check.
   */
  consumeInitiation(msg: Uint8Array, now: number): PeerHandshake | null {
    const c = this.crypto;
    if (msg.length !== MESSAGE_INITIATION_SIZE || readU32LE(msg, 0) !== MESSAGE_INITIATION_TYPE) return this.fail(R_HS_STATE);
    const ei = msg.subarray(INIT_OFF_EPHEMERAL, INIT_OFF_EPHEMERAL + KEY_SIZE);
    let ck = kdf1(c, wgConstants(c).ci, ei);
    let h = c.hash(this.local.h0, ei);
    const es = c.dh(this.local.key, ei);
    if (!es) return this.fail(R_HS_BAD_DH);
    let k: Uint8Array;
    [ck, k] = kdf2(c, ck, es);
    wipe(es);
    const encStatic = msg.subarray(INIT_OFF_STATIC, INIT_OFF_STATIC + KEY_SIZE + AEAD_TAG_SIZE);
    const remoteStatic = c.open(k, 0, encStatic, h);
    if (!remoteStatic) return this.fail(R_HS_DECRYPT);
    h = c.hash(h, encStatic);
    const peer = this.lookupPeer(remoteStatic);
    if (!peer) return this.fail(R_HS_UNKNOWN_PEER);
    if (!peer.precomputedStaticStatic) return this.fail(R_HS_BAD_DH);
    [ck, k] = kdf2(c, ck, peer.precomputedStaticStatic);
    const encTs = msg.subarray(INIT_OFF_TIMESTAMP, INIT_OFF_TIMESTAMP + TAI64N_SIZE + AEAD_TAG_SIZE);
    const ts = c.open(k, 0, encTs, h);
    wipe(k);
    if (!ts) return this.fail(R_HS_DECRYPT);
    h = c.hash(h, encTs);
    // Replay: the timestamp must be strictly newer than the last accepted one. Flood: at most one
    // initiation per HANDSHAKE_INITATION_RATE_MS per peer.
    if (!tai64nAfter(ts, peer.lastTimestamp)) return this.fail(R_HS_REPLAY);
    if (now - peer.lastInitiationConsumed <= HANDSHAKE_INITATION_RATE_MS) return this.fail(R_HS_FLOOD);
    if (peer.state === HS_INITIATION_CREATED && peer.localEphemeral) {
      peer.forgetCrossed();
      peer.crossed = { ephemeral: peer.localEphemeral, chainKey: Uint8Array.from(peer.chainKey), hash: Uint8Array.from(peer.hash), localIndex: peer.localIndex };
    }
    peer.clear();
    peer.lastTimestamp.set(ts);
    peer.lastInitiationConsumed = now;
    peer.remoteEphemeral.set(ei);
    peer.remoteIndex = readU32LE(msg, INIT_OFF_SENDER);
    peer.chainKey = ck;
    peer.hash = h;
    peer.state = HS_INITIATION_CONSUMED;
    return peer;
  }

  /** A 92-byte response (macs zero) to the initiation consumed for `peer`; null in the wrong state. */
  createResponse(peer: PeerHandshake, localIndex: number): Uint8Array | null {
    const c = this.crypto;
    if (peer.state !== HS_INITIATION_CONSUMED) return this.fail(R_HS_STATE);
    const msg = new Uint8Array(MESSAGE_RESPONSE_SIZE);
    writeU32LE(msg, 0, MESSAGE_RESPONSE_TYPE);
    writeU32LE(msg, RESP_OFF_SENDER, localIndex);
    writeU32LE(msg, RESP_OFF_RECEIVER, peer.remoteIndex);
    const e = c.generatePrivateKey();
    this.logEphemeral(e, peer);
    msg.set(e.publicKey, RESP_OFF_EPHEMERAL);
    let ck = kdf1(c, peer.chainKey, e.publicKey);
    let h = c.hash(peer.hash, e.publicKey);
    const ee = c.dh(e, peer.remoteEphemeral);
    if (!ee) return this.fail(R_HS_BAD_DH);
    ck = kdf1(c, ck, ee);
    wipe(ee);
    const se = c.dh(e, peer.remoteStatic);
    if (!se) return this.fail(R_HS_BAD_DH);
    ck = kdf1(c, ck, se);
    wipe(se);
    const [ck2, tau, k] = kdf3(c, ck, peer.presharedKey);
    h = c.hash(h, tau);
    const encEmpty = c.seal(k, 0, EMPTY, h);
    msg.set(encEmpty, RESP_OFF_EMPTY);
    h = c.hash(h, encEmpty);
    wipe(tau);
    wipe(k);
    wipe(peer.chainKey);
    peer.chainKey = ck2;
    peer.hash = h;
    peer.localIndex = localIndex;
    peer.localEphemeral = e;
    peer.state = HS_RESPONSE_CREATED;
    return msg;
  }

  /**
   * Consumes a 92-byte response (mac1 already checked) addressed to `peer` (found by receiver index).
   * On success the peer's state is RESPONSE_CONSUMED.
   */
  consumeResponse(msg: Uint8Array, peer: PeerHandshake): PeerHandshake | null {
    const c = this.crypto;
    if (msg.length !== MESSAGE_RESPONSE_SIZE || readU32LE(msg, 0) !== MESSAGE_RESPONSE_TYPE) return this.fail(R_HS_STATE);
    // The response answers either our current initiation or one that crossed the peer's (see `crossed`).
    const receiver = readU32LE(msg, RESP_OFF_RECEIVER);
    let eph: DhPrivateKey;
    let ck0: Uint8Array;
    let h0: Uint8Array;
    const crossed = peer.crossed;
    if (peer.state === HS_INITIATION_CREATED && peer.localEphemeral && receiver === peer.localIndex) {
      eph = peer.localEphemeral;
      ck0 = peer.chainKey;
      h0 = peer.hash;
    } else if (crossed && peer.state === HS_ZEROED && receiver === crossed.localIndex) {
      eph = crossed.ephemeral;
      ck0 = crossed.chainKey;
      h0 = crossed.hash;
    } else {
      return this.fail(R_HS_STATE);
    }
    const er = msg.subarray(RESP_OFF_EPHEMERAL, RESP_OFF_EPHEMERAL + KEY_SIZE);
    let ck = kdf1(c, ck0, er);
    let h = c.hash(h0, er);
    const ee = c.dh(eph, er);
    if (!ee) return this.fail(R_HS_BAD_DH);
    ck = kdf1(c, ck, ee);
    wipe(ee);
    const se = c.dh(this.local.key, er);
    if (!se) return this.fail(R_HS_BAD_DH);
    ck = kdf1(c, ck, se);
    wipe(se);
    const [ck2, tau, k] = kdf3(c, ck, peer.presharedKey);
    h = c.hash(h, tau);
    const encEmpty = msg.subarray(RESP_OFF_EMPTY, RESP_OFF_EMPTY + AEAD_TAG_SIZE);
    const ok = c.open(k, 0, encEmpty, h);
    wipe(tau);
    wipe(k);
    if (!ok) return this.fail(R_HS_DECRYPT);
    h = c.hash(h, encEmpty);
    wipe(peer.chainKey);
    peer.chainKey = ck2;
    peer.hash = h;
    peer.localEphemeral = eph;
    peer.localIndex = receiver;
    peer.remoteIndex = readU32LE(msg, RESP_OFF_SENDER);
    peer.state = HS_RESPONSE_CONSUMED;
    peer.forgetCrossed();
    return peer;
  }

  /**
   * Derives the transport keys from a completed handshake (ours: RESPONSE_CONSUMED as initiator,
   * RESPONSE_CREATED as responder) and wipes the handshake state. Null in any other state.
   */
  beginSymmetricSession(peer: PeerHandshake): SessionKeys | null {
    let isInitiator: boolean;
    if (peer.state === HS_RESPONSE_CONSUMED) isInitiator = true;
    else if (peer.state === HS_RESPONSE_CREATED) isInitiator = false;
    else return this.fail(R_HS_STATE);
    const [t1, t2] = kdf2(this.crypto, peer.chainKey, EMPTY);
    const keys: SessionKeys = {
      sendKey: isInitiator ? t1 : t2,
      recvKey: isInitiator ? t2 : t1,
      isInitiator,
      localIndex: peer.localIndex,
      remoteIndex: peer.remoteIndex,
    };
    peer.clear();
    return keys;
  }

  private fail(reason: string): null {
    this.lastReason = reason;
    return null;
  }

  /**
   * Wireshark's dissector binds a PRESHARED_KEY line to the LOCAL_EPHEMERAL_PRIVATE_KEY line before it, so
   * the peer's PSK (when it has one) follows every ephemeral key: captures with several PSK peers decrypt.
   */
  private logEphemeral(e: DhPrivateKey, peer: PeerHandshake): void {
    if (!this.keyLog) return;
    this.keyLog(`LOCAL_EPHEMERAL_PRIVATE_KEY = ${Buffer.from(e.raw).toString('base64')}`);
    if (!ctEqual(peer.presharedKey, ZERO_KEY)) this.keyLog(`PRESHARED_KEY = ${Buffer.from(peer.presharedKey).toString('base64')}`);
  }
}

/** True when two static keys are equal (constant time). */
export function sameStatic(a: Uint8Array, b: Uint8Array): boolean {
  return ctEqual(a, b);
}
