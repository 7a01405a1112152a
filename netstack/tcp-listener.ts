// A listening TCP port shaped like net.Server: emits 'connection' with each established TcpSocket (so
// `server.emit('connection', s)` patterns and http.createServer handlers work), 'listening' once, and
// 'close' after close(). The backlog bounds connections still in SYN_RECEIVED.
import { EventEmitter } from 'node:events';
import { NetstackError } from '../types/errors.js';
import type { TcpListener, TcpSocket } from './api.js';

export class TcpListenerImpl extends EventEmitter implements TcpListener {
  listening = true;
  /** Connections of this listener in SYN_RECEIVED. */
  halfOpen = 0;

  constructor(
    readonly port: number,
    /** null: every address of the node. */
    readonly bytes: Uint8Array | null,
    readonly addressText: string,
    readonly family: 'IPv4' | 'IPv6',
    readonly backlog: number,
    readonly allowHalfOpen: boolean,
    private readonly onClose: (l: TcpListenerImpl) => void,
  ) {
    super();
    queueMicrotask(() => {
      if (this.listening) this.emit('listening');
    });
  }

  address(): { address: string; port: number; family: 'IPv4' | 'IPv6' } {
    return { address: this.addressText, port: this.port, family: this.family };
  }

  /** A connection of this listener finished its handshake. */
  accept(s: TcpSocket): void {
    if (!this.listening) {
      s.destroy();
      return;
    }
    this.emit('connection', s);
  }

  close(callback?: (err?: Error) => void): this {
    if (!this.listening) {
      if (callback) queueMicrotask(() => callback(new NetstackError('ERR_NETSTACK_CLOSED', 'listener is not listening')));
      return this;
    }
    this.listening = false;
    this.onClose(this);
    if (callback) this.once('close', () => callback());
    queueMicrotask(() => this.emit('close'));
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }
}
