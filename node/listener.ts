// What an embedded node's listen() and listenPacket() return: stable objects shaped like net.Server and
// dgram.Socket that exist before the netstack does (it is built when the node gets its tailnet addresses;
// later address changes are applied to it live). Each registers with the node's packet device and is re-opened on
// every new netstack. Light: no runtime imports, so the package root can export Node without loading it.
import { EventEmitter } from 'node:events';
import type { NetstackDevice } from '../agent/netstack-device.js';
import type { Netstack, TcpListener, TcpSocket, UdpSocket } from '../netstack/index.js';

interface StackEndpoint {
  address(): { address: string; port: number; family: string };
  close(): void;
}

/** The part both share: open on every netstack the device builds, close the old one, emit the lifecycle. */
abstract class StackBound<T extends StackEndpoint> extends EventEmitter {
  protected inner: T | null = null;
  private detach: (() => void) | null = null;
  private closed = false;

  constructor(readonly port: number) {
    super();
  }

  /** Opens this endpoint on a new netstack (throws like the netstack does: port in use, closed stack). */
  protected abstract open(stack: Netstack): T;

  /** Called by the node once its packet device exists. */
  bindTo(device: NetstackDevice): void {
    if (this.closed) return;
    this.detach = device.attach((stack) => {
      try {
        const e = this.open(stack);
        this.inner = e;
        this.emit('listening');
        return () => {
          this.inner = null;
          e.close();
        };
      } catch (err) {
        this.emit('error', err);
        return undefined;
      }
    });
  }

  address(): { address: string; port: number; family: string } | null {
    return this.inner ? this.inner.address() : null;
  }

  close(cb?: () => void): this {
    this.closed = true;
    this.detach?.();
    this.detach = null;
    queueMicrotask(() => {
      this.emit('close');
      cb?.();
    });
    return this;
  }
}

/** A TCP listener on the node's tailnet addresses: 'listening', 'connection' (a TcpSocket), 'close', 'error'. */
export class NodeListener extends StackBound<TcpListener> {
  get listening(): boolean {
    return this.inner !== null;
  }

  protected open(stack: Netstack): TcpListener {
    const l = stack.listenTcp(this.port, (s: TcpSocket) => this.emit('connection', s));
    l.on('error', (err: Error) => this.emit('error', err));
    return l;
  }
}

/** A UDP socket on the node's tailnet addresses: 'message' (msg, rinfo), 'close', 'error'. */
export class NodeUdpSocket extends StackBound<UdpSocket> {
  protected open(stack: Netstack): UdpSocket {
    const u = stack.bindUdp(this.port);
    u.on('message', (msg: Buffer, rinfo: unknown) => this.emit('message', msg, rinfo));
    u.on('error', (err: Error) => this.emit('error', err));
    return u;
  }

  send(msg: Uint8Array | string, port: number, address: string, cb?: (err: Error | null, bytes: number) => void): void {
    if (!this.inner) {
      const err = new Error('the node is not up (no tailnet address yet)');
      if (cb) cb(err, 0);
      else this.emit('error', err);
      return;
    }
    this.inner.send(msg, port, address, cb);
  }
}
