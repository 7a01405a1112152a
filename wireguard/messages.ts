// Message codecs: classify a datagram by type and size, and read/write the index fields at their fixed
// offsets (see constants.ts for every offset). Parsing never throws; a datagram that is not a well-formed
// WireGuard message yields MSG_INVALID and the caller counts the drop.
import { readU32LE, writeU32LE } from './bytes.js';
import {
  MESSAGE_COOKIE_REPLY_SIZE,
  MESSAGE_COOKIE_REPLY_TYPE,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_INITIATION_TYPE,
  MESSAGE_RESPONSE_SIZE,
  MESSAGE_RESPONSE_TYPE,
  MESSAGE_TRANSPORT_MIN_SIZE,
  MESSAGE_TRANSPORT_TYPE,
} from './constants.js';

export const MSG_INVALID = 0;

/**
 * The message type of `len` bytes at the start of `buf`, or MSG_INVALID when the type is unknown, the
 * reserved bytes are not zero, or the size does not match the type (handshake messages have exact sizes).
 */
export function classifyMessage(buf: Uint8Array, len: number): number {
  if (len < 4) return MSG_INVALID;
  const t = readU32LE(buf, 0); // type byte + 3 zero bytes, read as one u32 LE
  switch (t) {
    case MESSAGE_TRANSPORT_TYPE:
      return len >= MESSAGE_TRANSPORT_MIN_SIZE ? t : MSG_INVALID;
    case MESSAGE_INITIATION_TYPE:
      return len === MESSAGE_INITIATION_SIZE ? t : MSG_INVALID;
    case MESSAGE_RESPONSE_TYPE:
      return len === MESSAGE_RESPONSE_SIZE ? t : MSG_INVALID;
    case MESSAGE_COOKIE_REPLY_TYPE:
      return len === MESSAGE_COOKIE_REPLY_SIZE ? t : MSG_INVALID;
    default:
      return MSG_INVALID;
  }
}

/** Writes the 4-byte type header (type + three reserved zero bytes). */
export function writeMessageType(buf: Uint8Array, type: number, off = 0): void {
  writeU32LE(buf, off, type);
}

/** The receiver index of a response (off 8), cookie reply (off 4) or transport message (off 4). */
export function receiverIndexOf(buf: Uint8Array, type: number): number {
  return readU32LE(buf, type === MESSAGE_RESPONSE_TYPE ? 8 : 4);
}
