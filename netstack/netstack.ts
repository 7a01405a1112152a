// The Netstack: the node's addresses, the demultiplexer (TCP connections by 4-tuple in a hash map with
// chained buckets, listeners and UDP sockets by port), ICMP echo, and the one outbound scratch buffer every
// packet is built in. input() parses in place and allocates nothing for a TCP segment beyond the payload
// copy handed to the app; output hands the scratch buffer to options.output, which copies.
//
// Addresses change on a live stack (addAddress/removeAddress): connections on the addresses that stay are
// untouched, those on a removed one are reset. A TCP fallback may hold a SYN unanswered while it decides
// (see SynRequest): the SYN's packet is kept and replayed through input() once the verdict is in, so the
// accepted connection and the refusal's RST are exactly what an immediate answer would have produced.
import { randomInt } from 'node:crypto';
import { ConnectionError, NetstackError } from '../types/errors.js';
import { formatIP, parseIP } from '../types/ip.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../types/ipproto.js';
import { onesComplementSum } from '../packet/checksum.js';
import { TCP_ACK, TCP_FIN, TCP_HEADER_MIN, TCP_RST, TCP_SYN, UDP_HEADER_SIZE } from '../packet/headers.js';
import type { FlowInfo, NetstackOptions, NetstackStats, RemoteInfo, SynRequest, TcpConnectOptions, TcpFallback, TcpFallbackOptions, TcpListener, TcpListenOptions, TcpSocket, UdpFallback, UdpSocket } from './api.js';
import { newStats } from './api.js';
import { systemClock, type NetstackClock } from './clock.js';
import { handleIcmp, ICMP_VERDICT_ECHO_REPLY, writeEchoRequest, writePortUnreachable } from './icmp.js';
import { IP_PARSE_FRAGMENT, IP_PARSE_OK, type IpPacket, ipHeaderLength, newIpPacket, parseIpPacket, transportChecksum, verifyTransportChecksum, writeIpHeader, writeUdpHeader } from './ip.js';
import { TcpConnection, type TcpHost } from './tcp-connection.js';
import { TcpListenerImpl } from './tcp-listener.js';
import { parseTcpOptions } from './tcp-options.js';
import { newTcpSegment, writeTcpSegment } from './tcp-segment.js';
import { TcpSocketImpl } from './tcp-socket.js';
import { UdpSocketImpl, type UdpHost } from './udp.js';

const DEFAULT_SEND_BUFFER = 4 << 20;
const DEFAULT_RECEIVE_BUFFER = 4 << 20;
const DEFAULT_MAX_CONNECTIONS = 65536;
const DEFAULT_TIME_WAIT_MS = 60_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 75_000;
const DEFAULT_BACKLOG = 1024;
const EPHEMERAL_LOW = 49152; // RFC 6335 §6 dynamic ports
const EPHEMERAL_HIGH = 65535;
const CHALLENGE_ACKS_PER_SECOND = 1000; // RFC 5961 §7, Linux's historical tcp_challenge_ack_limit
const ICMP_ERRORS_PER_SECOND = 1000; // RFC 1812 §4.3.2.8 / RFC 4443 §2.4(f) rate limit; Linux's icmp_msgs_per_sec
const IPV6_MIN_MTU = 1280;
const DEFAULT_SYN_HOLD_MS = 5000;
const DEFAULT_MAX_HELD_SYNS = 1024;
// How a replayed SYN is decided (see SynRequest): ask the fallback, or its verdict is already in.
const SYN_ASK = 0;
const SYN_ACCEPT = 1;
const SYN_REFUSE = 2;

interface LocalAddr {
  family: 4 | 6;
  bytes: Uint8Array;
  text: string;
}

/** A SYN the TCP fallback holds: its packet (replayed on the verdict) and the hold's expiry timer. */
interface HeldSyn {
  key: string;
  packet: Uint8Array;
  timer: unknown;
}

interface PendingPing {
  resolve(ms: number): void;
  reject(err: Error): void;
  start: number;
  timer: unknown;
}

/** FNV-1a over the remote address, remote port and local port: the TCP demux key. */
function tupleHash(b: Uint8Array, off: number, len: number, rport: number, lport: number): number {
  let h = 0x811c9dc5;
  for (let i = off; i < off + len; i++) h = Math.imul(h ^ b[i], 0x01000193);
  h = Math.imul(h ^ rport, 0x01000193);
  h = Math.imul(h ^ lport, 0x01000193);
  return h >>> 0;
}

function bytesEqualAt(a: Uint8Array, b: Uint8Array, off: number): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[off + i]) return false;
  return true;
}

