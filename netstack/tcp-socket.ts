// A TCP connection as a Node Duplex shaped like net.Socket, so http.createServer().emit('connection', s),
// stream.pipeline and friends work unchanged. Writes go into the connection's bounded send buffer and the
// write callback waits while it is full (write() returns false: backpressure); reads come from the
// Readable buffer, whose unread bytes shrink the advertised window, and every read() reopens it.
import { Duplex } from 'node:stream';
import { ConnectionError } from '../types/errors.js';
import type { NetstackClock } from './clock.js';
import type { TcpInfo, TcpSocket } from './api.js';
import type { TcpConnection, TcpUser } from './tcp-connection.js';

export interface TcpSocketInit {
  conn: TcpConnection;
  clock: NetstackClock;
  localAddress: string;
  remoteAddress: string;
  connecting: boolean;
  allowHalfOpen: boolean;
  receiveBuffer: number;
}

export class TcpSocketImpl extends Duplex implements TcpSocket, TcpUser {
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: 'IPv4' | 'IPv6';
  connecting: boolean;
  bytesRead = 0;
  private written = 0;
  private conn: TcpConnection | null;
  private readonly clock: NetstackClock;
  private pendingWrite: ((err?: Error | null) => void) | null = null;
  private idleMs = 0;
  private idleTimer: unknown = null;
  private lastActivity = 0;
  /** Kept after the app lets go, so tcpInfo() follows the connection through LAST_ACK/TIME_WAIT. */
  private readonly infoSource: TcpConnection;

  constructor(init: TcpSocketInit) {
    super({ allowHalfOpen: init.allowHalfOpen, readableHighWaterMark: init.receiveBuffer, decodeStrings: true, emitClose: true, autoDestroy: true });
    this.conn = init.conn;
    this.infoSource = init.conn;
    this.clock = init.clock;
    this.localAddress = init.localAddress;
    this.localPort = init.conn.localPort;
    this.remoteAddress = init.remoteAddress;
    this.remotePort = init.conn.remotePort;
    this.remoteFamily = init.conn.family === 4 ? 'IPv4' : 'IPv6';
    this.connecting = init.connecting;
    init.conn.user = this;
  }

  get pending(): boolean {
    return this.connecting;
  }

  get bytesWritten(): number {
    return this.written;
  }

  get readyState(): string {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }

  address(): { address: string; port: number; family: 'IPv4' | 'IPv6' } {
    return { address: this.localAddress, port: this.localPort, family: this.remoteFamily };
  }

  setNoDelay(noDelay = true): this {
    if (this.conn) this.conn.noDelay = noDelay;
    return this;
  }

  setKeepAlive(enable = false, initialDelayMs = 0): this {
    this.conn?.setKeepAlive(enable, initialDelayMs);
    return this;
  }

  setTimeout(ms: number, callback?: () => void): this {
    if (callback) {
      if (ms === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    this.idleMs = ms;
    this.touch();
    if (this.idleTimer !== null) {
      this.clock.clearTimer(this.idleTimer);
      this.idleTimer = null;
    }
    if (ms > 0) this.idleTimer = this.clock.setTimer(this.idleCheck, ms);
    return this;
  }

  private readonly idleCheck = (): void => {
    this.idleTimer = null;
    if (this.idleMs <= 0 || this.destroyed) return;
    const idle = this.clock.now() - this.lastActivity;
    if (idle >= this.idleMs) {
      this.lastActivity = this.clock.now();
      this.emit('timeout');
    }
    if (this.idleMs > 0 && !this.destroyed) this.idleTimer = this.clock.setTimer(this.idleCheck, Math.max(this.idleMs - (this.clock.now() - this.lastActivity), 1));
  };

  private touch(): void {
    if (this.idleMs > 0) this.lastActivity = this.clock.now();
  }

  resetAndDestroy(): this {
    const c = this.conn;
    this.conn = null;
    c?.abort();
    this.destroy();
    return this;
  }

  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  tcpInfo(): TcpInfo {
    return this.infoSource.info();
  }

  // ---- Duplex ----

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const c = this.conn;
    if (!c || c.isClosed()) {
      cb(new ConnectionError('EPIPE', 'write after the connection closed'));
      return;
    }
    this.written += chunk.length;
    this.touch();
    if (c.write(chunk)) cb();
    else this.pendingWrite = cb;
  }

  override _final(cb: (err?: Error | null) => void): void {
    const c = this.conn;
    if (c && !c.isClosed()) {
      if (this.connecting) this.once('connect', () => c.shutdown());
      else c.shutdown();
    }
    cb();
  }

  override _read(): void {
    this.conn?.onAppRead();
  }

  override read(size?: number): unknown {
    const r = super.read(size);
    this.conn?.onAppRead();
    return r;
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.idleTimer !== null) this.clock.clearTimer(this.idleTimer);
    this.idleTimer = null;
    const c = this.conn;
    this.conn = null;
    if (c) {
      // unread data or an error: abort like the kernel does on close() with data pending; else finish
      if (err || this.readableLength > 0) c.abort();
      else c.release();
    }
    const w = this.pendingWrite;
    this.pendingWrite = null;
    w?.(err ?? new ConnectionError('EPIPE', 'socket destroyed'));
    cb(err);
  }

  // ---- TcpUser (called by the connection) ----

  onConnected(): void {
    this.connecting = false;
    this.emit('connect');
    this.emit('ready');
  }

  onData(b: Uint8Array, off: number, len: number): void {
    this.bytesRead += len;
    this.touch();
    this.push(Buffer.from(b.subarray(off, off + len)));
  }

  onEnd(): void {
    this.push(null);
  }

  onSendSpace(): void {
    const w = this.pendingWrite;
    if (w && this.conn && !this.conn.sendBufferFull) {
      this.pendingWrite = null;
      w();
    }
  }

  onClosed(err: ConnectionError | null): void {
    this.conn = null;
    if (err) {
      this.destroy(err);
      return;
    }
    // TIME_WAIT or CLOSED after both FINs: the stream ends on its own (autoDestroy)
    const w = this.pendingWrite;
    this.pendingWrite = null;
    w?.();
  }

  unread(): number {
    return this.readableLength;
  }
}
