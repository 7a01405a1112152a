// UDP (RFC 768) sockets shaped like dgram.Socket: 'message' (msg, rinfo), 'close', 'error'. The stack
// demultiplexes datagrams to them by local port (and address, when bound to one); sending builds the
// datagram in the stack's scratch buffer. No fragmentation: a datagram larger than the MTU allows is an
// error reported to the send callback.
import { EventEmitter } from 'node:events';
import { NetstackError } from '../types/errors.js';
import type { RemoteInfo, UdpSocket } from './api.js';

/** What a UDP socket needs from the stack. */
export interface UdpHost {
  sendUdp(sock: UdpSocketImpl, msg: Uint8Array, port: number, address: string): number;
  unbindUdp(sock: UdpSocketImpl): void;
}

export class UdpSocketImpl extends EventEmitter implements UdpSocket {
  closed = false;

  constructor(
    private readonly host: UdpHost,
    readonly port: number,
    /** null: every address of the node. */
    readonly bytes: Uint8Array | null,
    readonly addressText: string,
    readonly family: 'IPv4' | 'IPv6',
  ) {
    super();
  }

  send(msg: Uint8Array | string, port: number, address: string, callback?: (err: Error | null, bytes: number) => void): void {
    const data = typeof msg === 'string' ? Buffer.from(msg) : msg;
    let err: Error | null = null;
    let n = 0;
    try {
      if (this.closed) throw new NetstackError('ERR_NETSTACK_CLOSED', 'send on a closed UDP socket');
      n = this.host.sendUdp(this, data, port, address);
    } catch (e) {
      err = e as Error;
    }
    if (callback) queueMicrotask(() => callback(err, n));
    else if (err) queueMicrotask(() => this.emit('error', err));
  }

  address(): { address: string; port: number; family: 'IPv4' | 'IPv6' } {
    return { address: this.addressText, port: this.port, family: this.family };
  }

  /** A datagram for this socket (msg is the socket's own copy). */
  deliver(msg: Buffer, rinfo: RemoteInfo): void {
    this.emit('message', msg, rinfo);
  }

  close(callback?: () => void): this {
    if (this.closed) return this;
    this.closed = true;
    this.host.unbindUdp(this);
    if (callback) this.once('close', callback);
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
