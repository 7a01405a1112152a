// Transport-message encryption and decryption: the data path. This file has the node:crypto
// implementation (TransportCrypto: per-keypair KeyObject, one reused nonce buffer, caller-owned output
// buffers; the only per-packet allocations are node's own Cipher object and update() result, copied
// into the output at once) and the TransportAead interface the device uses, which the native addon's
// in-place implementation (native-aead.ts) also satisfies. The device prefers the native one.
//
// Measured (`node --import tsx wireguard/transport-bench.ts`, µs per packet per CPU-second, 2 vCPUs
// shared with other work, load average 8–15, so ±30%):
//                         seal 64 B   seal 1420 B   open 64 B   open 1420 B
//   node:crypto (here)       4.8–5.9      6.4–10.2     4.4–5.0      5.7–7.0
//   naive node:crypto        4.8–5.6      7.4–11.2   (raw key Buffer, Buffer.concat per packet)
//   native (addon)              ~1.0          ~2.3        ~0.9          ~1.1
//   @noble/ciphers                 —          24.6   (spec table; not used on the data path)
// Whole device path over the fakes at 1420 B: out 16–22 / in 11–15 (node:crypto), out 4.4 / in 5–6.7
// (native); profiles show our own JS at a few % and the rest in the AEAD and the fakes' copies.
// Message: type 4 ‖ receiver u32 LE ‖ counter u64 LE ‖ ciphertext ‖ tag; nonce = 0⁴ ‖ counter LE.
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import { writeU32LE } from './bytes.js';
import {
  AEAD_TAG_SIZE,
  MESSAGE_TRANSPORT_TYPE,
  PADDING_MULTIPLE,
  TRANSPORT_HEADER_SIZE,
  TRANSPORT_OFF_COUNTER,
  TRANSPORT_OFF_RECEIVER,
} from './constants.js';

const AUTH_TAG = { authTagLength: AEAD_TAG_SIZE } as const;

export function importAeadKey(raw: Uint8Array): KeyObject {
  return createSecretKey(raw);
}

/**
 * Plaintext length after padding (wireguard-go calculatePaddingSize): the next multiple of 16, capped
 * at the MTU. A packet longer than the MTU (should not happen with a TUN of that MTU) is padded as if
 * its length were taken modulo the MTU. Keepalives (0 bytes) stay 0.
 */
export function paddedLength(len: number, mtu: number): number {
  let last = len;
  if (mtu > 0 && last > mtu) last %= mtu;
  let padded = (last + PADDING_MULTIPLE - 1) & ~(PADDING_MULTIPLE - 1);
  if (mtu > 0 && padded > mtu) padded = mtu;
  return len + (padded - last);
}

/**
 * The data-path AEAD as the device uses it: keys are opaque handles made by importKey. Implemented here
 * with node:crypto (TransportCrypto) and by the native addon (native-aead.ts NativeTransportCrypto:
 * in-place, reused OpenSSL contexts, no per-packet objects), which the device prefers when it loads.
 */
export interface TransportAead {
  readonly name?: string;
  importKey(raw: Uint8Array): unknown;
  /** Writes header ‖ sealed zero-padded plaintext ‖ tag into `out` at 0; returns the message length. */
  seal(key: unknown, receiver: number, counter: number, src: Uint8Array, srcOff: number, len: number, paddedLen: number, out: Uint8Array): number;
  /** Decrypts msg[0:len] into `out` at 0; the plaintext length, or -1 when authentication fails. */
  open(key: unknown, msg: Uint8Array, len: number, out: Uint8Array): number;
}

/** Reusable sealer/opener; not concurrency-safe (one per device, used from one thread). */
export class TransportCrypto implements TransportAead {
  readonly name = 'node:crypto';

  importKey(raw: Uint8Array): KeyObject {
    return createSecretKey(raw);
  }

  private readonly nonce = Buffer.alloc(12);
  /** Scratch for padding the plaintext: large enough for any UDP payload. */
  private readonly scratch = Buffer.alloc(65536 + 16);

  /**
   * Writes a complete transport message into `out` at 0: header, the `len` bytes of `src` zero-padded
   * to `paddedLen`, and the tag. Returns the message length. `out` must hold 32 + paddedLen bytes.
   */
  seal(key: unknown, receiver: number, counter: number, src: Uint8Array, srcOff: number, len: number, paddedLen: number, out: Uint8Array): number {
    writeU32LE(out, 0, MESSAGE_TRANSPORT_TYPE);
    writeU32LE(out, TRANSPORT_OFF_RECEIVER, receiver);
    const lo = counter % 4294967296;
    const hi = (counter - lo) / 4294967296;
    writeU32LE(out, TRANSPORT_OFF_COUNTER, lo);
    writeU32LE(out, TRANSPORT_OFF_COUNTER + 4, hi);
    const n = this.nonce;
    n.writeUInt32LE(lo, 4);
    n.writeUInt32LE(hi, 8);
    const c = createCipheriv('chacha20-poly1305', key as KeyObject, n, AUTH_TAG);
    let body: Buffer;
    if (paddedLen === len) {
      body = c.update(src.subarray(srcOff, srcOff + len));
    } else {
      const s = this.scratch;
      s.set(src.subarray(srcOff, srcOff + len), 0);
      s.fill(0, len, paddedLen);
      body = c.update(s.subarray(0, paddedLen));
    }
    c.final();
    out.set(body, TRANSPORT_HEADER_SIZE);
    out.set(c.getAuthTag(), TRANSPORT_HEADER_SIZE + paddedLen);
    return TRANSPORT_HEADER_SIZE + paddedLen + AEAD_TAG_SIZE;
  }

  /**
   * Decrypts the transport message `msg[0:len]` into `out` at 0. Returns the plaintext length, or -1
   * when authentication fails. The counter bytes are used for the nonce exactly as received.
   */
  open(key: unknown, msg: Uint8Array, len: number, out: Uint8Array): number {
    const n = this.nonce;
    for (let i = 0; i < 8; i++) n[4 + i] = msg[TRANSPORT_OFF_COUNTER + i];
    const ctLen = len - TRANSPORT_HEADER_SIZE - AEAD_TAG_SIZE;
    const d = createDecipheriv('chacha20-poly1305', key as KeyObject, n, AUTH_TAG);
    d.setAuthTag(msg.subarray(TRANSPORT_HEADER_SIZE + ctLen, len));
    const body = d.update(msg.subarray(TRANSPORT_HEADER_SIZE, TRANSPORT_HEADER_SIZE + ctLen));
    try {
      d.final();
    } catch {
      return -1;
    }
    out.set(body, 0);
    return ctLen;
  }
}