export class Netstack implements TcpHost, UdpHost {
  readonly clock: NetstackClock;
  readonly tx: Uint8Array;
  readonly counters: NetstackStats = newStats();
  private readonly mtu: number;
  private readonly output: (packet: Uint8Array, len: number) => void;
  private readonly random: () => number;
  private addrs: LocalAddr[] = [];
  private readonly sendBuffer: number;
  private readonly receiveBuffer: number;
  private readonly maxConnections: number;
  private readonly timeWaitMs: number;
  private readonly conns = new Map<number, TcpConnection>();
  private connCount = 0;
  private readonly listeners = new Map<number, TcpListenerImpl[]>();
  private tcpFallback: TcpFallback | null = null;
  private tcpFallbackConn: ((s: TcpSocket) => void) | null = null;
  private tcpFallbackHalfOpen = false;
  private synHoldMs = DEFAULT_SYN_HOLD_MS;
  private maxHeldSyns = DEFAULT_MAX_HELD_SYNS;
  private readonly heldSyns = new Map<string, HeldSyn>();
  private synVerdict = SYN_ASK;
  // the packet input() is working on, so a SYN can be kept for a hold
  private inPacket: Uint8Array = new Uint8Array(0);
  private inOff = 0;
  private inLen = 0;
  private readonly udp = new Map<number, UdpSocketImpl[]>();
  private udpFallback: UdpFallback | null = null;
  private readonly pings = new Map<number, PendingPing>();
  private readonly pingId: number;
  private pingSeq = 0;
  private challengeWindowStart = 0;
  private challengeCount = 0;
  private icmpErrorWindowStart = 0;
  private icmpErrorCount = 0;
  private closed = false;
  // reused decode state
  private readonly ip = newIpPacket();
  private readonly seg = newTcpSegment();

  constructor(opts: NetstackOptions) {
    if (!Number.isInteger(opts.mtu) || opts.mtu < 576 || opts.mtu > 65535) throw new NetstackError('ERR_NETSTACK_ARGUMENT', `netstack mtu ${opts.mtu}: expected an integer in [576, 65535]`);
    this.mtu = opts.mtu;
    for (const a of opts.addresses) this.addAddress(a);
    if (this.addrs.length === 0) throw new NetstackError('ERR_NETSTACK_ADDRESS', 'netstack needs at least one address');
    this.output = opts.output;
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? ((): number => randomInt(0, 0x100000000) / 0x100000000);
    this.tx = new Uint8Array(opts.mtu);
    this.sendBuffer = opts.limits?.sendBuffer ?? DEFAULT_SEND_BUFFER;
    this.receiveBuffer = opts.limits?.receiveBuffer ?? DEFAULT_RECEIVE_BUFFER;
    this.maxConnections = opts.limits?.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.timeWaitMs = opts.limits?.timeWaitMs ?? DEFAULT_TIME_WAIT_MS;
    this.pingId = Math.floor(this.random() * 0x10000);
  }

  // ---- addresses ----

  /** The node's addresses now. */
  get addresses(): string[] {
    return this.addrs.map((a) => a.text);
  }

  /** Adds an address on the live stack (no-op if present). Throws on text that is no IP, or IPv6 under an MTU below 1280. */
  addAddress(address: string): void {
    const ip = parseIP(address);
    if (!ip) throw new NetstackError('ERR_NETSTACK_ADDRESS', `netstack address ${JSON.stringify(address)} is not an IP address`);
    if (ip.family === 6 && this.mtu < IPV6_MIN_MTU) throw new NetstackError('ERR_NETSTACK_ARGUMENT', `netstack mtu ${this.mtu} is below IPv6's minimum of ${IPV6_MIN_MTU}`);
    if (this.addrs.some((a) => a.family === ip.family && bytesEqualAt(a.bytes, ip.bytes, 0))) return;
    this.addrs = [...this.addrs, { family: ip.family, bytes: ip.bytes, text: formatIP(ip.bytes) }];
  }

  /**
   * Removes an address from the live stack (no-op if absent): packets to it are no longer ours, and every
   * connection on it is reset (RST to the peer, ECONNABORTED to the app); SYNs held for it are dropped.
   * Connections on the other addresses are untouched. Listeners and UDP sockets bound to it stay bound
   * (as on Linux) and serve again if it comes back.
   */
  removeAddress(address: string): void {
    const ip = parseIP(address);
    const gone = ip ? this.addrs.find((a) => a.family === ip.family && bytesEqualAt(a.bytes, ip.bytes, 0)) : undefined;
    if (!gone) return;
    this.addrs = this.addrs.filter((a) => a !== gone);
    const victims: TcpConnection[] = [];
    for (const head of this.conns.values()) {
      for (let c: TcpConnection | null = head; c !== null; c = c.nextInBucket) if (c.family === gone.family && bytesEqualAt(c.localAddr, gone.bytes, 0)) victims.push(c);
    }
    for (const c of victims) c.abortWith(new ConnectionError('ECONNABORTED', `local address ${gone.text} was removed`));
    for (const h of [...this.heldSyns.values()]) if (h.key.includes(`|${gone.text}|`)) this.dropHeld(h);
  }

  // ---- inbound ----

