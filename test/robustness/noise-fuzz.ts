// Hostile Noise channels to control (control/channel.ts framing, session.ts requests): each round opens
// the /noise upgrade over raw TCP and then sends one of
// - random bytes, a frame whose length field is over the limit, random or truncated frames;
// - a well-formed first message with random keys (wrong responder key: decryption fails);
// - a mutated copy, or an exact replay, of a real first message to control's key;
// - a real handshake followed by transport frames that fail authentication, carry a bad chunk header,
//   are not UTF-8, are junk JSON, grow past the first-message cap, or are well-formed requests that must
//   be refused: register / map / logout for another node's key (with a valid proof of that key from
//   this machine), a bad proof, an `update` as first request.
// A round resolves with its label and, for the authenticated shapes, the first reply control sent.
import { connect, type Socket } from 'node:net';
import { frame } from '../../control/channel.js';
import { proveNodeKey } from '../../control/node-key-proof.js';
import { CONTROL_PROLOGUE, NOISE_UPGRADE } from '../../control/protocol.js';
import { generatePrivateKey, NodePublic, publicKeyFromPrivate } from '../../crypto/key.js';
import { NoiseHandshake, type NoiseCipher } from '../../crypto/noise.js';
import type { Fuzz } from './fuzz-rng.js';

const PROLOGUE = new TextEncoder().encode(CONTROL_PROLOGUE);
const UPGRADE_REQUEST = `POST /noise HTTP/1.1\r\nHost: control\r\nConnection: Upgrade\r\nUpgrade: ${NOISE_UPGRADE}\r\n\r\n`;

export interface NoiseTarget {
  port: number;
  /** Control's static public key (GET /key). */
  serverKey: Uint8Array;
  /** A registered node's private node key: proofs for it from another machine must not be enough. */
  otherNodePrivate: Uint8Array;
  /** Real first messages seen so far (replayed and mutated by later rounds). */
  firstMessages: Uint8Array[];
}

export interface NoiseRound {
  label: string;
  /** Server message `type` (and `code` for errors) of the first reply on an authenticated channel. */
  reply?: string;
  /** Authenticated shapes that must be refused: a reply other than an error (or a close) is a failure. */
  mustRefuse: boolean;
  /** Well-formed requests control must answer with an error message (not just drop). */
  wantError?: boolean;
  /** The upgrade itself was refused (503: pre-auth limits). */
  refused?: boolean;
}

/** Bytes read from a socket, with a bounded wait for a condition on them. */
class Reader {
  buf = Buffer.alloc(0);
  closed = false;
  private wake: (() => void) | null = null;

  constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake?.();
    });
    const end = (): void => {
      this.closed = true;
      this.wake?.();
    };
    socket.on('close', end);
    socket.on('error', end);
  }

  /** Waits until `pred` holds, the socket closes, or `ms` pass; returns whether `pred` held. */
  async until(pred: (b: Buffer) => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!pred(this.buf)) {
      if (this.closed || Date.now() >= deadline) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = null;
    }
    return true;
  }
}

function writeSafe(s: Socket, b: Uint8Array): void {
  if (!s.destroyed) s.write(b);
}

/** A real first message (as openChannel builds it) from a fresh machine key, with the handshake to finish it. */
export function firstMessage(serverKey: Uint8Array, machinePrivate = generatePrivateKey()): { hs: NoiseHandshake; msg: Uint8Array; machinePrivate: Uint8Array } {
  const hs = new NoiseHandshake({ initiator: true, staticPrivate: machinePrivate, remoteStatic: serverKey, prologue: PROLOGUE });
  return { hs, msg: hs.writeMessage(new Uint8Array(0)), machinePrivate };
}

/** Transport frame carrying one chunk: flag ‖ bytes. */
function chunkFrame(send: NoiseCipher, flag: number, data: Uint8Array): Buffer {
  const pt = new Uint8Array(1 + data.length);
  pt[0] = flag;
  pt.set(data, 1);
  return frame(send.encrypt(pt));
}

function textFrame(send: NoiseCipher, text: string): Buffer {
  return chunkFrame(send, 0, new TextEncoder().encode(text));
}

const HEX64 = /^[0-9a-f]{64}$/;

