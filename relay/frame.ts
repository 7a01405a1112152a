// The relay's wire format after the HTTP upgrade: a stream of frames, each
//
//   type u8 | length u32 BE | payload (length bytes, at most MAX_FRAME_PAYLOAD)
//
// Handshake (mutual, auth.ts): the server sends SERVER_CHALLENGE (its X25519 public key ‖ a 32-byte
// nonce); the client checks the key against the one it pinned (from the netmap's relay map) and answers
// CLIENT_AUTH (its node public key ‖ its proof ‖ its own 32-byte nonce); the server answers SERVER_OK
// (its proof over both nonces) or closes. The client sends nothing more until SERVER_OK's proof checks.
// Then SEND_PACKET (destination node key ‖ data) from a client and RECV_PACKET (source node key ‖ data)
// to a client carry WireGuard and disco datagrams unchanged (they are end-to-end encrypted already);
// PEER_GONE (node key) tells a sender its destination is not connected; PING/PONG (8 opaque bytes) measure
// latency and keep NAT/firewall state for the TCP connection alive.
//
// FrameReader parses untrusted bytes: a bad type or an oversized length is an error it reports once
// (the connection is then closed), never a throw.

export const FRAME_HEADER_SIZE = 5;
export const RELAY_KEY_SIZE = 32;
export const RELAY_NONCE_SIZE = 32;
export const RELAY_PROOF_SIZE = 32;
/** A WireGuard message is at most 65535 bytes of UDP payload; plus the key prefix. */
export const MAX_FRAME_PAYLOAD = RELAY_KEY_SIZE + 65535;

export const FrameType = {
  SERVER_CHALLENGE: 1,
  CLIENT_AUTH: 2,
  SERVER_OK: 3,
  SEND_PACKET: 4,
  RECV_PACKET: 5,
  PEER_GONE: 6,
  PING: 7,
  PONG: 8,
} as const;
export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType];

const MAX_TYPE = 8;

/** Writes a frame header at `off` of `out`. */
export function writeFrameHeader(out: Uint8Array, off: number, type: number, len: number): void {
  out[off] = type;
  out[off + 1] = len >>> 24;
  out[off + 2] = (len >>> 16) & 0xff;
  out[off + 3] = (len >>> 8) & 0xff;
  out[off + 4] = len & 0xff;
}

/** One whole frame: header + parts, concatenated (control frames; the packet path uses encodePacketFrame). */
export function encodeFrame(type: FrameTypeValue, ...parts: Uint8Array[]): Buffer {
  let len = 0;
  for (const p of parts) len += p.length;
  if (len > MAX_FRAME_PAYLOAD) throw new RangeError(`relay frame payload ${len} exceeds ${MAX_FRAME_PAYLOAD}`);
  const out = Buffer.allocUnsafe(FRAME_HEADER_SIZE + len);
  writeFrameHeader(out, 0, type, len);
  let o = FRAME_HEADER_SIZE;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** SEND_PACKET / RECV_PACKET: key ‖ data, in one buffer (the socket write needs its own copy anyway). */
export function encodePacketFrame(type: typeof FrameType.SEND_PACKET | typeof FrameType.RECV_PACKET, key: Uint8Array, buf: Uint8Array, off: number, len: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_SIZE + RELAY_KEY_SIZE + len);
  writeFrameHeader(out, 0, type, RELAY_KEY_SIZE + len);
  out.set(key.subarray(0, RELAY_KEY_SIZE), FRAME_HEADER_SIZE);
  out.set(buf.subarray(off, off + len), FRAME_HEADER_SIZE + RELAY_KEY_SIZE);
  return out;
}

/** The minimum and maximum payload length of each frame type (the reader rejects anything else). */
export function payloadBounds(type: number): [number, number] | null {
  switch (type) {
    case FrameType.SERVER_CHALLENGE:
      return [RELAY_KEY_SIZE + RELAY_NONCE_SIZE, RELAY_KEY_SIZE + RELAY_NONCE_SIZE];
    case FrameType.CLIENT_AUTH:
      return [RELAY_KEY_SIZE + RELAY_PROOF_SIZE + RELAY_NONCE_SIZE, RELAY_KEY_SIZE + RELAY_PROOF_SIZE + RELAY_NONCE_SIZE];
    case FrameType.SERVER_OK:
      return [RELAY_PROOF_SIZE, RELAY_PROOF_SIZE];
    case FrameType.SEND_PACKET:
    case FrameType.RECV_PACKET:
      return [RELAY_KEY_SIZE + 1, MAX_FRAME_PAYLOAD];
    case FrameType.PEER_GONE:
      return [RELAY_KEY_SIZE, RELAY_KEY_SIZE];
    case FrameType.PING:
    case FrameType.PONG:
      return [8, 8];
    default:
      return null;
  }
}

/**
 * Reassembles frames from a byte stream. push() returns null while all is well and an error text once
 * the stream is malformed (after which it must not be fed again). `onFrame`'s payload is a view valid
 * only during the call.
 */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private failed = false;

  constructor(private readonly onFrame: (type: FrameTypeValue, payload: Uint8Array) => void) {}

  push(chunk: Uint8Array): string | null {
    if (this.failed) return 'stream already failed';
    this.buf = this.buf.length === 0 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length) : Buffer.concat([this.buf, chunk]);
    let o = 0;
    while (this.buf.length - o >= FRAME_HEADER_SIZE) {
      const type = this.buf[o];
      const len = this.buf.readUInt32BE(o + 1);
      const bounds = type >= 1 && type <= MAX_TYPE ? payloadBounds(type) : null;
      if (!bounds) return this.fail(`unknown frame type ${type}`);
      if (len < bounds[0] || len > bounds[1]) return this.fail(`frame type ${type}: bad length ${len}`);
      if (this.buf.length - o - FRAME_HEADER_SIZE < len) break;
      this.onFrame(type as FrameTypeValue, this.buf.subarray(o + FRAME_HEADER_SIZE, o + FRAME_HEADER_SIZE + len));
      o += FRAME_HEADER_SIZE + len;
    }
    // Keep only the unread tail (copied, so the caller's chunk may be reused).
    this.buf = o === this.buf.length ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(o));
    return null;
  }

  private fail(why: string): string {
    this.failed = true;
    this.buf = Buffer.alloc(0);
    return why;
  }
}