  /** An IP packet from the tunnel, bytes [off, off+len) of `packet`. Never throws on bad input. */
  input(packet: Uint8Array, off: number, len: number): void {
    if (this.closed) return;
    const p = this.ip;
    this.inPacket = packet;
    this.inOff = off;
    this.inLen = len;
    const r = parseIpPacket(packet, off, len, p);
    if (r !== IP_PARSE_OK) {
      if (r === IP_PARSE_FRAGMENT) this.counters.dropFragment++;
      else this.counters.dropMalformed++;
      return;
    }
    this.counters.ipIn++;
    const local = this.localFor(packet, p.dstOff, p.family);
    if (local === null) {
      this.counters.dropNotForUs++;
      return;
    }
    if (p.proto === IPPROTO_TCP) this.inputTcp(packet, local);
    else if (p.proto === IPPROTO_UDP) this.inputUdp(packet, local);
    else if ((p.proto === IPPROTO_ICMP && p.family === 4) || (p.proto === IPPROTO_ICMPV6 && p.family === 6)) this.inputIcmp(packet);
    else this.counters.dropProtocol++;
  }

  private localFor(b: Uint8Array, off: number, family: 4 | 6): LocalAddr | null {
    for (const a of this.addrs) if (a.family === family && bytesEqualAt(a.bytes, b, off)) return a;
    return null;
  }

  private inputTcp(b: Uint8Array, local: LocalAddr): void {
    const p = this.ip;
    if (p.l4Len < TCP_HEADER_MIN) {
      this.counters.dropMalformed++;
      return;
    }
    const t = p.l4Off;
    const hl = (b[t + 12] >> 4) * 4;
    if (hl < TCP_HEADER_MIN || hl > p.l4Len) {
      this.counters.dropMalformed++;
      return;
    }
    if (!verifyTransportChecksum(b, p)) {
      this.counters.dropChecksum++;
      return;
    }
    this.counters.tcpSegmentsIn++;
    const sport = (b[t] << 8) | b[t + 1];
    const dport = (b[t + 2] << 8) | b[t + 3];
    const seg = this.seg;
    seg.buf = b;
    seg.seq = ((b[t + 4] << 24) | (b[t + 5] << 16) | (b[t + 6] << 8) | b[t + 7]) >>> 0;
    seg.ack = ((b[t + 8] << 24) | (b[t + 9] << 16) | (b[t + 10] << 8) | b[t + 11]) >>> 0;
    seg.flags = b[t + 13] & 0x3f;
    seg.window = (b[t + 14] << 8) | b[t + 15];
    seg.dataOff = t + hl;
    seg.dataLen = p.l4Len - hl;
    parseTcpOptions(b, t + TCP_HEADER_MIN, t + hl, seg.opts);
    const alen = p.family === 4 ? 4 : 16;
    const h = tupleHash(b, p.srcOff, alen, sport, dport);
    for (let c = this.conns.get(h) ?? null; c !== null; c = c.nextInBucket) {
      if (c.remotePort === sport && c.localPort === dport && c.family === p.family && bytesEqualAt(c.remoteAddr, b, p.srcOff) && bytesEqualAt(c.localAddr, b, p.dstOff)) {
        c.onSegment(seg);
        return;
      }
    }
    this.inputTcpNoConnection(b, local, sport, dport, h);
  }