/** The first server message on an established channel (`type`, or `error:code`), or a note why none came. */
async function firstReply(r: Reader, recv: NoiseCipher, ms: number): Promise<string> {
  const whole = (b: Buffer): boolean => b.length >= 4 && b.length >= 4 + b.readUInt32BE(0);
  if (!(await r.until(whole, ms))) return r.closed ? 'closed' : 'silent';
  const len = r.buf.readUInt32BE(0);
  const body = r.buf.subarray(4, 4 + len);
  r.buf = r.buf.subarray(4 + len);
  try {
    const pt = recv.decrypt(body);
    const msg = JSON.parse(Buffer.from(pt.subarray(1)).toString('utf8')) as { type: string; code?: string };
    return msg.type === 'error' ? `error:${msg.code}` : msg.type;
  } catch (err) {
    return `undecodable reply: ${(err as Error).message}`;
  }
}

/** One hostile channel; never rejects. `waitMs` bounds every wait. */
export async function noiseRound(f: Fuzz, t: NoiseTarget, waitMs: number): Promise<NoiseRound> {
  const socket = connect({ host: '127.0.0.1', port: t.port });
  socket.on('error', () => {});
  const r = new Reader(socket);
  try {
    socket.write(UPGRADE_REQUEST);
    const headersDone = await r.until((b) => b.includes('\r\n\r\n'), waitMs * 4);
    const status = headersDone ? /^HTTP\/1\.1 (\d{3})/.exec(r.buf.toString('latin1'))?.[1] : undefined;
    if (status === '503') return { label: 'upgrade refused', mustRefuse: false, refused: true };
    if (status !== '101') return { label: `no upgrade (${status ?? 'no answer'})`, mustRefuse: false };
    r.buf = r.buf.subarray(r.buf.indexOf('\r\n\r\n') + 4);
    return await shape(f, t, socket, r, waitMs);
  } finally {
    socket.destroy();
  }
}

async function shape(f: Fuzz, t: NoiseTarget, s: Socket, r: Reader, waitMs: number): Promise<NoiseRound> {
  const settle = (): Promise<boolean> => r.until(() => false, waitMs);
  switch (f.int(8)) {
    case 0:
      writeSafe(s, f.bytes(f.size(4096)));
      await settle();
      return { label: 'random bytes after the upgrade', mustRefuse: false };
    case 1: {
      const hdr = Buffer.alloc(4);
      hdr.writeUInt32BE(f.pick([65536, 0xffffffff, 0x7fffffff, 65535 + f.range(1, 1_000_000)]), 0);
      writeSafe(s, Buffer.concat([hdr, Buffer.from(f.bytes(f.size(512)))]));
      await settle();
      return { label: 'oversized frame length', mustRefuse: false };
    }
    case 2: {
      const frames = Array.from({ length: f.range(1, 4) }, () => frame(f.bytes(f.size(300))));
      writeSafe(s, Buffer.concat(frames));
      await settle();
      return { label: 'random frames', mustRefuse: false };
    }
    case 3: {
      const full = frame(f.chance(0.5) ? firstMessage(t.serverKey).msg : f.bytes(f.range(1, 2000)));
      writeSafe(s, full.subarray(0, f.range(1, full.length - 1)));
      await settle();
      return { label: 'truncated frame', mustRefuse: false };
    }
    case 4: {
      const { msg } = firstMessage(generatePrivateKey());
      writeSafe(s, frame(msg));
      await settle();
      return { label: 'first message to a random responder key', mustRefuse: false };
    }
    case 5: {
      const real = t.firstMessages.length > 0 && f.chance(0.7) ? f.pick(t.firstMessages) : firstMessage(t.serverKey).msg;
      const replay = f.chance(0.2);
      writeSafe(s, frame(replay ? real : f.mutate(real)));
      await settle();
      return { label: replay ? 'replayed first message' : 'mutated first message', mustRefuse: false };
    }
    default:
      return authenticated(f, t, s, r, waitMs);
  }
}

