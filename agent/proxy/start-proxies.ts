// The daemon's hook for `--socks5-server ADDR` and `--outbound-http-proxy-listen ADDR`: starts the proxies
// that were asked for, over the given Dialer, and closes them again.
import type { Dialer } from './dialer.js';
import { HttpProxyServer } from './http-proxy-server.js';
import { parseListenAddr } from './listen-addr.js';
import { Socks5Server } from './socks5-server.js';

export interface ProxyFlags {
  socks5Server?: string | undefined;
  httpProxyListen?: string | undefined;
}

export interface RunningProxies {
  /** `host:port` each proxy listens on (the port is known when 0 was asked). */
  socks5: string | null;
  http: string | null;
  close(): Promise<void>;
}

function text(a: { address: string; port: number }): string {
  return a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

export async function startProxies(flags: ProxyFlags, dialer: Dialer): Promise<RunningProxies> {
  const closers: (() => Promise<void>)[] = [];
  const out: RunningProxies = {
    socks5: null,
    http: null,
    async close() {
      await Promise.all(closers.map((c) => c()));
    },
  };
  try {
    if (flags.socks5Server) {
      const a = parseListenAddr('socks5-server', flags.socks5Server);
      const s = new Socks5Server({ dialer });
      out.socks5 = text(await s.listen(a.port, a.host));
      closers.push(() => s.close());
    }
    if (flags.httpProxyListen) {
      const a = parseListenAddr('outbound-http-proxy-listen', flags.httpProxyListen);
      const h = new HttpProxyServer({ dialer });
      out.http = text(await h.listen(a.port, a.host));
      closers.push(() => h.close());
    }
  } catch (err) {
    await out.close();
    throw err;
  }
  return out;
}
