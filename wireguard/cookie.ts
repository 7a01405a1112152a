// mac1/mac2 and cookie replies (paper §5.4.4, wireguard-go device/cookie.go).
//   mac1 = MAC(HASH("mac1----" ‖ receiver's static public), msg[0:mac1 offset])
//   mac2 = MAC(cookie, msg[0:mac2 offset]) while a received cookie is < 120 s old, else zero
//   cookie = MAC(R, source address ‖ port), R random and renewed every 120 s
//   reply = XChaCha20-Poly1305(HASH("cookie--" ‖ replier's static public), 24-byte random nonce,
//           cookie, AAD = mac1 of the message that triggered it)
// MAC is keyed BLAKE2s-128. The address encoding is responder-local: 16-byte (v4-mapped) address ‖ port
// as u16 LE. CookieChecker is the responder side (one per device), CookieGenerator the initiator side
// (one per peer). Comparisons are constant-time.
import { ctEqual } from '../crypto/bytes.js';
import { writeU32LE } from './bytes.js';
import {
  COOKIE_OFF_COOKIE,
  COOKIE_OFF_NONCE,
  COOKIE_OFF_RECEIVER,
  COOKIE_NONCE_SIZE,
  COOKIE_REFRESH_TIME_MS,
  COOKIE_SIZE,
  MAC_SIZE,
  MESSAGE_COOKIE_REPLY_SIZE,
  MESSAGE_COOKIE_REPLY_TYPE,
  MESSAGE_INITIATION_SIZE,
  INIT_OFF_MAC1,
  INIT_OFF_MAC2,
  RESP_OFF_MAC1,
  RESP_OFF_MAC2,
  WG_LABEL_COOKIE,
  WG_LABEL_MAC1,
} from './constants.js';
import type { CryptoBackend } from '../crypto/backend.js';

const LABEL_MAC1 = new TextEncoder().encode(WG_LABEL_MAC1);
const LABEL_COOKIE = new TextEncoder().encode(WG_LABEL_COOKIE);

export function mac1Key(c: CryptoBackend, staticPublic: Uint8Array): Uint8Array {
  return c.hash(LABEL_MAC1, staticPublic);
}

export function cookieKey(c: CryptoBackend, staticPublic: Uint8Array): Uint8Array {
  return c.hash(LABEL_COOKIE, staticPublic);
}

/** Offsets of mac1 and mac2 for a handshake message of this size (initiation or response). */
function macOffsets(len: number): [number, number] {
  return len === MESSAGE_INITIATION_SIZE ? [INIT_OFF_MAC1, INIT_OFF_MAC2] : [RESP_OFF_MAC1, RESP_OFF_MAC2];
}

function addrKey(addr16: Uint8Array, port: number): Uint8Array {
  const b = new Uint8Array(18);
  b.set(addr16.subarray(0, 16));
  b[16] = port & 0xff;
  b[17] = port >>> 8;
  return b;
}

/** Responder side: validates mac1/mac2 of incoming handshake messages and makes cookie replies. */
export class CookieChecker {
  private mac1Key: Uint8Array;
  private encKey: Uint8Array;
  private secret: Uint8Array;
  private secretSetAt = -Infinity;

  constructor(
    private readonly crypto: CryptoBackend,
    localStaticPublic: Uint8Array,
  ) {
    this.mac1Key = mac1Key(crypto, localStaticPublic);
    this.encKey = cookieKey(crypto, localStaticPublic);
    this.secret = new Uint8Array(32);
  }

  /** Called when the device's private key changes. */
  init(localStaticPublic: Uint8Array): void {
    this.mac1Key = mac1Key(this.crypto, localStaticPublic);
    this.encKey = cookieKey(this.crypto, localStaticPublic);
    this.secretSetAt = -Infinity;
  }

  /** msg is exactly one initiation (148) or response (92). */
  checkMAC1(msg: Uint8Array): boolean {
    const [o1] = macOffsets(msg.length);
    const want = this.crypto.mac(this.mac1Key, msg.subarray(0, o1));
    return ctEqual(want, msg.subarray(o1, o1 + MAC_SIZE));
  }

