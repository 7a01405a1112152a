// The Dialer of a userspace node (the agent with --tun userspace, an embedded node): TCP and UDP through
// the node's own netstack, so dials leave through the tunnel with the node's tailnet address as source.
import type { Duplex } from 'node:stream';
import type { StatusResponse } from '../../localapi/types.js';
import type { TcpSocket } from '../../netstack/index.js';
import { DialError } from '../../types/errors.js';
import type { NetstackDevice } from '../netstack-device.js';
import type { Dialer, ProxyUdpSocket } from './dialer.js';
import { DIAL_TIMEOUT_MS, resolveOrFail } from './host-dialer.js';
import { resolveTailnetName } from './tailnet-names.js';

export class NetstackDialer implements Dialer {
  constructor(
    private readonly device: NetstackDevice,
    private readonly status: () => StatusResponse,
  ) {}

  resolve(name: string): string | null {
    return resolveTailnetName(name, this.status());
  }

  /** Connects and resolves with the socket once established (a TcpSocket, like net.Socket). */
  dialTcp(host: string, port: number): Promise<TcpSocket & Duplex> {
    let ip: string;
    try {
      ip = resolveOrFail(host, this.status);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const stack = this.device.stack;
    if (!stack) return Promise.reject(new DialError('unreachable', `${host}:${port}: this node is not on the tailnet (no address yet)`));
    return new Promise((resolve, reject) => {
      let s: TcpSocket;
      try {
        s = stack.connectTcp({ remoteAddress: ip, remotePort: port, timeoutMs: DIAL_TIMEOUT_MS });
      } catch (err) {
        reject(new DialError('unreachable', `${host}:${port}: ${(err as Error).message}`, { cause: err }));
        return;
      }
      const onError = (err: Error) => reject(err);
      s.once('error', onError);
      s.once('connect', () => {
        s.off('error', onError);
        resolve(s);
      });
    });
  }

  async bindUdp(): Promise<ProxyUdpSocket> {
    const stack = this.device.stack;
    if (!stack) throw new DialError('unreachable', 'this node is not on the tailnet (no address yet)');
    const u = stack.bindUdp(0);
    u.on('error', () => undefined);
    return {
      send: (data, address, port) => u.send(data, port, address),
      onMessage: (cb) => u.on('message', (m: Buffer, r: { address: string; port: number }) => cb(m, r.address, r.port)),
      close: () => void u.close(),
    };
  }
}
