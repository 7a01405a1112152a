// The relay server: forwards datagrams between nodes addressed by node public key, one TCP connection
// (an HTTP upgrade to `grantwire-relay-v2` on RELAY_PATH) per node, framed as frame.ts says.
//
// Authentication, both ways (auth.ts): the client proves its node key over both connection nonces, and the
// relay answers with a proof of its own static key (`privateKey`, stable across restarts: control keeps it
// in its state, a standalone relay in its key file), which clients pin from the netmap's relay map.
// Authorization: `authorize(nodeKeyText)` (control's view: registered, not expired, not deleted) is asked
// on connect and again every `recheckMs` for every connected node; a node that is no longer authorized is
// disconnected, and nothing is forwarded to (or from) a key that has no authorized connection here.
// Packets are opaque (WireGuard and disco are end-to-end encrypted); a slow reader loses packets once its
// socket buffers MAX_QUEUED_BYTES (UDP semantics, never unbounded memory).
//
// Used inside control (control/relay-hook.ts) and standalone (relay/standalone.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { defaultCrypto, type DhPrivateKey } from '../crypto/backend.js';
import { NodePublic } from '../crypto/key.js';
import { proveRelayServer, verifyRelayClient } from './auth.js';
import {
  encodeFrame,
  encodePacketFrame,
  FrameReader,
  FrameType,
  RELAY_KEY_SIZE,
  RELAY_NONCE_SIZE,
  RELAY_PROOF_SIZE,
  type FrameTypeValue,
} from './frame.js';

export const RELAY_PATH = '/relay';
/** Answers 200 quickly: agents time it to choose their home relay. */
export const RELAY_PROBE_PATH = '/relay/probe';
/** v2: mutual authentication (v1 clients sent no nonce and checked nothing). */
export const RELAY_UPGRADE = 'grantwire-relay-v2';
export const RELAY_AUTH_TIMEOUT_MS = 10_000;
export const DEFAULT_RELAY_RECHECK_MS = 5_000;
/** Implementation limit: per-connection send backlog before packets to it are dropped. */
export const MAX_QUEUED_BYTES = 4 << 20;

export type RelayAuthorizer = (nodeKey: string) => boolean | Promise<boolean>;

export interface RelayServerOptions {
  authorize: RelayAuthorizer;
  /**
   * The relay's static X25519 private key (clients pin its public half). Default: a fresh key per process,
   * for tests and benchmarks only (clients must then be given `publicKey`).
   */
  privateKey?: Uint8Array;
  recheckMs?: number;
  log?: (level: 'debug' | 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
}

interface Conn {
  socket: Duplex;
  key: Uint8Array;
  keyText: string;
}

export class RelayServer {
  readonly publicKey: Uint8Array;
  readonly stats = { accepted: 0, refusedAuth: 0, refusedUnauthorized: 0, revoked: 0, forwardedPackets: 0, forwardedBytes: 0, droppedNoPeer: 0, droppedBackpressure: 0, badFrames: 0 };
  private readonly key: DhPrivateKey;
  private readonly conns = new Map<string, Conn>();
  private readonly pending = new Set<Duplex>();
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly opts: RelayServerOptions) {
    this.key = opts.privateKey ? defaultCrypto().importPrivateKey(opts.privateKey) : defaultCrypto().generatePrivateKey();
    this.publicKey = Uint8Array.from(this.key.publicKey);
    this.timer = setInterval(() => void this.recheck(), opts.recheckMs ?? DEFAULT_RELAY_RECHECK_MS);
    this.timer.unref();
  }

  /** Node keys (text) with an authenticated connection. */
  connectedKeys(): string[] {
    return [...this.conns.keys()];
  }

