// Inbound connections of a userspace node, forwarded to the host: a connection to the node's tailnet
// address and port P (already allowed by the filter) is joined to 127.0.0.1:P, or [::1]:P when nothing
// listens there, so ordinary servers on the host serve the tailnet without a TUN. UDP goes the same way,
// per flow (host-forward-udp.ts).
//
// The host side is dialed while the peer's SYN is held unanswered (the netstack's 'hold'), so the peer sees
// what a kernel port gives: SYN-ACK when the host accepted, the closed port's RST|ACK when neither address
// did, and nothing when the dial hangs (the hold expires; the peer's SYN retransmission dials again). The
// forwarder remembers which tailnet peer each host-side connection or UDP flow carries, keyed by the local
// port of the socket it opened toward the host (what the server sees as its client's port), so whois on
// the LocalAPI can answer for `127.0.0.1:PORT` as Tailscale does; the entry exists from the host connect,
// before the server's accept, so a server asking at once is answered.
import { connect, type Socket } from 'node:net';
import { debuglog } from 'node:util';
import type { Netstack, SynRequest, TcpSocket } from '../netstack/index.js';
import { UdpFlowTable, type UdpForwardOptions, type UdpForwardStats } from './host-forward-udp.js';
import type { NetstackDevice } from './netstack-device.js';
import { splice } from './proxy/splice.js';

const log = debuglog('grantwire:forward');

const LOOPBACKS = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/** How long a SYN waits for the host dial; past it the dial is abandoned and the SYN dropped (the peer retries). */
export const HOST_DIAL_HOLD_MS = 5000;
/**
 * How long a host connection waits for the tailnet handshake it was dialed for (the SYN-ACK's
 * retransmissions: 1+2+4+8+16+32 s) before it is closed.
 */
const JOIN_WAIT_MS = 64_000;

export interface ForwardedFlow {
  /** The tailnet peer's address and port. */
  remoteAddress: string;
  remotePort: number;
  /** The node's own tailnet port the peer connected to. */
  localPort: number;
}

export interface HostForwarderOptions extends UdpForwardOptions {
  /** How long a held SYN waits for the host dial; default HOST_DIAL_HOLD_MS. */
  dialHoldMs?: number;
}

interface Awaiting {
  host: Socket;
  timer: NodeJS.Timeout;
}

export class HostForwarder {
  private readonly byHostPort = new Map<number, ForwardedFlow>();
  /** Host connections dialed for a SYN whose tailnet handshake has not completed, by flow key. */
  private readonly awaiting = new Map<string, Awaiting>();
  private readonly udp: UdpFlowTable;
  private readonly holdMs: number;
  private detach: (() => void) | null = null;
  readonly tcpStats = { forwarded: 0, refused: 0, dialTimeouts: 0 };

  constructor(
    private readonly device: NetstackDevice,
    opts: HostForwarderOptions = {},
  ) {
    this.udp = new UdpFlowTable(opts);
    this.holdMs = opts.dialHoldMs ?? HOST_DIAL_HOLD_MS;
  }

  /** TCP counters (forwarded, refused, dialTimeouts) and the UDP flow table's. */
  get stats(): { forwarded: number; refused: number; dialTimeouts: number } & UdpForwardStats {
    return { ...this.tcpStats, ...this.udp.stats };
  }

  start(): void {
    this.detach = this.device.attach((stack: Netstack) => {
      // Half-open like the host side: a FIN from either end is passed on, the other direction keeps flowing.
      stack.setTcpFallback(
        (syn) => {
          this.dial(syn);
          return 'hold';
        },
        (s) => this.join(s),
        { allowHalfOpen: true, holdMs: this.holdMs },
      );
      const undoUdp = this.udp.attach(stack);
      return () => {
        stack.setTcpFallback(null);
        undoUdp();
        for (const a of this.awaiting.values()) {
          clearTimeout(a.timer);
          a.host.destroy();
        }
        this.awaiting.clear();
      };
    });
  }

