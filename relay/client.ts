// A node's connection to one relay: HTTP upgrade, mutual key proofs (auth.ts; the relay must prove the
// key pinned in `relayKey`, or it gets nothing: RelayAuthError, counted in stats.refusedRelayKey), then
// packets both ways. Reconnects with backoff until closed, a refused relay included. Sending while disconnected drops the packet (the caller's datagram semantics); queue() keeps
// a few for the connection being made, so a new node's first handshake is not lost. Not concurrency-safe; one per relay per node.
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { defaultCrypto, type DhPrivateKey } from '../crypto/backend.js';
import { keysEqual, RelayPublic } from '../crypto/key.js';
import { RelayAuthError } from '../types/errors.js';
import { proveRelayClient, verifyRelayServer } from './auth.js';
import { encodeFrame, encodePacketFrame, FrameReader, FrameType, RELAY_KEY_SIZE, RELAY_NONCE_SIZE, type FrameTypeValue } from './frame.js';
import { MAX_QUEUED_BYTES, RELAY_PATH, RELAY_PROBE_PATH, RELAY_UPGRADE } from './server.js';

export const RELAY_RECONNECT_MIN_MS = 250;
export const RELAY_RECONNECT_MAX_MS = 5_000;
export const RELAY_KEEPALIVE_MS = 20_000;
/**
 * Datagrams kept while a connection is being made (queue()), and for how long: a new node's first
 * WireGuard handshake goes out before its relay connection is up, and WireGuard retries a lost one only
 * after 5 s (REKEY_TIMEOUT), which was most of bench:relay's time from up to the first packet. Stale ones
 * are dropped, not delivered late.
 */
export const RELAY_PENDING_MAX = 16;
export const RELAY_PENDING_MAX_AGE_MS = 2_000;

export interface RelayClientOptions {
  /** Base URL of the relay's HTTP server (`http://host:port`); RELAY_PATH is appended. */
  url: string;
  nodePrivate: Uint8Array;
  nodePublic: Uint8Array;
  /** The relay's public key as the relay map gives it: the relay must prove it before anything is sent. */
  relayKey: Uint8Array;
  /** A datagram from `src` (a view valid during the call). */
  onPacket: (src: Uint8Array, buf: Uint8Array, len: number) => void;
  onState?: (connected: boolean, error: string | null) => void;
}

export class RelayClient {
  private socket: Socket | null = null;
  private ready = false;
  private closed = false;
  private backoff = RELAY_RECONNECT_MIN_MS;
  private retryTimer: NodeJS.Timeout | null = null;
  private dialing: ClientRequest | null = null;
  private keepalive: NodeJS.Timeout | null = null;
  private readonly pings = new Map<string, (ms: number) => void>();
  lastError: string | null = null;
  /** Why the relay was last refused for its key (cleared by a successful connection). */
  lastAuthError: RelayAuthError | null = null;
  readonly stats = { sent: 0, received: 0, dropped: 0, connects: 0, dials: 0, refusedRelayKey: 0, queued: 0, queuedExpired: 0 };
  private pending: { frame: Uint8Array; at: number }[] = [];
  private readonly nodeKey: DhPrivateKey;
  private readonly pinned: Uint8Array;

  constructor(private readonly opts: RelayClientOptions) {
    this.nodeKey = defaultCrypto().importPrivateKey(opts.nodePrivate);
    this.pinned = Uint8Array.from(RelayPublic.of(opts.relayKey));
  }

  get relayKey(): Uint8Array {
    return this.pinned;
  }

  get connected(): boolean {
    return this.ready;
  }

  get url(): string {
    return this.opts.url;
  }

  start(): void {
    if (this.socket || this.closed) return;
    this.dial();
  }

  /** Queues one datagram for `dst`; false when it was dropped (not connected, or backlogged). */
  send(dst: Uint8Array, buf: Uint8Array, off: number, len: number): boolean {
    const s = this.socket;
    if (!this.ready || !s || s.writableLength > MAX_QUEUED_BYTES) {
      this.stats.dropped++;
      return false;
    }
    s.write(encodePacketFrame(FrameType.SEND_PACKET, dst, buf, off, len));
    this.stats.sent++;
    return true;
  }

