// The Netstack class: owns the addresses, the demultiplexer, the TCP/UDP/ICMP endpoints and the output
// scratch buffer. (Contract first; the implementation lands in the following commits.)
import { NetstackError } from '../types/errors.js';
import type { FlowInfo, NetstackOptions, NetstackStats, TcpConnectOptions, TcpListener, TcpListenOptions, TcpSocket, UdpFallback, UdpSocket } from './api.js';
import { newStats } from './api.js';

export class Netstack {
  private readonly counters: NetstackStats = newStats();
  constructor(readonly options: NetstackOptions) {}

  /** An IP packet from the tunnel, bytes [off, off+len) of `packet`; never throws on bad input. */
  input(packet: Uint8Array, off: number, len: number): void {
    void packet;
    void off;
    void len;
  }

  connectTcp(opts: TcpConnectOptions): TcpSocket {
    void opts;
    throw new NetstackError('ERR_NETSTACK_CLOSED', 'not implemented yet');
  }

  listenTcp(port: number, onConnection?: (s: TcpSocket) => void, opts?: TcpListenOptions): TcpListener {
    void port;
    void onConnection;
    void opts;
    throw new NetstackError('ERR_NETSTACK_CLOSED', 'not implemented yet');
  }

  setTcpFallback(onSyn: ((info: FlowInfo) => boolean) | null, onConnection?: (s: TcpSocket) => void): void {
    void onSyn;
    void onConnection;
  }

  bindUdp(port: number, opts?: { address?: string }): UdpSocket {
    void port;
    void opts;
    throw new NetstackError('ERR_NETSTACK_CLOSED', 'not implemented yet');
  }

  setUdpFallback(onDatagram: UdpFallback | null): void {
    void onDatagram;
  }

  ping(address: string, timeoutMs?: number): Promise<number> {
    void address;
    void timeoutMs;
    return Promise.reject(new NetstackError('ERR_NETSTACK_CLOSED', 'not implemented yet'));
  }

  stats(): NetstackStats {
    return { ...this.counters };
  }

  close(): void {}
}