  stop(): void {
    this.detach?.();
    this.detach = null;
  }

  /** The tailnet flow behind a host-side TCP connection or UDP flow whose client end is `ip:port`; null if none. */
  lookup(ip: string, port: number): ForwardedFlow | null {
    if (!LOOPBACKS.has(ip)) return null;
    return this.byHostPort.get(port) ?? this.udp.lookup(port);
  }

  /** Dials the host for a held SYN: accept it once connected, refuse it when no loopback address takes it. */
  private dial(syn: SynRequest): void {
    const key = flowKey(syn.remoteAddress, syn.remotePort, syn.localAddress, syn.localPort);
    const port = syn.localPort;
    const peer: ForwardedFlow = { remoteAddress: syn.remoteAddress, remotePort: syn.remotePort, localPort: port };
    const attempt = (hosts: string[]): void => {
      const host = hosts[0];
      const h: Socket = connect({ host, port, allowHalfOpen: true });
      // a dial that hangs (a firewall dropping on loopback) is abandoned with the hold; the SYN's retransmission dials again
      const giveUp = setTimeout(() => {
        this.tcpStats.dialTimeouts++;
        h.destroy();
      }, this.holdMs);
      const onError = (err: Error): void => {
        clearTimeout(giveUp);
        if (hosts.length > 1) return attempt(hosts.slice(1));
        this.tcpStats.refused++;
        log('nothing on the host accepts port %d (%s): refuse %s:%d', port, err.message, peer.remoteAddress, peer.remotePort);
        syn.refuse();
      };
      h.once('error', onError);
      // Name the peer by the host-side port as soon as the kernel picked it (connect() runs on the next
      // tick), before the server can accept and ask: a loopback handshake completes within connect().
      let hostPort = 0;
      const register = (): void => {
        if (hostPort !== 0 || h.localPort === undefined) return;
        hostPort = h.localPort;
        this.byHostPort.set(hostPort, peer);
        h.once('close', () => {
          if (this.byHostPort.get(hostPort) === peer) this.byHostPort.delete(hostPort);
        });
      };
      process.nextTick(register);
      h.once('connect', () => {
        clearTimeout(giveUp);
        h.off('error', onError);
        h.on('error', (err) => log('host side %s:%d: %s', host, port, err.message));
        h.pause();
        register();
        const prev = this.awaiting.get(key);
        if (prev) {
          clearTimeout(prev.timer);
          prev.host.destroy();
        }
        const timer = setTimeout(() => {
          if (this.awaiting.get(key)?.host !== h) return;
          this.awaiting.delete(key);
          h.destroy();
        }, JOIN_WAIT_MS);
        timer.unref();
        this.awaiting.set(key, { host: h, timer });
        // false: the hold expired meanwhile (the peer's next SYN dials anew)
        if (!syn.accept()) {
          this.awaiting.delete(key);
          clearTimeout(timer);
          h.destroy();
        }
      });
    };
    attempt(syn.remoteAddress.includes(':') ? ['::1', '127.0.0.1'] : ['127.0.0.1', '::1']);
  }

  /** The tailnet handshake of a held SYN completed: join it to the host connection dialed for it. */
  private join(s: TcpSocket): void {
    const key = flowKey(s.remoteAddress ?? '', s.remotePort ?? 0, s.localAddress, s.localPort);
    const a = this.awaiting.get(key);
    s.on('error', (err) => log('tailnet side %s:%d: %s', s.remoteAddress, s.remotePort, err.message));
    if (!a) {
      s.resetAndDestroy();
      return;
    }
    this.awaiting.delete(key);
    clearTimeout(a.timer);
    if (a.host.destroyed) {
      s.resetAndDestroy();
      return;
    }
    this.tcpStats.forwarded++;
    splice(s, a.host);
    a.host.resume();
  }
}

function flowKey(remoteAddress: string, remotePort: number, localAddress: string, localPort: number): string {
  return `${remoteAddress}|${remotePort}|${localAddress}|${localPort}`;
}