/** A real handshake with a fresh machine key, then one hostile transport-phase shape. */
async function authenticated(f: Fuzz, t: NoiseTarget, s: Socket, r: Reader, waitMs: number): Promise<NoiseRound> {
  const { hs, msg, machinePrivate } = firstMessage(t.serverKey);
  if (t.firstMessages.length < 16) t.firstMessages.push(msg);
  writeSafe(s, frame(msg));
  const got = await r.until((b) => b.length >= 4 && b.length >= 4 + b.readUInt32BE(0), waitMs * 8);
  if (!got) return { label: 'handshake: no second message', mustRefuse: true, reply: r.closed ? 'closed' : 'silent' };
  const len = r.buf.readUInt32BE(0);
  hs.readMessage(r.buf.subarray(4, 4 + len));
  r.buf = r.buf.subarray(4 + len);
  const { send, recv } = hs.split();
  const h = hs.handshakeHash();
  const machinePublic = publicKeyFromPrivate(machinePrivate);
  const other = NodePublic.text(publicKeyFromPrivate(t.otherNodePrivate));
  const proofOfOther = proveNodeKey(t.otherNodePrivate, t.serverKey, h, machinePublic);
  const hostinfo = { os: 'linux', agentVersion: '1.0.0' };

  const kind = f.int(9);
  switch (kind) {
    case 0:
      writeSafe(s, frame(f.bytes(f.range(17, 400))));
      return { label: 'transport frame failing authentication', reply: await firstReply(r, recv, waitMs * 10), mustRefuse: true };
    case 1:
      writeSafe(s, chunkFrame(send, f.range(2, 255), f.bytes(f.size(200))));
      return { label: 'bad chunk header', reply: await firstReply(r, recv, waitMs * 10), mustRefuse: true };
    case 2:
      writeSafe(s, chunkFrame(send, 0, Uint8Array.of(0xff, 0xfe, 0xc0, 0x80, ...f.bytes(f.size(100)))));
      return { label: 'message not UTF-8', reply: await firstReply(r, recv, waitMs * 10), mustRefuse: true };
    case 3: {
      // Continuation chunks past the 64 KiB first-message cap.
      const piece = f.bytes(60_000);
      for (let i = 0; i < 3 && !s.destroyed; i++) writeSafe(s, chunkFrame(send, 1, piece));
      return { label: 'first message over the cap', reply: await firstReply(r, recv, waitMs * 10), mustRefuse: true };
    }
    case 4: {
      const junk = f.pick(['', 'null', '[]', '{}', '{"type":5}', '{"type":"register"}', '{"type":"map","nodeKey":5}', `{"type":"update","endpoints":["1.2.3.4:5"]}`, '{"type":"keepalive"}', '['.repeat(30_000), f.text(f.size(500))]);
      writeSafe(s, textFrame(send, junk));
      return { label: 'junk request', reply: await firstReply(r, recv, waitMs * 10), mustRefuse: true };
    }
    case 5:
      // Another node's key, proven from this (other) machine: refused, node_key_in_use.
      writeSafe(s, textFrame(send, JSON.stringify({ type: 'register', nodeKey: other, nodeKeyProof: proofOfOther, hostname: 'thief', hostinfo, requestTags: [] })));
      return { label: "register with another machine's node key", reply: await firstReply(r, recv, waitMs * 10), mustRefuse: true, wantError: true };
    case 6:
      writeSafe(s, textFrame(send, JSON.stringify({ type: 'map', nodeKey: other, nodeKeyProof: proofOfOther, endpoints: ['192.0.2.9:1'] })));
      return { label: "map for another machine's node", reply: await firstReply(r, recv, waitMs * 10), mustRefuse: true, wantError: true };
    case 7:
      writeSafe(s, textFrame(send, JSON.stringify({ type: 'logout', nodeKey: other, nodeKeyProof: proofOfOther })));
      return { label: "logout of another machine's node", reply: await firstReply(r, recv, waitMs * 10), mustRefuse: true, wantError: true };
    default: {
      // A proof that is well-formed but wrong (random, or for another session).
      const proof = f.chance(0.5) ? Buffer.from(f.bytes(32)).toString('hex') : proveNodeKey(t.otherNodePrivate, t.serverKey, f.bytes(32), machinePublic);
      if (!HEX64.test(proof)) throw new Error('proof shape');
      const type = f.pick(['register', 'map', 'logout']);
      writeSafe(s, textFrame(send, JSON.stringify({ type, nodeKey: other, nodeKeyProof: proof, hostname: 'x', hostinfo, requestTags: [], endpoints: [] })));
      return { label: `${type} with a wrong proof`, reply: await firstReply(r, recv, waitMs * 10), mustRefuse: true, wantError: true };
    }
  }
}