  private inputTcpNoConnection(b: Uint8Array, local: LocalAddr, sport: number, dport: number, h: number): void {
    const seg = this.seg;
    const p = this.ip;
    if (seg.flags & TCP_RST) return; // §3.10.7.1: an incoming RST is discarded
    if ((seg.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN) {
      const listener = this.findListener(dport, b, p.dstOff, p.family);
      const alen = p.family === 4 ? 4 : 16;
      const remoteBytes = b.slice(p.srcOff, p.srcOff + alen);
      let owner: TcpListenerImpl | 'fallback' | null = listener;
      if (owner === null && this.synVerdict !== SYN_ASK) {
        if (this.synVerdict === SYN_ACCEPT) owner = 'fallback';
      } else if (owner === null && this.tcpFallback !== null) {
        const remoteText = formatIP(remoteBytes);
        const key = `${remoteText}|${sport}|${local.text}|${dport}`;
        if (this.heldSyns.has(key)) return; // a retransmission of a SYN waiting for its verdict
        const v = this.tcpFallback(new HeldSynRequest(this, key, { localAddress: local.text, localPort: dport, remoteAddress: remoteText, remotePort: sport }));
        if (v === 'hold') return this.hold(key);
        if (v) owner = 'fallback';
      }
      if (owner === null) {
        this.counters.tcpDropNoListener++;
        this.replyRst(b, local, sport, dport);
        return;
      }
      if (owner !== 'fallback' && owner.halfOpen >= owner.backlog) {
        this.counters.tcpDropBacklog++;
        return;
      }
      if (this.connCount >= this.maxConnections) {
        this.counters.tcpDropBacklog++;
        this.replyRst(b, local, sport, dport);
        return;
      }
      const conn = this.newConnection(p.family, local.bytes, remoteBytes, dport, sport);
      conn.owner = owner;
      if (owner !== 'fallback') owner.halfOpen++;
      this.insert(conn, h);
      this.counters.tcpPassiveOpens++;
      conn.acceptSyn(seg);
      return;
    }
    this.counters.tcpDropNoListener++;
    this.replyRst(b, local, sport, dport);
  }

  /** Keeps the SYN input() is working on until its verdict or its expiry. */
  private hold(key: string): void {
    if (this.heldSyns.size >= this.maxHeldSyns) {
      this.counters.tcpDropBacklog++;
      return;
    }
    const h: HeldSyn = { key, packet: this.inPacket.slice(this.inOff, this.inOff + this.inLen), timer: null };
    h.timer = this.clock.setTimer(() => {
      if (this.heldSyns.get(key) !== h) return;
      this.heldSyns.delete(key);
      this.counters.tcpSynHoldExpired++;
    }, this.synHoldMs);
    this.heldSyns.set(key, h);
    this.counters.tcpSynHeld++;
  }

  private dropHeld(h: HeldSyn): void {
    this.heldSyns.delete(h.key);
    this.clock.clearTimer(h.timer);
  }

  /** A held SYN's verdict (SynRequest.accept/refuse call this): replay its packet with the verdict in force. False if it is no longer held. */
  decideHeld(key: string, accept: boolean): boolean {
    const h = this.heldSyns.get(key);
    if (!h || this.closed) return false;
    this.dropHeld(h);
    // the replay is the same packet again: it is not counted twice
    const { ipIn, tcpSegmentsIn } = this.counters;
    this.synVerdict = accept ? SYN_ACCEPT : SYN_REFUSE;
    try {
      this.input(h.packet, 0, h.packet.length);
    } finally {
      this.synVerdict = SYN_ASK;
      this.counters.ipIn = ipIn;
      this.counters.tcpSegmentsIn = tcpSegmentsIn;
    }
    return true;
  }

  /** RST for a segment that belongs to no connection (RFC 9293 §3.10.7.1). */
  private replyRst(b: Uint8Array, local: LocalAddr, sport: number, dport: number): void {
    const seg = this.seg;
    const p = this.ip;
    const alen = p.family === 4 ? 4 : 16;
    const remote = b.subarray(p.srcOff, p.srcOff + alen);
    let len: number;
    if (seg.flags & TCP_ACK) len = writeTcpSegment(this.tx, p.family, local.bytes, remote, dport, sport, seg.ack, 0, TCP_RST, 0, 0, 0);
    else {
      const segLen = seg.dataLen + (seg.flags & TCP_SYN ? 1 : 0) + (seg.flags & TCP_FIN ? 1 : 0);
      len = writeTcpSegment(this.tx, p.family, local.bytes, remote, dport, sport, 0, (seg.seq + segLen) >>> 0, TCP_RST | TCP_ACK, 0, 0, 0);
    }
    this.counters.tcpResetsOut++;
    this.counters.tcpSegmentsOut++;
    this.transmit(len);
  }

  private findListener(port: number, b: Uint8Array, dstOff: number, family: 4 | 6): TcpListenerImpl | null {
    const list = this.listeners.get(port);
    if (!list) return null;
    let wildcard: TcpListenerImpl | null = null;
    for (const l of list) {
      if (l.bytes === null) wildcard = l;
      else if (l.bytes.length === (family === 4 ? 4 : 16) && bytesEqualAt(l.bytes, b, dstOff)) return l;
    }
    return wildcard;
  }

  private inputUdp(b: Uint8Array, local: LocalAddr): void {
    const p = this.ip;
    if (p.l4Len < UDP_HEADER_SIZE) {
      this.counters.dropMalformed++;
      return;
    }
    const t = p.l4Off;
    const ulen = (b[t + 4] << 8) | b[t + 5];
    if (ulen < UDP_HEADER_SIZE || ulen > p.l4Len) {
      this.counters.dropMalformed++;
      return;
    }
    const hasSum = (b[t + 6] | b[t + 7]) !== 0;
    if ((hasSum || p.family === 6) && !verifyTransportChecksum(b, { ...p, l4Len: ulen })) {
      this.counters.dropChecksum++;
      return;
    }
    this.counters.udpIn++;
    const sport = (b[t] << 8) | b[t + 1];
    const dport = (b[t + 2] << 8) | b[t + 3];
    const alen = p.family === 4 ? 4 : 16;
    const msg = Buffer.from(b.subarray(t + UDP_HEADER_SIZE, t + ulen));
    const remoteText = formatIP(b.subarray(p.srcOff, p.srcOff + alen));
    const list = this.udp.get(dport);
    let sock: UdpSocketImpl | null = null;
    if (list) for (const s of list) if (s.bytes === null ? sock === null : s.bytes.length === alen && bytesEqualAt(s.bytes, b, p.dstOff)) sock = s;
    if (sock) {
      const rinfo: RemoteInfo = { address: remoteText, family: p.family === 4 ? 'IPv4' : 'IPv6', port: sport, size: msg.length };
      sock.deliver(msg, rinfo);
      return;
    }
    if (this.udpFallback && this.udpFallback(msg, { localAddress: local.text, localPort: dport, remoteAddress: remoteText, remotePort: sport }) !== false) return;
    this.counters.udpDropNoSocket++;
  }

  private inputIcmp(b: Uint8Array): void {
    const p = this.ip;
    if (onesSumInvalid(b, p)) {
      this.counters.dropChecksum++;
      return;
    }
    const v = handleIcmp(b, p, this.tx, (len) => {
      this.counters.icmpEchoOut++;
      this.transmit(len);
    });
    if (v === ICMP_VERDICT_ECHO_REPLY) {
      const id = (b[p.l4Off + 4] << 8) | b[p.l4Off + 5];
      const seq = (b[p.l4Off + 6] << 8) | b[p.l4Off + 7];
      const w = id === this.pingId ? this.pings.get(seq) : undefined;
      if (w) {
        this.pings.delete(seq);
        this.clock.clearTimer(w.timer);
        w.resolve(this.clock.now() - w.start);
      }
      this.counters.icmpEchoIn++;
    } else if (v !== 0) this.counters.icmpEchoIn++;
  }

  // ---- TcpHost ----

  transmit(len: number): void {
    this.counters.ipOut++;
    this.output(this.tx, len);
  }

  established(conn: TcpConnection): void {
    const owner = conn.owner as TcpListenerImpl | 'fallback' | null;
    conn.owner = null;
    if (owner instanceof TcpListenerImpl) owner.halfOpen--;
    const sock = this.newSocket(conn, false, owner instanceof TcpListenerImpl ? owner.allowHalfOpen : this.tcpFallbackHalfOpen);
    if (owner instanceof TcpListenerImpl) owner.accept(sock);
    else if (owner === 'fallback' && this.tcpFallbackConn) this.tcpFallbackConn(sock);
    else sock.resetAndDestroy();
  }

  removed(conn: TcpConnection): void {
    const owner = conn.owner;
    if (owner instanceof TcpListenerImpl) owner.halfOpen--;
    conn.owner = null;
    const h = tupleHash(conn.remoteAddr, 0, conn.remoteAddr.length, conn.remotePort, conn.localPort);
    let prev: TcpConnection | null = null;
    for (let c = this.conns.get(h) ?? null; c !== null; prev = c, c = c.nextInBucket) {
      if (c !== conn) continue;
      if (prev === null) {
        if (c.nextInBucket === null) this.conns.delete(h);
        else this.conns.set(h, c.nextInBucket);
      } else prev.nextInBucket = c.nextInBucket;
      this.connCount--;
      this.counters.tcpConnections = this.connCount;
      return;
    }
  }

  challengeAckAllowed(): boolean {
    const now = this.clock.now();
    if (now - this.challengeWindowStart >= 1000) {
      this.challengeWindowStart = now;
      this.challengeCount = 0;
    }
    return ++this.challengeCount <= CHALLENGE_ACKS_PER_SECOND;
  }

  private insert(conn: TcpConnection, h: number): void {
    conn.nextInBucket = this.conns.get(h) ?? null;
    this.conns.set(h, conn);
    this.connCount++;
    this.counters.tcpConnections = this.connCount;
  }

  private newConnection(family: 4 | 6, local: Uint8Array, remote: Uint8Array, lport: number, rport: number): TcpConnection {
    return new TcpConnection(this, {
      family,
      localAddr: local,
      remoteAddr: remote,
      localPort: lport,
      remotePort: rport,
      mtu: this.mtu,
      sendBuffer: this.sendBuffer,
      receiveBuffer: this.receiveBuffer,
      timeWaitMs: this.timeWaitMs,
      iss: Math.floor(this.random() * 0x100000000),
      tsOffset: Math.floor(this.random() * 0x100000000),
    });
  }

  private newSocket(conn: TcpConnection, connecting: boolean, allowHalfOpen: boolean): TcpSocketImpl {
    return new TcpSocketImpl({
      conn,
      clock: this.clock,
      localAddress: formatIP(conn.localAddr),
      remoteAddress: formatIP(conn.remoteAddr),
      connecting,
      allowHalfOpen,
      receiveBuffer: this.receiveBuffer,
    });
  }

  private findConn(remote: Uint8Array, rport: number, local: Uint8Array, lport: number): TcpConnection | null {
    const h = tupleHash(remote, 0, remote.length, rport, lport);
    for (let c = this.conns.get(h) ?? null; c !== null; c = c.nextInBucket) {
      if (c.remotePort === rport && c.localPort === lport && c.remoteAddr.length === remote.length && bytesEqualAt(c.remoteAddr, remote, 0) && bytesEqualAt(c.localAddr, local, 0)) return c;
    }
    return null;
  }

  // ---- app API ----

  /** Opens a TCP connection; the socket emits 'connect', or 'error' (ConnectionError ECONNREFUSED/ETIMEDOUT). */
  connectTcp(opts: TcpConnectOptions): TcpSocket {
    this.assertOpen();
    const remote = parseIP(opts.remoteAddress);
    if (!remote) throw new NetstackError('ERR_NETSTACK_ADDRESS', `connect: ${JSON.stringify(opts.remoteAddress)} is not an IP address`);
    checkPort(opts.remotePort, 'connect: remote port', false);
    const local = this.pickLocal(opts.localAddress, remote.family, 'connect');
    let lport = opts.localPort ?? 0;
    if (lport !== 0) {
      checkPort(lport, 'connect: local port', false);
      if (this.findConn(remote.bytes, opts.remotePort, local.bytes, lport)) throw new NetstackError('ERR_NETSTACK_PORT_IN_USE', `connect: ${local.text}:${lport} → ${opts.remoteAddress}:${opts.remotePort} already exists`);
    } else lport = this.ephemeralPort(remote.bytes, opts.remotePort, local.bytes);
    const conn = this.newConnection(remote.family, local.bytes, remote.bytes, lport, opts.remotePort);
    if (opts.noDelay) conn.noDelay = true;
    const sock = this.newSocket(conn, true, opts.allowHalfOpen ?? false);
    this.insert(conn, tupleHash(remote.bytes, 0, remote.bytes.length, opts.remotePort, lport));
    this.counters.tcpActiveOpens++;
    conn.connect(opts.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    return sock;
  }

  private ephemeralPort(remote: Uint8Array, rport: number, local: Uint8Array): number {
    const span = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
    const start = Math.floor(this.random() * span);
    for (let i = 0; i < span; i++) {
      const port = EPHEMERAL_LOW + ((start + i) % span);
      if (!this.listeners.has(port) && this.findConn(remote, rport, local, port) === null) return port;
    }
    throw new NetstackError('ERR_NETSTACK_PORT_IN_USE', 'connect: no free ephemeral port');
  }

  /** Listens on `port` (all addresses, or opts.address); 'connection' carries each established socket. */
  listenTcp(port: number, onConnection?: (s: TcpSocket) => void, opts?: TcpListenOptions): TcpListener {
    this.assertOpen();
    checkPort(port, 'listen: port', false);
    const local = opts?.address !== undefined ? this.pickLocal(opts.address, parseIP(opts.address)?.family ?? 4, 'listen') : null;
    const list = this.listeners.get(port) ?? [];
    for (const l of list) {
      if (l.bytes === null || local === null || (l.bytes.length === local.bytes.length && bytesEqualAt(l.bytes, local.bytes, 0))) {
        throw new NetstackError('ERR_NETSTACK_PORT_IN_USE', `listen: TCP port ${port} is already in use`);
      }
    }
    const l = new TcpListenerImpl(
      port,
      local?.bytes ?? null,
      local?.text ?? (this.addrs[0]?.family === 6 ? '::' : '0.0.0.0'),
      (local?.family ?? this.addrs[0]?.family) === 6 ? 'IPv6' : 'IPv4',
      opts?.backlog ?? DEFAULT_BACKLOG,
      opts?.allowHalfOpen ?? false,
      (x) => this.unlisten(x),
    );
    if (onConnection) l.on('connection', onConnection);
    list.push(l);
    this.listeners.set(port, list);
    return l;
  }

  private unlisten(l: TcpListenerImpl): void {
    const list = this.listeners.get(l.port);
    if (!list) return;
    const rest = list.filter((x) => x !== l);
    if (rest.length === 0) this.listeners.delete(l.port);
    else this.listeners.set(l.port, rest);
  }

  /**
   * Accept SYNs to ports with no listener: `onSyn` decides per SYN (false → RST, 'hold' → later, see
   * SynRequest); accepted connections are handed to `onConnection` once established. null turns the
   * fallback off (SYNs still held are dropped).
   */
  setTcpFallback(onSyn: TcpFallback | null, onConnection?: (s: TcpSocket) => void, opts?: TcpFallbackOptions): void {
    this.tcpFallback = onSyn;
    this.tcpFallbackConn = onConnection ?? null;
    this.tcpFallbackHalfOpen = opts?.allowHalfOpen ?? false;
    this.synHoldMs = opts?.holdMs ?? DEFAULT_SYN_HOLD_MS;
    this.maxHeldSyns = opts?.maxHeld ?? DEFAULT_MAX_HELD_SYNS;
    if (onSyn === null) for (const h of [...this.heldSyns.values()]) this.dropHeld(h);
  }

  /** Binds a UDP port (0: ephemeral) on all addresses or opts.address. */
  bindUdp(port: number, opts?: { address?: string }): UdpSocket {
    this.assertOpen();
    checkPort(port, 'bind: port', true);
    const local = opts?.address !== undefined ? this.pickLocal(opts.address, parseIP(opts.address)?.family ?? 4, 'bind') : null;
    let p = port;
    if (p === 0) {
      const span = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
      const start = Math.floor(this.random() * span);
      for (let i = 0; i < span && p === 0; i++) if (!this.udp.has(EPHEMERAL_LOW + ((start + i) % span))) p = EPHEMERAL_LOW + ((start + i) % span);
      if (p === 0) throw new NetstackError('ERR_NETSTACK_PORT_IN_USE', 'bind: no free ephemeral UDP port');
    }
    const list = this.udp.get(p) ?? [];
    for (const s of list) {
      if (s.bytes === null || local === null || (s.bytes.length === local.bytes.length && bytesEqualAt(s.bytes, local.bytes, 0))) {
        throw new NetstackError('ERR_NETSTACK_PORT_IN_USE', `bind: UDP port ${p} is already in use`);
      }
    }
    const family = (local?.family ?? this.addrs[0]?.family) === 6 ? 'IPv6' : 'IPv4';
    const s = new UdpSocketImpl(this, p, local?.bytes ?? null, local?.text ?? (family === 'IPv6' ? '::' : '0.0.0.0'), family);
    list.push(s);
    this.udp.set(p, list);
    return s;
  }

  /** Datagrams to unbound ports go to `onDatagram` (return false to count them as dropped). */
  setUdpFallback(onDatagram: UdpFallback | null): void {
    this.udpFallback = onDatagram;
  }

  /**
   * A sender of replies on one flow a UDP fallback took: datagrams from flow.localAddress:localPort to
   * flow.remoteAddress:remotePort, addresses parsed once. The sender returns false (nothing sent) once the
   * stack is closed or the local address removed, and throws ERR_NETSTACK_MESSAGE_SIZE beyond the MTU.
   */
  udpReplier(flow: FlowInfo): (msg: Uint8Array) => boolean {
    const local = parseIP(flow.localAddress);
    const remote = parseIP(flow.remoteAddress);
    if (!local || !remote || local.family !== remote.family) throw new NetstackError('ERR_NETSTACK_ADDRESS', `udpReplier: ${flow.localAddress} → ${flow.remoteAddress} is not a flow of one IP family`);
    checkPort(flow.localPort, 'udpReplier: local port', false);
    checkPort(flow.remotePort, 'udpReplier: remote port', false);
    return (msg) => {
      if (this.closed || this.localFor(local.bytes, 0, local.family) === null) return false;
      this.writeUdp(local.bytes, flow.localPort, remote.family, remote.bytes, flow.remotePort, msg);
      return true;
    };
  }

  /**
   * ICMP/ICMPv6 port unreachable to the sender of a datagram of `flow` carrying `payload` (what a kernel
   * answers for a closed port), at most 1000 a second. False (nothing sent) once the stack is closed or the
   * local address gone, or over the rate.
   */
  sendPortUnreachable(flow: FlowInfo, payload: Uint8Array): boolean {
    const local = parseIP(flow.localAddress);
    const remote = parseIP(flow.remoteAddress);
    if (this.closed || !local || !remote || local.family !== remote.family || this.localFor(local.bytes, 0, local.family) === null) return false;
    const now = this.clock.now();
    if (now - this.icmpErrorWindowStart >= 1000) {
      this.icmpErrorWindowStart = now;
      this.icmpErrorCount = 0;
    }
    if (++this.icmpErrorCount > ICMP_ERRORS_PER_SECOND) {
      this.counters.icmpUnreachRateLimited++;
      return false;
    }
    const len = writePortUnreachable(this.tx, remote.family, local.bytes, remote.bytes, flow.localPort, flow.remotePort, payload);
    this.counters.icmpUnreachOut++;
    this.transmit(len);
    return true;
  }

  // UdpHost
  sendUdp(sock: UdpSocketImpl, msg: Uint8Array, port: number, address: string): number {
    const remote = parseIP(address);
    if (!remote) throw new NetstackError('ERR_NETSTACK_ADDRESS', `send: ${JSON.stringify(address)} is not an IP address`);
    checkPort(port, 'send: port', false);
    const local = sock.bytes !== null ? this.pickLocal(formatIP(sock.bytes), remote.family, 'send') : this.pickLocal(undefined, remote.family, 'send');
    return this.writeUdp(local.bytes, sock.port, remote.family, remote.bytes, port, msg);
  }

  private writeUdp(localBytes: Uint8Array, lport: number, family: 4 | 6, remoteBytes: Uint8Array, port: number, msg: Uint8Array): number {
    const hl = ipHeaderLength(family);
    const l4Len = UDP_HEADER_SIZE + msg.length;
    if (hl + l4Len > this.mtu) throw new NetstackError('ERR_NETSTACK_MESSAGE_SIZE', `send: a ${msg.length}-byte datagram exceeds the MTU of ${this.mtu}`);
    const tx = this.tx;
    writeUdpHeader(tx, hl, lport, port, l4Len);
    tx.set(msg, hl + UDP_HEADER_SIZE);
    writeIpHeader(tx, family, localBytes, remoteBytes, IPPROTO_UDP, l4Len);
    const c = transportChecksum(tx, hl, l4Len, localBytes, remoteBytes, IPPROTO_UDP);
    const cs = c === 0 ? 0xffff : c; // 0 means "no checksum" (RFC 768)
    tx[hl + 6] = cs >>> 8;
    tx[hl + 7] = cs & 0xff;
    this.counters.udpOut++;
    this.transmit(hl + l4Len);
    return msg.length;
  }

  unbindUdp(sock: UdpSocketImpl): void {
    const list = this.udp.get(sock.port);
    if (!list) return;
    const rest = list.filter((x) => x !== sock);
    if (rest.length === 0) this.udp.delete(sock.port);
    else this.udp.set(sock.port, rest);
  }

  /** ICMP/ICMPv6 echo to `address`; resolves with the RTT in ms, rejects with ETIMEDOUT after timeoutMs. */
  ping(address: string, timeoutMs = 5000): Promise<number> {
    if (this.closed) return Promise.reject(new NetstackError('ERR_NETSTACK_CLOSED', 'ping: netstack is closed'));
    const remote = parseIP(address);
    if (!remote) return Promise.reject(new NetstackError('ERR_NETSTACK_ADDRESS', `ping: ${JSON.stringify(address)} is not an IP address`));
    let local: LocalAddr;
    try {
      local = this.pickLocal(undefined, remote.family, 'ping');
    } catch (e) {
      return Promise.reject(e as Error);
    }
    const seq = (this.pingSeq = (this.pingSeq + 1) & 0xffff);
    return new Promise<number>((resolve, reject) => {
      const timer = this.clock.setTimer(() => {
        this.pings.delete(seq);
        reject(new ConnectionError('ETIMEDOUT', `ping ${address}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pings.set(seq, { resolve, reject, start: this.clock.now(), timer });
      const len = writeEchoRequest(this.tx, remote.family, local.bytes, remote.bytes, this.pingId, seq, 56);
      this.counters.icmpEchoOut++;
      this.transmit(len);
    });
  }

  stats(): NetstackStats {
    return { ...this.counters };
  }

  /**
   * Closes the stack: every connection is reset toward its peer, and its socket destroyed the way the app's
   * own destroy() would — 'close' is emitted, 'error' is not (the owner closed it: nothing failed; a write
   * still waiting gets its callback's error, as on any destroyed stream). Listeners and UDP sockets close,
   * held SYNs are dropped, pings reject with ERR_NETSTACK_CLOSED.
   */
  close(): void {
    if (this.closed) return;
    const all: TcpConnection[] = [];
    for (const head of this.conns.values()) for (let c: TcpConnection | null = head; c !== null; c = c.nextInBucket) all.push(c);
    for (const c of all) {
      const user = c.user;
      c.abort(); // RST, and the connection forgets its socket before closing, so no error reaches it
      if (user instanceof TcpSocketImpl) user.destroy();
    }
    for (const h of [...this.heldSyns.values()]) this.dropHeld(h);
    for (const list of [...this.listeners.values()]) for (const l of list) l.close();
    for (const list of [...this.udp.values()]) for (const s of list) s.close();
    for (const [seq, w] of this.pings) {
      this.clock.clearTimer(w.timer);
      w.reject(new NetstackError('ERR_NETSTACK_CLOSED', 'netstack closed'));
      this.pings.delete(seq);
    }
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new NetstackError('ERR_NETSTACK_CLOSED', 'netstack is closed');
  }

  private pickLocal(address: string | undefined, family: 4 | 6, what: string): LocalAddr {
    if (address === undefined) {
      const a = this.addrs.find((x) => x.family === family);
      if (!a) throw new NetstackError('ERR_NETSTACK_ADDRESS', `${what}: the node has no IPv${family} address`);
      return a;
    }
    const ip = parseIP(address);
    const a = ip ? this.addrs.find((x) => x.family === ip.family && bytesEqualAt(x.bytes, ip.bytes, 0)) : undefined;
    if (!a) throw new NetstackError('ERR_NETSTACK_ADDRESS', `${what}: ${address} is not one of the node's addresses (${this.addrs.map((x) => x.text).join(', ')})`);
    if (a.family !== family) throw new NetstackError('ERR_NETSTACK_ADDRESS', `${what}: ${address} is not an IPv${family} address`);
    return a;
  }
}

function checkPort(port: number, what: string, zeroOk: boolean): void {
  if (!Number.isInteger(port) || port < (zeroOk ? 0 : 1) || port > 65535) throw new NetstackError('ERR_NETSTACK_ARGUMENT', `${what} ${port}: expected an integer in [${zeroOk ? 0 : 1}, 65535]`);
}

/** ICMPv4 carries its own checksum over the message; ICMPv6 includes the pseudo-header. */
function onesSumInvalid(b: Uint8Array, p: IpPacket): boolean {
  if (p.family === 6) return !verifyTransportChecksum(b, p);
  return onesComplementSum(b, p.l4Off, p.l4Len) !== 0xffff;
}

/** A SYN offered to the TCP fallback; accept()/refuse() only act while the stack holds it. */
class HeldSynRequest implements SynRequest {
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;

  constructor(
    private readonly stack: Netstack,
    private readonly key: string,
    info: FlowInfo,
  ) {
    this.localAddress = info.localAddress;
    this.localPort = info.localPort;
    this.remoteAddress = info.remoteAddress;
    this.remotePort = info.remotePort;
  }

  accept(): boolean {
    return this.stack.decideHeld(this.key, true);
  }

  refuse(): boolean {
    return this.stack.decideHeld(this.key, false);
  }
}
