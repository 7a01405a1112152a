// Inbound connections of a userspace node, forwarded to the host: a connection to the node's tailnet
// address and port P (already allowed by the filter) is joined to 127.0.0.1:P, or [::1]:P when nothing
// listens there, so ordinary servers on the host serve the tailnet without a TUN. When neither accepts,
// the tailnet side is reset. The forwarder remembers which tailnet peer each host-side connection
// carries, keyed by the local port of the socket it opened toward the host (what the server sees as its
// client's port), so whois on the LocalAPI can answer for `127.0.0.1:PORT` as Tailscale does.
import { connect, type Socket } from 'node:net';
import { debuglog } from 'node:util';
import type { Netstack, TcpSocket } from '../netstack/index.js';
import type { NetstackDevice } from './netstack-device.js';
import { splice } from './proxy/splice.js';

const log = debuglog('grantwire:forward');

const LOOPBACKS = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

export interface ForwardedFlow {
  /** The tailnet peer's address and port. */
  remoteAddress: string;
  remotePort: number;
  /** The node's own tailnet port the peer connected to. */
  localPort: number;
}

export class HostForwarder {
  private readonly byHostPort = new Map<number, ForwardedFlow>();
  private detach: (() => void) | null = null;
  readonly stats = { forwarded: 0, refused: 0 };

  constructor(private readonly device: NetstackDevice) {}

  start(): void {
    this.detach = this.device.attach((stack: Netstack) => {
      // Half-open like the host side: a FIN from either end is passed on, the other direction keeps flowing.
      stack.setTcpFallback(
        () => true,
        (s) => this.forward(s),
        { allowHalfOpen: true },
      );
      return () => stack.setTcpFallback(null);
    });
  }

  stop(): void {
    this.detach?.();
    this.detach = null;
  }

  /** The tailnet flow behind a host-side connection whose client end is `ip:port`; null if none. */
  lookup(ip: string, port: number): ForwardedFlow | null {
    if (!LOOPBACKS.has(ip)) return null;
    return this.byHostPort.get(port) ?? null;
  }

  private forward(s: TcpSocket): void {
    const port = s.localPort;
    const peer = { remoteAddress: s.remoteAddress ?? '', remotePort: s.remotePort ?? 0, localPort: port };
    s.pause();
    s.on('error', (err) => log('tailnet side %s:%d: %s', peer.remoteAddress, peer.remotePort, err.message));
    const attempt = (hosts: string[]) => {
      const host = hosts[0];
      const h: Socket = connect({ host, port, allowHalfOpen: true });
      h.once('connect', () => {
        h.off('error', onError);
        const hostPort = h.localPort ?? 0;
        this.byHostPort.set(hostPort, peer);
        h.once('close', () => {
          if (this.byHostPort.get(hostPort) === peer) this.byHostPort.delete(hostPort);
        });
        h.on('error', (err) => log('host side %s:%d: %s', host, port, err.message));
        this.stats.forwarded++;
        splice(s, h);
        s.resume();
      });
      const onError = (err: Error) => {
        if (hosts.length > 1) return attempt(hosts.slice(1));
        this.stats.refused++;
        log('nothing on the host accepts port %d (%s): reset %s:%d', port, err.message, peer.remoteAddress, peer.remotePort);
        s.resetAndDestroy();
      };
      h.once('error', onError);
    };
    attempt(s.remoteFamily === 'IPv6' ? ['::1', '127.0.0.1'] : ['127.0.0.1', '::1']);
  }
}