  /** Plain HTTP requests under RELAY_PATH; false when the path is not the relay's. */
  handleRequest(req: IncomingMessage, res: ServerResponse, pathname: string): boolean {
    if (pathname === RELAY_PROBE_PATH && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 3 });
      res.end('ok\n');
      return true;
    }
    if (pathname === RELAY_PATH) {
      const body = `upgrade to ${RELAY_UPGRADE} required\n`;
      res.writeHead(426, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return true;
    }
    return false;
  }

  /** An HTTP upgrade; false when it is not for the relay (the caller answers it). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, pathname: string): boolean {
    if (pathname !== RELAY_PATH) return false;
    socket.on('error', () => {});
    if ((req.headers.upgrade ?? '').toLowerCase() !== RELAY_UPGRADE || this.closed) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return true;
    }
    (socket as Duplex & { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${RELAY_UPGRADE}\r\nConnection: Upgrade\r\n\r\n`);
    this.accept(socket, head);
    return true;
  }

  /** Disconnects a node at once (control deleted or expired it). */
  revoke(nodeKey: string): void {
    const c = this.conns.get(nodeKey);
    if (!c) return;
    this.stats.revoked++;
    this.conns.delete(nodeKey);
    c.socket.destroy();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    for (const c of this.conns.values()) c.socket.destroy();
    for (const s of this.pending) s.destroy();
    this.conns.clear();
  }

  private accept(socket: Duplex, head: Buffer): void {
    const nonce = defaultCrypto().randomBytes(RELAY_NONCE_SIZE);
    let conn: Conn | null = null;
    let authing = false;
    this.pending.add(socket);
    const authTimer = setTimeout(() => socket.destroy(), RELAY_AUTH_TIMEOUT_MS);
    authTimer.unref();
    const reader = new FrameReader((type: FrameTypeValue, p: Uint8Array) => {
      if (conn === null) {
        if (type !== FrameType.CLIENT_AUTH || authing) {
          this.stats.badFrames++;
          socket.destroy();
          return;
        }
        authing = true;
        const key = Uint8Array.from(p.subarray(0, RELAY_KEY_SIZE));
        const proof = Uint8Array.from(p.subarray(RELAY_KEY_SIZE, RELAY_KEY_SIZE + RELAY_PROOF_SIZE));
        const clientNonce = Uint8Array.from(p.subarray(RELAY_KEY_SIZE + RELAY_PROOF_SIZE, RELAY_KEY_SIZE + RELAY_PROOF_SIZE + RELAY_NONCE_SIZE));
        const ours = verifyRelayClient(this.key, key, nonce, clientNonce, proof) ? proveRelayServer(this.key, key, nonce, clientNonce) : null;
        if (ours === null) {
          this.stats.refusedAuth++;
          socket.destroy();
          return;
        }
        const keyText = NodePublic.text(key);
        void Promise.resolve(this.authorizeSafe(keyText)).then((ok) => {
          clearTimeout(authTimer);
          this.pending.delete(socket);
          if (!ok || socket.destroyed || this.closed) {
            if (!ok) this.stats.refusedUnauthorized++;
            this.opts.log?.('info', 'relay refused an unauthorized node key', { nodeKey: keyText });
            socket.destroy();
            return;
          }
          const c: Conn = { socket, key, keyText };
          const old = this.conns.get(keyText);
          if (old) old.socket.destroy();
          this.conns.set(keyText, c);
          conn = c;
          this.stats.accepted++;
          socket.once('close', () => {
            if (this.conns.get(keyText) === c) this.conns.delete(keyText);
          });
          socket.write(encodeFrame(FrameType.SERVER_OK, ours));
        });
        return;
      }
      this.onFrame(conn, type, p);
    });
    socket.once('close', () => {
      clearTimeout(authTimer);
      this.pending.delete(socket);
    });
    const feed = (chunk: Buffer): void => {
      const err = reader.push(chunk);
      if (err !== null) {
        this.stats.badFrames++;
        socket.destroy();
      }
    };
    socket.on('data', feed);
    socket.write(encodeFrame(FrameType.SERVER_CHALLENGE, this.publicKey, nonce));
    if (head.length > 0) feed(head);
  }

  private onFrame(c: Conn, type: FrameTypeValue, p: Uint8Array): void {
    switch (type) {
      case FrameType.SEND_PACKET: {
        const dstText = NodePublic.text(p.subarray(0, RELAY_KEY_SIZE));
        const dst = this.conns.get(dstText);
        if (!dst) {
          this.stats.droppedNoPeer++;
          c.socket.write(encodeFrame(FrameType.PEER_GONE, p.subarray(0, RELAY_KEY_SIZE)));
          return;
        }
        if (dst.socket.writableLength > MAX_QUEUED_BYTES) {
          this.stats.droppedBackpressure++;
          return;
        }
        const n = p.length - RELAY_KEY_SIZE;
        dst.socket.write(encodePacketFrame(FrameType.RECV_PACKET, c.key, p, RELAY_KEY_SIZE, n));
        this.stats.forwardedPackets++;
        this.stats.forwardedBytes += n;
        return;
      }
      case FrameType.PING:
        c.socket.write(encodeFrame(FrameType.PONG, p));
        return;
      case FrameType.PONG:
        return;
      default:
        this.stats.badFrames++;
        c.socket.destroy();
    }
  }

  private async authorizeSafe(keyText: string): Promise<boolean> {
    try {
      return await this.opts.authorize(keyText);
    } catch (err) {
      this.opts.log?.('warn', 'relay authorization failed', { nodeKey: keyText, error: (err as Error).message });
      return false;
    }
  }

  private async recheck(): Promise<void> {
    for (const [keyText, c] of [...this.conns]) {
      const ok = await this.authorizeSafe(keyText);
      if (!ok && this.conns.get(keyText) === c) {
        this.opts.log?.('info', 'relay disconnected a node that is no longer authorized', { nodeKey: keyText });
        this.revoke(keyText);
      }
    }
  }
}
