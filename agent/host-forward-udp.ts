// Inbound UDP of a userspace node, forwarded to the host: a datagram to the node's tailnet address and
// port P (already allowed by the filter) opens a flow — a host UDP socket of its own, connected to
// 127.0.0.1:P (or [::1]:P first for an IPv6 sender, as TCP) — and the flow's later datagrams go the same
// way; what the host server answers goes back to the sender from the port it wrote to. Connected sockets
// learn of the kernel's ICMP port unreachable (ECONNREFUSED): before any reply the flow moves to the
// other loopback address and sends again what it had sent; when neither takes it, the sender gets an ICMP
// port unreachable from the node for each such datagram, as a closed kernel port gives, and the flow ends.
// Flows end after an idle time; their number is bounded (a datagram that would open one more is dropped
// and counted). Each flow's host-side port names its tailnet peer for whois, as for TCP.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { debuglog } from 'node:util';
import type { FlowInfo, Netstack } from '../netstack/index.js';

const log = debuglog('grantwire:forward');

/** Idle time after which a flow (and its host socket) ends; Linux conntrack's default for a UDP stream is 120 s, unreplied 30 s. */
export const UDP_FLOW_IDLE_MS = 60_000;
export const UDP_MAX_FLOWS = 4096;
/**
 * Datagrams a flow keeps until the host first answers: the latest ones, re-sent on the other loopback
 * address or answered with ICMP; also the most a flow queues while its host socket connects.
 */
const UNCONFIRMED_MAX = 16;

export interface UdpForwardOptions {
  idleMs?: number;
  maxFlows?: number;
}

export interface UdpForwardStats {
  udpFlows: number;
  udpFlowsOpened: number;
  udpDatagramsIn: number;
  udpDatagramsOut: number;
  /** Datagrams dropped because the flow table was full. */
  udpDropFull: number;
  /** Datagrams dropped otherwise (a host socket that could not be opened, more than 16 arriving while it connects, a reply beyond the MTU). */
  udpDropOther: number;
  /** Flows no loopback address took: the sender got port unreachable. */
  udpRefused: number;
  udpExpired: number;
}

interface Flow {
  readonly key: string;
  readonly info: FlowInfo;
  readonly stack: Netstack;
  readonly reply: (msg: Uint8Array) => boolean;
  hosts: string[];
  sock: UdpSocket | null;
  /** The host socket is bound and connected: datagrams go straight out. */
  ready: boolean;
  /** The host answered at least once. */
  confirmed: boolean;
  /** A loopback address refused the flow (ECONNREFUSED: the kernel's port unreachable). */
  refused: boolean;
  /** Sent (or waiting to be) since the last host answer, while unconfirmed; bounded. */
  unconfirmed: Buffer[];
  last: Buffer | null;
  hostPort: number;
  lastActive: number;
}

/** The tailnet sender behind a flow. */
export interface UdpFlowPeer {
  remoteAddress: string;
  remotePort: number;
  localPort: number;
}

export class UdpFlowTable {
  private readonly flows = new Map<string, Flow>();
  private readonly byHostPort = new Map<number, Flow>();
  private readonly idleMs: number;
  private readonly maxFlows: number;
  private sweeper: NodeJS.Timeout | null = null;
  readonly stats: UdpForwardStats = { udpFlows: 0, udpFlowsOpened: 0, udpDatagramsIn: 0, udpDatagramsOut: 0, udpDropFull: 0, udpDropOther: 0, udpRefused: 0, udpExpired: 0 };

  constructor(opts: UdpForwardOptions = {}) {
    this.idleMs = opts.idleMs ?? UDP_FLOW_IDLE_MS;
    this.maxFlows = opts.maxFlows ?? UDP_MAX_FLOWS;
  }

  /** Takes the datagrams to `stack`'s unbound ports; the returned function gives them back and ends every flow. */
  attach(stack: Netstack): () => void {
    stack.setUdpFallback((msg, info) => this.input(stack, msg, info));
    return () => {
      stack.setUdpFallback(null);
      for (const f of [...this.flows.values()]) this.end(f);
    };
  }

  /** The tailnet sender behind the host-side UDP port `port` of a flow; null if none. */
  lookup(port: number): UdpFlowPeer | null {
    const f = this.byHostPort.get(port);
    return f ? { remoteAddress: f.info.remoteAddress, remotePort: f.info.remotePort, localPort: f.info.localPort } : null;
  }

