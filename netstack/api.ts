// The netstack's public shapes: options, the socket/listener/UDP interfaces (modelled on node:net and
// node:dgram so ordinary code — http.createServer().emit('connection', s), stream.pipeline — runs on top),
// errors and counters. The classes implementing them live in tcp-socket.ts, tcp-listener.ts and udp.ts.
import type { Duplex } from 'node:stream';
import type { EventEmitter } from 'node:events';
import type { NetstackClock } from './clock.js';

export interface NetstackLimits {
  /** TCP connections (any state but CLOSED) before new SYNs are answered with RST; default 65536. */
  maxConnections?: number;
  /** Bytes a socket buffers unacknowledged + unsent before write() returns false; default 4 MiB. */
  sendBuffer?: number;
  /** Receive window: bytes received but not yet read by the app (plus out-of-order data); default 4 MiB. */
  receiveBuffer?: number;
  /** TIME_WAIT duration (2 MSL); default 60 000 ms, as Linux. */
  timeWaitMs?: number;
}

export interface NetstackOptions {
  /** The node's own addresses (IPv4 and/or IPv6), e.g. ['100.64.0.1', 'fd7a:115c:a1e0::1']. */
  addresses: string[];
  /** The tunnel's MTU (≥ 1280 for IPv6); the MSS derives from it. */
  mtu: number;
  /**
   * Sends one IP packet into the tunnel. `packet` is a buffer the netstack reuses: the receiver copies
   * bytes [0, len) before returning if it keeps them. Called synchronously from input(), timers and writes.
   */
  output(packet: Uint8Array, len: number): void;
  /** Time and timers; default the monotonic clock and setTimeout (see clock.ts). */
  clock?: NetstackClock;
  limits?: NetstackLimits;
  /** Random numbers in [0, 1) for ephemeral ports, ISNs and ICMP ids; default node:crypto. Tests seed it. */
  random?: () => number;
}

/** The addresses of one TCP connection or UDP datagram, as seen from this node. */
export interface FlowInfo {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

export type TcpState =
  | 'SYN_SENT'
  | 'SYN_RECEIVED'
  | 'ESTABLISHED'
  | 'FIN_WAIT_1'
  | 'FIN_WAIT_2'
  | 'CLOSE_WAIT'
  | 'CLOSING'
  | 'LAST_ACK'
  | 'TIME_WAIT'
  | 'CLOSED';

/** A snapshot of one connection's TCP variables (like Linux's TCP_INFO), for tests and diagnostics. */
export interface TcpInfo {
  state: TcpState;
  /** Send MSS in use (payload bytes per segment, after options). */
  mss: number;
  cwnd: number;
  ssthresh: number;
  /** Smoothed RTT and retransmission timeout, ms (RFC 6298). */
  srttMs: number;
  rtoMs: number;
  /** Peer's window (scaled) and the window we advertise now. */
  sendWindow: number;
  receiveWindow: number;
  sendWindowShift: number;
  receiveWindowShift: number;
  timestamps: boolean;
  bytesInFlight: number;
  /** Largest bytesInFlight seen over the connection's life. */
  maxBytesInFlight: number;
  bytesBuffered: number;
  retransmits: number;
  fastRetransmits: number;
  timeouts: number;
  challengeAcks: number;
}

/** A TCP connection as a Node Duplex, shaped like net.Socket. */
export interface TcpSocket extends Duplex {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly remoteFamily: 'IPv4' | 'IPv6' | undefined;
  readonly localAddress: string;
  readonly localPort: number;
  /** True until the handshake completes (like net.Socket.pending/connecting). */
  readonly connecting: boolean;
  readonly pending: boolean;
  /** Bytes written by the app / delivered to it so far. */
  readonly bytesWritten: number;
  readonly bytesRead: number;
  /** 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed', as net.Socket.readyState. */
  readonly readyState: string;
  address(): { address: string; port: number; family: 'IPv4' | 'IPv6' };
  setNoDelay(noDelay?: boolean): this;
  setKeepAlive(enable?: boolean, initialDelayMs?: number): this;
  /** Emits 'timeout' after `ms` without activity (0 turns it off); does not close the socket. */
  setTimeout(ms: number, callback?: () => void): this;
  /** Aborts the connection with a RST and destroys the stream (net.Socket.resetAndDestroy). */
  resetAndDestroy(): this;
  /** Graceful close once writes drain (net.Socket.destroySoon). */
  destroySoon(): void;
  ref(): this;
  unref(): this;
  tcpInfo(): TcpInfo;
}

/** A TCP listener shaped like net.Server: 'connection' (socket), 'close', 'error'. */
export interface TcpListener extends EventEmitter {
  readonly listening: boolean;
  address(): { address: string; port: number; family: 'IPv4' | 'IPv6' };
  /** Stops accepting; established connections stay open. */
  close(callback?: (err?: Error) => void): this;
  ref(): this;
  unref(): this;
}

export interface RemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  size: number;
}

