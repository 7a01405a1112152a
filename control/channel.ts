// The agent ↔ control channel: a Noise IK session over a byte stream (the socket left behind by an HTTP
// Upgrade, control/server.ts and control/client.ts). Framing:
//
//   frame   = u32 BE length ‖ body                 (length ≤ MAX_FRAME_BODY)
//   frame 1 = Noise message 1 (agent → control, static = the agent's machine key)
//   frame 2 = Noise message 2 (control → agent)
//   then    = Noise transport messages; each decrypts to  flag u8 ‖ chunk  (flag 1: more chunks follow)
//
// Noise caps a message at 65535 bytes, so one JSON message (a netmap can be megabytes) is split into
// chunks and reassembled. Transport nonces are implicit and strictly sequential, so a replayed, dropped,
// reordered or modified frame fails authentication and the channel closes; nothing of it is delivered.
import type { Duplex } from 'node:stream';
import { NoiseHandshake, type NoiseCipher } from '../crypto/noise.js';
import { CONTROL_PROLOGUE } from './protocol.js';

/** Noise's maximum message length. */
export const MAX_FRAME_BODY = 65535;
const AEAD_TAG = 16;
const MAX_CHUNK = MAX_FRAME_BODY - AEAD_TAG - 1;
/** Implementation limit on one reassembled message. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
export const HANDSHAKE_TIMEOUT_MS = 10_000;

const PROLOGUE = new TextEncoder().encode(CONTROL_PROLOGUE);

/** Splits a byte stream into frames. `push` returns null on a malformed length (the stream is then dead). */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(data: Buffer): Buffer[] | null {
    this.buf = this.buf.length === 0 ? data : Buffer.concat([this.buf, data]);
    const out: Buffer[] = [];
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (len > MAX_FRAME_BODY) return null;
      if (this.buf.length < 4 + len) break;
      out.push(this.buf.subarray(4, 4 + len));
      this.buf = this.buf.subarray(4 + len);
    }
    return out;
  }
}

export function frame(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}

export type MessageHandler = (text: string) => void;
export type CloseHandler = (reason: string) => void;

/** An established channel. Not safe to share between two writers with different framing. */
export class NoiseChannel {
  private parts: Buffer[] = [];
  private partBytes = 0;
  private closed = false;
  private onMessageCb: MessageHandler = () => {};
  private onCloseCb: CloseHandler = () => {};
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  /** Largest reassembled message accepted from the peer; control lowers it for agents (session.ts). */
  maxMessageBytes = MAX_MESSAGE_BYTES;

  constructor(
    readonly socket: Duplex,
    private readonly sendCipher: NoiseCipher,
    private readonly recvCipher: NoiseCipher,
    /** Noise handshake hash: binds proofs to this session. */
    readonly handshakeHash: Uint8Array,
    /** The peer's static public key (for control: the agent's machine key). */
    readonly remoteStatic: Uint8Array,
    private readonly reader: FrameReader,
    private pending: Buffer[],
  ) {
    // The socket arrives paused; it flows once a message handler is attached (see onMessage).
    socket.on('close', () => this.shut('connection closed'));
    socket.on('error', (e: Error) => this.shut(`socket error: ${e.message}`));
    // The peer's FIN ends the channel; end our side too, or the socket stays half-open (node:http servers
    // allow half-open sockets) and holds its descriptor for ever.
    socket.on('end', () => this.close('connection closed by peer'));
  }

  /** Attaches the handler, delivers frames that arrived with the handshake, and starts reading. */
  onMessage(cb: MessageHandler): void {
    this.onMessageCb = cb;
    const pending = this.pending;
    this.pending = [];
    for (const f of pending) {
      if (this.closed) return;
      this.onFrame(f);
    }
    if (this.socket.listenerCount('data') === 0) this.socket.on('data', (d: Buffer) => this.ingest(d));
    this.socket.resume();
  }