  private input(stack: Netstack, msg: Buffer, info: FlowInfo): boolean {
    const key = `${info.remoteAddress}|${info.remotePort}|${info.localAddress}|${info.localPort}`;
    let f = this.flows.get(key);
    if (!f) {
      if (this.flows.size >= this.maxFlows) {
        this.stats.udpDropFull++;
        return true;
      }
      f = this.open(key, info, stack);
    }
    this.stats.udpDatagramsIn++;
    f.lastActive = performance.now();
    f.last = msg;
    if (f.ready) {
      f.sock!.send(msg);
      // kept for a retry elsewhere until the host answers; a one-way flow (never answered) keeps the last few
      if (!f.confirmed && f.unconfirmed.push(msg) > UNCONFIRMED_MAX) f.unconfirmed.shift();
    } else if (f.unconfirmed.length < UNCONFIRMED_MAX) f.unconfirmed.push(msg); // sent once the host socket is connected
    else this.stats.udpDropOther++;
    return true;
  }

  private open(key: string, info: FlowInfo, stack: Netstack): Flow {
    const f: Flow = {
      key,
      info,
      stack,
      reply: stack.udpReplier(info),
      hosts: info.localAddress.includes(':') ? ['::1', '127.0.0.1'] : ['127.0.0.1', '::1'],
      sock: null,
      ready: false,
      confirmed: false,
      refused: false,
      unconfirmed: [],
      last: null,
      hostPort: 0,
      lastActive: performance.now(),
    };
    this.flows.set(key, f);
    this.stats.udpFlows = this.flows.size;
    this.stats.udpFlowsOpened++;
    this.sweeper ??= setInterval(() => this.sweep(), Math.max(Math.floor(this.idleMs / 4), 10)).unref();
    this.connectNext(f);
    return f;
  }

  /** Opens the flow's host socket toward its next loopback address; none left: the sender is refused. */
  private connectNext(f: Flow): void {
    this.dropSocket(f);
    const host = f.hosts.shift();
    if (host === undefined) return this.giveUp(f);
    const sock = createSocket({ type: host === '::1' ? 'udp6' : 'udp4' });
    f.sock = sock;
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (f.sock !== sock) return;
      // ECONNREFUSED: the kernel's port unreachable; before the first answer, try the other address
      if (!f.confirmed || err.code === 'ECONNREFUSED') {
        log('udp flow %s → %s:%d: %s', f.key, host, f.info.localPort, err.message);
        if (err.code === 'ECONNREFUSED') f.refused = true;
        if (f.confirmed) {
          // the server went away mid-flow: the datagram that found it gone is answered as a closed port
          f.unconfirmed = f.last ? [f.last] : [];
          f.hosts = [];
        }
        this.connectNext(f);
      } else this.stats.udpDropOther++;
    });
    sock.on('message', (m: Buffer) => {
      if (f.sock !== sock) return;
      f.confirmed = true;
      f.unconfirmed.length = 0;
      f.lastActive = performance.now();
      try {
        if (f.reply(m)) this.stats.udpDatagramsOut++;
        else this.end(f); // the stack closed or the local address went away
      } catch (err) {
        this.stats.udpDropOther++;
        log('udp flow %s: reply dropped: %s', f.key, (err as Error).message);
      }
    });
    sock.bind(0, host, () => {
      if (f.sock !== sock) return;
      sock.connect(f.info.localPort, host, () => {
        if (f.sock !== sock) return;
        f.ready = true;
        f.hostPort = sock.address().port;
        this.byHostPort.set(f.hostPort, f);
        for (const m of f.unconfirmed) sock.send(m);
      });
    });
  }

  /**
   * No loopback address took the flow, and the flow ends: when one refused it (the others failing locally,
   * e.g. no ::1), port unreachable for each datagram it carried; when none could even be tried, the datagrams
   * are dropped and counted.
   */
  private giveUp(f: Flow): void {
    if (f.refused) {
      this.stats.udpRefused++;
      for (const m of f.unconfirmed) f.stack.sendPortUnreachable(f.info, m);
    } else this.stats.udpDropOther += f.unconfirmed.length;
    this.end(f);
  }

  private dropSocket(f: Flow): void {
    const sock = f.sock;
    f.sock = null;
    f.ready = false;
    if (f.hostPort !== 0 && this.byHostPort.get(f.hostPort) === f) this.byHostPort.delete(f.hostPort);
    f.hostPort = 0;
    if (sock) {
      sock.removeAllListeners('message');
      sock.on('error', () => undefined);
      try {
        sock.close();
      } catch {
        // already closed
      }
    }
  }

  private end(f: Flow): void {
    if (this.flows.get(f.key) !== f) return;
    this.flows.delete(f.key);
    this.stats.udpFlows = this.flows.size;
    this.dropSocket(f);
    f.unconfirmed.length = 0;
    if (this.flows.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  private sweep(): void {
    const now = performance.now();
    for (const f of [...this.flows.values()]) {
      if (now - f.lastActive >= this.idleMs) {
        this.stats.udpExpired++;
        this.end(f);
      }
    }
  }

  /** Ends every flow. */
  close(): void {
    for (const f of [...this.flows.values()]) this.end(f);
  }
}