/** A UDP socket shaped like dgram.Socket: 'message' (msg, rinfo), 'close', 'error'. */
export interface UdpSocket extends EventEmitter {
  /** Sends one datagram; bytes beyond the MTU are an error (no IP fragmentation). */
  send(msg: Uint8Array | string, port: number, address: string, callback?: (err: Error | null, bytes: number) => void): void;
  address(): { address: string; port: number; family: 'IPv4' | 'IPv6' };
  close(callback?: () => void): this;
  ref(): this;
  unref(): this;
}

export interface TcpConnectOptions {
  remoteAddress: string;
  remotePort: number;
  /** Default: the node's first address of the remote's family. */
  localAddress?: string;
  /** Default: an ephemeral port (49152–65535). */
  localPort?: number;
  /** Give up the handshake after this long with ETIMEDOUT; default 75 000 ms. */
  timeoutMs?: number;
  noDelay?: boolean;
  /** Keep the write side open after the peer's FIN (net.Socket's allowHalfOpen); default false. */
  allowHalfOpen?: boolean;
}

export interface TcpListenOptions {
  /** Listen on this one of the node's addresses only; default all of them. */
  address?: string;
  /** Connections in SYN_RECEIVED before further SYNs to this port are dropped; default 1024. */
  backlog?: number;
  /** Accepted sockets keep their write side open after the peer's FIN; default false (as net.Server). */
  allowHalfOpen?: boolean;
}

/**
 * A SYN to a port with no listener, as the TCP fallback sees it. After the fallback returned 'hold', the SYN
 * waits (unanswered; the peer's retransmissions of it are absorbed) until accept() or refuse(), or until
 * the hold time passes and it is dropped — the peer's next retransmission asks the fallback again.
 */
export interface SynRequest extends FlowInfo {
  /** Answers SYN-ACK now; the connection reaches onConnection once established. False if no longer held. */
  accept(): boolean;
  /** Answers RST|ACK (seq 0, ack = SYN seq + 1), as a closed port does. False if no longer held. */
  refuse(): boolean;
}

/**
 * Called for a SYN to a port with no listener: true to accept it at once (the connection is handed to
 * the fallback's onConnection once established), false to answer RST, 'hold' to decide later through
 * the request's accept()/refuse() (e.g. after dialing somewhere else, so a refusal there is a refusal here).
 */
export type TcpFallback = (syn: SynRequest) => boolean | 'hold';

export interface TcpFallbackOptions {
  /** Accepted sockets keep their write side open after the peer's FIN; default false. */
  allowHalfOpen?: boolean;
  /** How long a held SYN waits for a verdict before it is dropped; default 5000 ms. */
  holdMs?: number;
  /** SYNs held at once; more are dropped (counted in tcpDropBacklog); default 1024. */
  maxHeld?: number;
}

/** Called for a datagram to a port with no bound socket; return false to drop it (no ICMP is sent). */
export type UdpFallback = (msg: Buffer, info: FlowInfo) => boolean | void;

/** Counters of the whole stack; every drop has its reason. */
export interface NetstackStats {
  ipIn: number;
  ipOut: number;
  dropMalformed: number;
  dropChecksum: number;
  dropNotForUs: number;
  dropFragment: number;
  dropProtocol: number;
  tcpConnections: number;
  tcpActiveOpens: number;
  tcpPassiveOpens: number;
  tcpSegmentsIn: number;
  tcpSegmentsOut: number;
  tcpRetransmits: number;
  tcpResetsIn: number;
  tcpResetsOut: number;
  tcpChallengeAcks: number;
  tcpDropNoListener: number;
  tcpDropBacklog: number;
  tcpDropOutOfWindow: number;
  /** SYNs the fallback held, and those dropped when their hold expired without a verdict. */
  tcpSynHeld: number;
  tcpSynHoldExpired: number;
  udpIn: number;
  udpOut: number;
  udpDropNoSocket: number;
  /** ICMP/ICMPv6 destination unreachable (port) sent for datagrams nothing took. */
  icmpUnreachOut: number;
  /** Port unreachables not sent: over the rate limit (1000/s, as Linux's icmp_msgs_per_sec). */
  icmpUnreachRateLimited: number;
  icmpEchoIn: number;
  icmpEchoOut: number;
}

export function newStats(): NetstackStats {
  return {
    ipIn: 0,
    ipOut: 0,
    dropMalformed: 0,
    dropChecksum: 0,
    dropNotForUs: 0,
    dropFragment: 0,
    dropProtocol: 0,
    tcpConnections: 0,
    tcpActiveOpens: 0,
    tcpPassiveOpens: 0,
    tcpSegmentsIn: 0,
    tcpSegmentsOut: 0,
    tcpRetransmits: 0,
    tcpResetsIn: 0,
    tcpResetsOut: 0,
    tcpChallengeAcks: 0,
    tcpDropNoListener: 0,
    tcpDropBacklog: 0,
    tcpDropOutOfWindow: 0,
    tcpSynHeld: 0,
    tcpSynHoldExpired: 0,
    udpIn: 0,
    udpOut: 0,
    udpDropNoSocket: 0,
    icmpUnreachOut: 0,
    icmpUnreachRateLimited: 0,
    icmpEchoIn: 0,
    icmpEchoOut: 0,
  };
}
