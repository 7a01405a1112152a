// The Dialer of a TUN-mode agent: the kernel already routes tailnet addresses into the TUN, so a dial is
// an ordinary host socket once the name is resolved against the netmap. Only tailnet destinations are
// dialled (the proxies are a way into the tailnet, not an open relay to the internet).
import dgram from 'node:dgram';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { StatusResponse } from '../../localapi/types.js';
import { DialError } from '../../types/errors.js';
import { parseIP } from '../../types/ip.js';
import type { Dialer, ProxyUdpSocket } from './dialer.js';
import { resolveTailnetName } from './tailnet-names.js';

export const DIAL_TIMEOUT_MS = 15_000;

/** `host` to a tailnet IP, or the DialError that explains why not. */
export function resolveOrFail(host: string, status: () => StatusResponse): string {
  const ip = resolveTailnetName(host, status());
  if (ip) return ip;
  if (parseIP(host.replace(/^\[|\]$/g, ''))) throw new DialError('not_allowed', `${host} is not a tailnet address`);
  throw new DialError('unresolved', `no tailnet node is named ${JSON.stringify(host)}`);
}

function unmapped(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

export class HostDialer implements Dialer {
  constructor(private readonly status: () => StatusResponse) {}

  resolve(name: string): string | null {
    return resolveTailnetName(name, this.status());
  }

  dialTcp(host: string, port: number): Promise<Duplex> {
    let ip: string;
    try {
      ip = resolveOrFail(host, this.status);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return new Promise((resolve, reject) => {
      const s = connect({ host: ip, port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new DialError('timeout', `${host}:${port}: no answer within ${DIAL_TIMEOUT_MS / 1000} s`));
      }, DIAL_TIMEOUT_MS);
      s.once('connect', () => {
        clearTimeout(timer);
        s.off('error', onError);
        resolve(s);
      });
      const onError = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      s.once('error', onError);
    });
  }

  async bindUdp(): Promise<ProxyUdpSocket> {
    const s = dgram.createSocket({ type: 'udp6', ipv6Only: false });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, '::', () => {
        s.off('error', reject);
        resolve();
      });
    });
    s.on('error', () => undefined);
    return {
      send: (data, address, port) => s.send(data, port, address.includes(':') ? address : `::ffff:${address}`),
      onMessage: (cb) => s.on('message', (m, r) => cb(m, unmapped(r.address), r.port)),
      close: () => s.close(),
    };
  }
}
