// Transport-message sealing and opening through the native addon's in-place ChaCha20-Poly1305 (OpenSSL
// contexts reused per key: no Cipher object, Buffer or GC per packet). Same method shapes as
// TransportCrypto in transport.ts, so the data path can switch by swapping the key type and the object:
//   key = nativeTransport.importKey(raw)                      (instead of importAeadKey(raw))
//   nativeTransport.seal(key, receiver, counter, src, off, len, padded, out) / .open(key, msg, len, out)
// Measured in scripts/bench/dataplane.ts (section "AEAD"). Null when the addon is not built.
//
// Why here and not in crypto/ or net/: it writes WireGuard's transport header (type 4, receiver,
// counter) around the AEAD, so it is the native half of transport.ts; and it loads the addon, which the
// pure crypto/ must not. It reaches the addon only through net/native-addon.ts.
import { writeU32LE } from './bytes.js';
import { AEAD_TAG_SIZE, MESSAGE_TRANSPORT_TYPE, TRANSPORT_HEADER_SIZE, TRANSPORT_OFF_COUNTER, TRANSPORT_OFF_RECEIVER } from './constants.js';
import { loadNative, type NativeAddon, type NativeHandle } from '../net/native-addon.js';

export type NativeAeadKey = NativeHandle;

export class NativeTransportCrypto {
  private constructor(private readonly addon: NativeAddon) {}

  /** The native implementation, or null without the addon. */
  static create(): NativeTransportCrypto | null {
    const addon = loadNative();
    return addon !== null && typeof addon.aeadKey === 'function' ? new NativeTransportCrypto(addon) : null;
  }

  importKey(raw: Uint8Array): NativeAeadKey {
    return this.addon.aeadKey(raw);
  }

  /** Writes header ‖ sealed padded plaintext ‖ tag into `out` at 0; returns the message length. */
  seal(key: NativeAeadKey, receiver: number, counter: number, src: Uint8Array, srcOff: number, len: number, paddedLen: number, out: Uint8Array): number {
    const lo = counter % 4294967296;
    const hi = (counter - lo) / 4294967296;
    writeU32LE(out, 0, MESSAGE_TRANSPORT_TYPE);
    writeU32LE(out, TRANSPORT_OFF_RECEIVER, receiver);
    writeU32LE(out, TRANSPORT_OFF_COUNTER, lo);
    writeU32LE(out, TRANSPORT_OFF_COUNTER + 4, hi);
    return TRANSPORT_HEADER_SIZE + this.addon.aeadSeal(key, lo, hi, src, srcOff, len, paddedLen, out, TRANSPORT_HEADER_SIZE);
  }

  /** Decrypts transport message msg[0:len] into `out` at 0; plaintext length or -1 (bad tag, too short). */
  open(key: NativeAeadKey, msg: Uint8Array, len: number, out: Uint8Array): number {
    if (len < TRANSPORT_HEADER_SIZE + AEAD_TAG_SIZE) return -1;
    const o = TRANSPORT_OFF_COUNTER;
    const lo = (msg[o] | (msg[o + 1] << 8) | (msg[o + 2] << 16) | (msg[o + 3] << 24)) >>> 0;
    const hi = (msg[o + 4] | (msg[o + 5] << 8) | (msg[o + 6] << 16) | (msg[o + 7] << 24)) >>> 0;
    return this.addon.aeadOpen(key, lo, hi, msg, TRANSPORT_HEADER_SIZE, len - TRANSPORT_HEADER_SIZE, out, 0);
  }
}