  onClose(cb: CloseHandler): void {
    this.onCloseCb = cb;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Bytes queued in the socket, for back-pressure decisions. */
  get queuedBytes(): number {
    return (this.socket as Duplex & { writableLength?: number }).writableLength ?? 0;
  }

  send(text: string): void {
    if (this.closed) return;
    const data = Buffer.from(text, 'utf8');
    let off = 0;
    do {
      const n = Math.min(MAX_CHUNK, data.length - off);
      const pt = new Uint8Array(1 + n);
      pt[0] = off + n < data.length ? 1 : 0;
      pt.set(data.subarray(off, off + n), 1);
      this.socket.write(frame(this.sendCipher.encrypt(pt)));
      off += n;
    } while (off < data.length);
  }

  close(reason = 'closed'): void {
    if (this.closed) return;
    this.shut(reason);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private ingest(d: Buffer): void {
    if (this.closed) return;
    const frames = this.reader.push(d);
    if (!frames) return this.abort('oversized frame');
    for (const f of frames) {
      if (this.closed) return;
      this.onFrame(f);
    }
  }

  private onFrame(f: Buffer): void {
    let pt: Uint8Array;
    try {
      pt = this.recvCipher.decrypt(f);
    } catch {
      return this.abort('message failed authentication (tampered or replayed)');
    }
    if (pt.length < 1 || pt[0] > 1) return this.abort('bad chunk header');
    this.partBytes += pt.length - 1;
    if (this.partBytes > this.maxMessageBytes) return this.abort('message too large');
    this.parts.push(Buffer.from(pt.buffer, pt.byteOffset + 1, pt.length - 1));
    if (pt[0] === 1) return;
    const whole = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
    this.parts = [];
    this.partBytes = 0;
    let text: string;
    try {
      text = this.decoder.decode(whole);
    } catch {
      return this.abort('message is not UTF-8');
    }
    this.onMessageCb(text);
  }

  private abort(reason: string): void {
    this.shut(reason);
    this.socket.destroy();
  }

  private shut(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.sendCipher.wipe();
    this.recvCipher.wipe();
    this.onCloseCb(reason);
  }
}

/**
 * Reads frames until `count` are available or the stream fails. Leaves the socket paused, and hands back
 * the reader (it may hold a partial frame) and any extra frames, so nothing that arrived early is lost.
 */
function readFrames(socket: Duplex, head: Buffer, count: number, timeoutMs: number): Promise<{ frames: Buffer[]; reader: FrameReader }> {
  return new Promise((resolve, reject) => {
    const reader = new FrameReader();
    const got: Buffer[] = [];
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('end', onClose);
      socket.off('error', onError);
    };
    const onData = (d: Buffer): void => {
      const frames = reader.push(d);
      if (!frames) {
        cleanup();
        reject(new Error('oversized handshake frame'));
        return;
      }
      got.push(...frames);
      if (got.length >= count) {
        socket.pause();
        cleanup();
        resolve({ frames: got, reader });
      }
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('connection closed during handshake'));
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(e);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error('handshake timed out'));
    }, timeoutMs);
    socket.on('data', onData);
    socket.on('close', onClose);
    // A FIN mid-handshake: the peer is gone, though the half-open socket would not emit 'close' yet.
    socket.on('end', onClose);
    socket.on('error', onError);
    if (head.length > 0) onData(head);
  });
}

/** Control side: completes the handshake on an upgraded socket. Rejects (and the caller destroys) on failure. */
export async function acceptChannel(socket: Duplex, head: Buffer, staticPrivate: Uint8Array, timeoutMs = HANDSHAKE_TIMEOUT_MS): Promise<NoiseChannel> {
  const { frames, reader } = await readFrames(socket, head, 1, timeoutMs);
  const hs = new NoiseHandshake({ initiator: false, staticPrivate, prologue: PROLOGUE });
  hs.readMessage(frames[0]);
  const remote = hs.remoteStaticPublic as Uint8Array;
  socket.write(frame(hs.writeMessage(new Uint8Array(0))));
  const { send, recv } = hs.split();
  return new NoiseChannel(socket, send, recv, hs.handshakeHash(), remote, reader, frames.slice(1));
}

/** Agent side: runs the handshake as initiator with the machine key as static key. */
export async function openChannel(
  socket: Duplex,
  head: Buffer,
  machinePrivate: Uint8Array,
  controlPublic: Uint8Array,
  timeoutMs = HANDSHAKE_TIMEOUT_MS,
): Promise<NoiseChannel> {
  const hs = new NoiseHandshake({ initiator: true, staticPrivate: machinePrivate, remoteStatic: controlPublic, prologue: PROLOGUE });
  socket.write(frame(hs.writeMessage(new Uint8Array(0))));
  const { frames, reader } = await readFrames(socket, head, 1, timeoutMs);
  hs.readMessage(frames[0]);
  const { send, recv } = hs.split();
  return new NoiseChannel(socket, send, recv, hs.handshakeHash(), controlPublic, reader, frames.slice(1));
}
