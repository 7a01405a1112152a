// The ADDR of `--socks5-server ADDR` and `--outbound-http-proxy-listen ADDR`: `host:port`, `[v6]:port` or
// `:port` (loopback). Proxies are for programs on this host, so the default host is loopback, not `::`.
import type { Server } from 'node:net';
import { UsageError } from '../../types/errors.js';
import { parseIP } from '../../types/ip.js';

export interface ListenAddr {
  host: string;
  port: number;
}

export function parseListenAddr(flag: string, text: string): ListenAddr {
  const colon = text.lastIndexOf(':');
  const portText = colon >= 0 ? text.slice(colon + 1) : '';
  let host = colon >= 0 ? text.slice(0, colon) : '';
  const port = Number(portText);
  if (colon < 0 || !/^[0-9]{1,5}$/.test(portText) || port > 65535) throw new UsageError(`--${flag} ${text}: want HOST:PORT (e.g. localhost:1080)`);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '') host = '127.0.0.1';
  if (host !== 'localhost' && !parseIP(host)) throw new UsageError(`--${flag} ${text}: host must be localhost or an IP address`);
  return { host, port };
}

/** Starts `server` on host:port; resolves with the bound address (the real port when `port` is 0). */
export function listenOn(server: Server, port: number, host: string): Promise<{ address: string; port: number }> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const a = server.address() as { address: string; port: number };
      resolve({ address: a.address, port: a.port });
    });
  });
}