  /**
   * Keeps one datagram for `dst` until the connection being made is up (RELAY_PENDING_*); false when the
   * client is connected (use send()), closed, or already holds RELAY_PENDING_MAX.
   */
  queue(dst: Uint8Array, buf: Uint8Array, off: number, len: number): boolean {
    if (this.closed || this.ready || this.pending.length >= RELAY_PENDING_MAX) return false;
    this.pending.push({ frame: encodePacketFrame(FrameType.SEND_PACKET, dst, buf, off, len), at: Date.now() });
    this.stats.queued++;
    return true;
  }

  private flushPending(s: Socket): void {
    const now = Date.now();
    for (const p of this.pending) {
      if (now - p.at > RELAY_PENDING_MAX_AGE_MS) {
        this.stats.queuedExpired++;
        continue;
      }
      s.write(p.frame);
      this.stats.sent++;
    }
    this.pending = [];
  }

  /** Round trip of a PING frame over the live connection (ms); rejects when not connected or after timeout. */
  ping(timeoutMs = 2000): Promise<number> {
    const s = this.socket;
    if (!this.ready || !s) return Promise.reject(new Error('relay not connected'));
    const id = Buffer.allocUnsafe(8);
    id.writeDoubleBE(Math.random());
    const key = id.toString('hex');
    const t0 = performance.now();
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pings.delete(key);
        reject(new Error('relay ping timed out'));
      }, timeoutMs);
      this.pings.set(key, () => {
        clearTimeout(timer);
        resolve(performance.now() - t0);
      });
      s.write(encodeFrame(FrameType.PING, id));
    });
  }

  close(): void {
    this.closed = true;
    this.pending = [];
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.dialing?.destroy();
    this.teardown();
  }

  private teardown(): void {
    this.ready = false;
    if (this.keepalive) clearInterval(this.keepalive);
    this.keepalive = null;
    this.socket?.destroy();
    this.socket = null;
  }

  /** The relay did not prove the pinned key: nothing was or will be sent on this connection. */
  private refuse(err: RelayAuthError): void {
    this.stats.refusedRelayKey++;
    this.lastAuthError = err;
    this.fail(err.message, true);
  }

  private fail(why: string, report = false): void {
    if (this.lastError !== why) this.lastError = why;
    const was = this.ready;
    this.teardown();
    if (was || report) this.opts.onState?.(false, why);
    if (this.closed) return;
    this.retryTimer = setTimeout(() => this.dial(), this.backoff);
    this.retryTimer.unref();
    this.backoff = Math.min(this.backoff * 2, RELAY_RECONNECT_MAX_MS);
  }

  private dial(): void {
    if (this.closed) return;
    this.stats.dials++;
    let u: URL;
    try {
      u = new URL(RELAY_PATH, this.opts.url);
    } catch {
      this.lastError = `bad relay URL ${this.opts.url}`;
      return;
    }
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, {
      method: 'GET',
      headers: { connection: 'Upgrade', upgrade: RELAY_UPGRADE },
      timeout: 10_000,
    });
    this.dialing = req;
    req.once('close', () => {
      if (this.dialing === req) this.dialing = null;
    });
    req.on('upgrade', (_res: IncomingMessage, socket: Socket, head: Buffer) => this.onUpgraded(socket, head));
    req.on('response', (res: IncomingMessage) => {
      res.resume();
      this.fail(`relay answered HTTP ${res.statusCode} instead of upgrading`);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => this.fail(err.message));
    req.end();
  }

  private onUpgraded(socket: Socket, head: Buffer): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.socket = socket;
    socket.setNoDelay(true);
    let serverNonce: Uint8Array | null = null;
    let clientNonce: Uint8Array | null = null;
    const reader = new FrameReader((type: FrameTypeValue, p: Uint8Array) => {
      switch (type) {
        case FrameType.SERVER_CHALLENGE: {
          if (serverNonce) return this.fail('relay sent a second challenge');
          const relayPub = p.subarray(0, RELAY_KEY_SIZE);
          if (!keysEqual(relayPub, this.pinned)) {
            return this.refuse(
              new RelayAuthError('ERR_RELAY_KEY_MISMATCH', this.opts.url, `relay ${this.opts.url} presented key ${RelayPublic.text(relayPub)}, not the pinned ${RelayPublic.text(this.pinned)}: refused`),
            );
          }
          serverNonce = Uint8Array.from(p.subarray(RELAY_KEY_SIZE, RELAY_KEY_SIZE + RELAY_NONCE_SIZE));
          clientNonce = defaultCrypto().randomBytes(RELAY_NONCE_SIZE);
          const proof = proveRelayClient(this.nodeKey, this.opts.nodePublic, this.pinned, serverNonce, clientNonce);
          if (!proof) return this.fail('relay presented an unusable key');
          socket.write(encodeFrame(FrameType.CLIENT_AUTH, this.opts.nodePublic, proof, clientNonce));
          return;
        }
        case FrameType.SERVER_OK:
          if (!serverNonce || !clientNonce || this.ready) return this.fail('relay sent an unexpected OK');
          if (!verifyRelayServer(this.nodeKey, this.pinned, serverNonce, clientNonce, p)) {
            return this.refuse(new RelayAuthError('ERR_RELAY_BAD_PROOF', this.opts.url, `relay ${this.opts.url} did not prove the pinned key ${RelayPublic.text(this.pinned)}: refused`));
          }
          this.ready = true;
          this.backoff = RELAY_RECONNECT_MIN_MS;
          this.stats.connects++;
          this.lastError = null;
          this.lastAuthError = null;
          this.keepalive = setInterval(() => this.ping().catch(() => {}), RELAY_KEEPALIVE_MS);
          this.keepalive.unref();
          if (this.pending.length > 0 && this.socket) this.flushPending(this.socket);
          this.opts.onState?.(true, null);
          return;
        case FrameType.RECV_PACKET:
          if (!this.ready) return this.fail('relay sent a packet before OK');
          this.stats.received++;
          this.opts.onPacket(p.subarray(0, RELAY_KEY_SIZE), p.subarray(RELAY_KEY_SIZE), p.length - RELAY_KEY_SIZE);
          return;
        case FrameType.PONG: {
          const cb = this.pings.get(Buffer.from(p).toString('hex'));
          if (cb) {
            this.pings.delete(Buffer.from(p).toString('hex'));
            cb(0);
          }
          return;
        }
        case FrameType.PING:
          socket.write(encodeFrame(FrameType.PONG, p));
          return;
        case FrameType.PEER_GONE:
          return;
        default:
          return this.fail(`relay sent frame type ${type}`);
      }
    });
    socket.on('data', (chunk: Buffer) => {
      const err = reader.push(chunk);
      if (err !== null) this.fail(`relay stream: ${err}`);
    });
    socket.on('error', (err) => this.fail(err.message));
    socket.on('close', () => {
      if (this.socket === socket) this.fail(this.ready ? 'relay connection closed' : 'relay refused this node');
    });
    if (head.length > 0) {
      const err = reader.push(head);
      if (err !== null) this.fail(`relay stream: ${err}`);
    }
  }
}

/** Time (ms) of one GET RELAY_PROBE_PATH: the latency agents compare to choose a home relay. */
export function probeRelay(url: string, timeoutMs = 2000): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(RELAY_PROBE_PATH, url);
    } catch {
      reject(new Error(`bad relay URL ${url}`));
      return;
    }
    const t0 = performance.now();
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { method: 'GET', timeout: timeoutMs, agent: false });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`relay probe: HTTP ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error('relay probe timed out')));
    req.on('error', reject);
    req.end();
  });
}