  checkMAC2(msg: Uint8Array, addr16: Uint8Array, port: number, now: number): boolean {
    if (now - this.secretSetAt > COOKIE_REFRESH_TIME_MS) return false; // no valid cookie could exist
    const [, o2] = macOffsets(msg.length);
    const cookie = this.crypto.mac(this.secret, addrKey(addr16, port));
    const want = this.crypto.mac(cookie, msg.subarray(0, o2));
    return ctEqual(want, msg.subarray(o2, o2 + MAC_SIZE));
  }

  /** A 64-byte cookie reply to `msg` (already mac1-checked), addressed to the sender's index. */
  createReply(msg: Uint8Array, receiverIndex: number, addr16: Uint8Array, port: number, now: number): Uint8Array {
    if (now - this.secretSetAt > COOKIE_REFRESH_TIME_MS) {
      this.secret = this.crypto.randomBytes(32);
      this.secretSetAt = now;
    }
    const [o1] = macOffsets(msg.length);
    const cookie = this.crypto.mac(this.secret, addrKey(addr16, port));
    const out = new Uint8Array(MESSAGE_COOKIE_REPLY_SIZE);
    writeU32LE(out, 0, MESSAGE_COOKIE_REPLY_TYPE);
    writeU32LE(out, COOKIE_OFF_RECEIVER, receiverIndex);
    const nonce = this.crypto.randomBytes(COOKIE_NONCE_SIZE);
    out.set(nonce, COOKIE_OFF_NONCE);
    out.set(this.crypto.xseal(this.encKey, nonce, cookie, msg.subarray(o1, o1 + MAC_SIZE)), COOKIE_OFF_COOKIE);
    return out;
  }
}

/** Initiator side, one per peer: adds mac1/mac2 to our handshake messages and stores received cookies. */
export class CookieGenerator {
  private mac1Key: Uint8Array;
  private decKey: Uint8Array;
  private cookie: Uint8Array | null = null;
  private cookieSetAt = -Infinity;
  private lastMAC1: Uint8Array | null = null;

  constructor(
    private readonly crypto: CryptoBackend,
    remoteStaticPublic: Uint8Array,
  ) {
    this.mac1Key = mac1Key(crypto, remoteStaticPublic);
    this.decKey = cookieKey(crypto, remoteStaticPublic);
  }

  /** Consumes a 64-byte cookie reply; false if we sent nothing it could answer or it does not decrypt. */
  consumeReply(msg: Uint8Array, now: number): boolean {
    if (!this.lastMAC1) return false;
    const nonce = msg.subarray(COOKIE_OFF_NONCE, COOKIE_OFF_NONCE + COOKIE_NONCE_SIZE);
    const cookie = this.crypto.xopen(this.decKey, nonce, msg.subarray(COOKIE_OFF_COOKIE, COOKIE_OFF_COOKIE + COOKIE_SIZE + 16), this.lastMAC1);
    if (!cookie) return false;
    this.cookie = cookie;
    this.cookieSetAt = now;
    this.lastMAC1 = null; // one reply per message sent
    return true;
  }

  /** Writes mac1 and mac2 into a complete handshake message (148 or 92 bytes). */
  addMacs(msg: Uint8Array, now: number): void {
    const [o1, o2] = macOffsets(msg.length);
    const m1 = this.crypto.mac(this.mac1Key, msg.subarray(0, o1));
    msg.set(m1, o1);
    this.lastMAC1 = m1;
    if (this.cookie && now - this.cookieSetAt < COOKIE_REFRESH_TIME_MS) {
      msg.set(this.crypto.mac(this.cookie, msg.subarray(0, o2)), o2);
    } else {
      msg.fill(0, o2, o2 + MAC_SIZE);
    }
  }

  hasCookie(now: number): boolean {
    return this.cookie !== null && now - this.cookieSetAt < COOKIE_REFRESH_TIME_MS;
  }
}

