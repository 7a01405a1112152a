// The shared core of a TCP connection (tcp-connection.ts has the overview): constants, the host and
// user interfaces, the connection variables (RFC 9293 §3.3.1), and segment output — ACKs, RSTs and the
// window we advertise. The connection is a chain of classes, one concern per file: this core, the sending
// side (tcp-sender.ts), SACK loss recovery (tcp-sack-recovery.ts), the timers (tcp-timers.ts), the
// receiving side (tcp-receiver.ts) and the state machine (tcp-connection.ts). One object per connection;
// the split is only for reading.
import { ConnectionError } from '../types/errors.js';
import { TCP_ACK, TCP_RST, TCP_HEADER_MIN } from '../packet/headers.js';
import type { NetstackClock } from './clock.js';
import type { NetstackStats, TcpState } from './api.js';
import { NewReno } from './congestion.js';
import { ipHeaderLength } from './ip.js';
import { RtoEstimator } from './rto.js';
import { TcpReassembly } from './tcp-reassembly.js';
import { tcpOptionsOffset, writeTcpSegment } from './tcp-segment.js';
import { TcpSendBuffer } from './tcp-send-buffer.js';
import { TCP_DEFAULT_MSS_V4, TCP_DEFAULT_MSS_V6, TCP_MAX_SACK_BLOCKS, TCP_MAX_SACK_BLOCKS_WITH_TS, TCP_MAX_WSCALE, writeSackOption, writeTcpOptions } from './tcp-options.js';
import { SackScoreboard } from './tcp-sack-scoreboard.js';
import { seqAdd, seqDiff, seqGt } from './tcp-seq.js';
import type { TcpConnection } from './tcp-connection.js';

export const DELAYED_ACK_MS = 40; // Linux's minimum delayed-ACK timeout; RFC 9293 §3.8.6.3 requires < 500 ms
export const SYN_RETRIES_PASSIVE = 5; // SYN-ACK retransmissions before a half-open connection is dropped
export const DATA_RETRIES = 15; // Linux tcp_retries2: ~15 minutes of backed-off retransmission at most
export const KEEPALIVE_INTERVAL_MS = 75_000; // RFC 1122 §4.2.3.6 / Linux defaults
export const KEEPALIVE_PROBES = 9;
export const KEEPALIVE_IDLE_DEFAULT_MS = 7_200_000; // two hours (RFC 1122 §4.2.3.6)
export const PERSIST_MAX_MS = 60_000;
export const MAX_WINDOW_FIELD = 0xffff;

/** What a connection needs from the stack. */
export interface TcpHost {
  readonly clock: NetstackClock;
  /** The shared outbound scratch buffer (MTU bytes). */
  readonly tx: Uint8Array;
  readonly counters: NetstackStats;
  /** Sends tx[0, len). */
  transmit(len: number): void;
  /** A passive connection finished its handshake. */
  established(conn: TcpConnection): void;
  /** The connection reached CLOSED: forget it. */
  removed(conn: TcpConnection): void;
  /** RFC 5961 §7: a stack-wide limit on challenge ACKs. */
  challengeAckAllowed(): boolean;
}

/** What a connection tells the app (the Duplex in tcp-socket.ts). */
export interface TcpUser {
  onConnected(): void;
  /** In-order bytes; b is reused after the call (copy). */
  onData(b: Uint8Array, off: number, len: number): void;
  /** The peer's FIN, in order: no more data. */
  onEnd(): void;
  /** The send buffer has room again. */
  onSendSpace(): void;
  /** The connection is finished (err null: both sides closed cleanly). Called once. */
  onClosed(err: ConnectionError | null): void;
  /** Bytes delivered but not yet read by the app (they count against the receive window). */
  unread(): number;
}

export interface TcpConnectionConfig {
  family: 4 | 6;
  localAddr: Uint8Array;
  remoteAddr: Uint8Array;
  localPort: number;
  remotePort: number;
  mtu: number;
  sendBuffer: number;
  receiveBuffer: number;
  timeWaitMs: number;
  iss: number;
  tsOffset: number;
}

/** Scratch for the SACK blocks of the ACK being built (single-threaded; filled and written at once). */
const sackScratch = new Uint32Array(2 * TCP_MAX_SACK_BLOCKS);

/** The earlier of two deadlines, 0 meaning "none". */
export function earliest(a: number, b: number): number {
  return b !== 0 && (a === 0 || b < a) ? b : a;
}

export abstract class TcpConnectionBase {
  state: TcpState = 'CLOSED';
  readonly family: 4 | 6;
  readonly localAddr: Uint8Array;
  readonly remoteAddr: Uint8Array;
  readonly localPort: number;
  readonly remotePort: number;
  /** Next connection in the same demux hash bucket. */
  nextInBucket: TcpConnection | null = null;
  /** The listener (or fallback) a passive connection belongs to, until it is established. */
  owner: unknown = null;
  user: TcpUser | null = null;
  /** The app closed its side (destroy): data arriving now is answered with RST. */
  orphaned = false;
  noDelay = false;

  // send sequence space (RFC 9293 §3.3.1)
  protected iss: number;
  protected sndUna: number;
  protected sndNxt: number;
  protected sndMax: number; // highest sequence number sent (sndNxt moves back on a timeout)
  protected sndWnd = 0;
  protected maxSndWnd = 0;
  protected sndWl1 = 0;
  protected sndWl2 = 0;
  protected sndShift = 0;
  // receive sequence space
  protected irs = 0;
  protected rcvNxt = 0;
  protected rcvAdv = 0; // right edge of the window last advertised
  protected rcvShift = 0;
  protected readonly rcvBufLimit: number;

  protected readonly ourMss: number;
  protected sendMss: number;
  protected tsOn = false;
  protected tsRecent = 0;
  protected readonly tsOffset: number;
  protected lastAckSent = 0;
  /** Both sides sent SACK-permitted (RFC 2018 §2): we send SACK blocks and recover per RFC 6675. */
  protected sackOn = false;
  /** What the peer SACKed of our outstanding data (used only when sackOn). */
  protected readonly sb = new SackScoreboard();
  /** RFC 6675 HighRxt + 1: one past the highest octet retransmitted in this SACK recovery. */
  protected rxtEnd = 0;
  /** RFC 6675 NextSeg() rule 4: the one rescue retransmission of this recovery was sent. */
  protected rescueDone = false;

  protected readonly sendBuf = new TcpSendBuffer();
  protected readonly sendBufLimit: number;
  protected finQueued = false;
  protected finAcked = false;
  protected readonly reasm = new TcpReassembly();

  protected readonly rtt = new RtoEstimator();
  protected readonly cc: NewReno;
  protected rttSeq = 0; // segment being timed when timestamps are off (Karn)
  protected rttStart = -1;
  protected retries = 0;
  protected persistShift = 0;
  protected forceSend = false;
  protected pendingAcks = 0;
  protected sendSpaceWanted = false;
  protected closedNotified = false;

  // deadlines (clock ms; 0 = off) and the one timer serving them
  protected rtoAt = 0;
  protected delackAt = 0;
  protected persistAt = 0;
  protected keepaliveAt = 0;
  protected timeWaitAt = 0;
  protected connectDeadline = 0;
  protected keepIdle = 0; // 0 = keepalive off
  protected keepProbes = 0;
  protected timer: unknown = null;
  protected timerAt = 0;
  protected readonly onTimer = (): void => this.fire();
  protected readonly timeWaitMs: number;

  // diagnostics
  protected maxFlight = 0;
  protected retransmits = 0;
  protected fastRetransmits = 0;
  protected timeouts = 0;
  protected challengeAcks = 0;
  protected wsOk = false; // both sides sent window scale (RFC 7323 §2.2)

  constructor(
    protected readonly host: TcpHost,
    cfg: TcpConnectionConfig,
  ) {
    this.family = cfg.family;
    this.localAddr = cfg.localAddr;
    this.remoteAddr = cfg.remoteAddr;
    this.localPort = cfg.localPort;
    this.remotePort = cfg.remotePort;
    this.iss = cfg.iss >>> 0;
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.sndMax = this.iss;
    this.ourMss = cfg.mtu - ipHeaderLength(cfg.family) - TCP_HEADER_MIN;
    this.sendMss = cfg.family === 4 ? TCP_DEFAULT_MSS_V4 : TCP_DEFAULT_MSS_V6;
    this.rcvBufLimit = cfg.receiveBuffer;
    this.sendBufLimit = cfg.sendBuffer;
    this.timeWaitMs = cfg.timeWaitMs;
    this.tsOffset = cfg.tsOffset >>> 0;
    let shift = 0;
    while (shift < TCP_MAX_WSCALE && this.rcvBufLimit >>> shift > MAX_WINDOW_FIELD) shift++;
    this.rcvShift = shift;
    this.cc = new NewReno(this.sendMss);
  }

  /**
   * An ACK carrying the current window, and SACK blocks while out-of-order data waits (RFC 2018 §4: on
   * every ACK that does not acknowledge the highest octet held); clears the delayed-ACK state. Only pure
   * ACKs carry SACK blocks, so a data segment never outgrows the MSS; the ACKs that matter to the sender's
   * loss recovery (those for out-of-order arrivals) are always sent at once and pure.
   */
  sendAck(): void {
    if (!this.isSynchronized()) return;
    const tx = this.host.tx;
    const off = tcpOptionsOffset(this.family);
    let optLen = this.tsOn ? writeTcpOptions(tx, off, 0, -1, true, this.tsNow(), this.tsRecent) : 0;
    if (this.sackOn && !this.reasm.empty) {
      const n = this.reasm.sackBlocks(sackScratch, this.tsOn ? TCP_MAX_SACK_BLOCKS_WITH_TS : TCP_MAX_SACK_BLOCKS);
      optLen += writeSackOption(tx, off + optLen, sackScratch, n);
    }
    // SND.MAX, not SND.NXT: after a timeout snd.nxt goes back to snd.una (go-back-N), and an ACK numbered
    // below what the peer already holds fails its acceptability test (RFC 9293 §3.10.7.4) and is dropped
    // with its ACK field. When both ends time out at once in a two-way transfer, each would then drop
    // every ACK of the other until the connection dies (seen with 5% loss both ways).
    this.emit(this.sndMax, TCP_ACK, optLen, 0);
  }

  /** RFC 5961 §7: an ACK with the expected numbers, rate-limited stack-wide. */
  protected challengeAck(): void {
    if (!this.host.challengeAckAllowed()) return;
    this.challengeAcks++;
    this.host.counters.tcpChallengeAcks++;
    this.sendAck();
  }

  protected sendRst(seq: number): void {
    this.sendRstRaw(seq, 0, TCP_RST);
  }

  protected sendRstRaw(seq: number, ack: number, flags: number): void {
    this.host.counters.tcpResetsOut++;
    this.emitRaw(seq, ack, flags, 0, 0, 0);
  }

  /** A synchronized-state segment: ACK field, window, delayed-ACK bookkeeping. */
  protected emit(seq: number, flags: number, optLen: number, dataLen: number): void {
    const wnd = this.windowNow();
    let field = Math.min(wnd >>> this.rcvShift, MAX_WINDOW_FIELD);
    // never shrink the window we advertised (RFC 9293 §3.8.6.2.2)
    const advLeft = seqDiff(this.rcvAdv, this.rcvNxt);
    if (field << this.rcvShift < advLeft) field = Math.min(Math.ceil(advLeft / 2 ** this.rcvShift), MAX_WINDOW_FIELD);
    const right = seqAdd(this.rcvNxt, field << this.rcvShift);
    if (seqGt(right, this.rcvAdv)) this.rcvAdv = right;
    this.pendingAcks = 0;
    this.delackAt = 0;
    this.lastAckSent = this.rcvNxt;
    this.emitRaw(seq, this.rcvNxt, flags, field, optLen, dataLen);
  }

  protected emitRaw(seq: number, ack: number, flags: number, window: number, optLen: number, dataLen: number): void {
    const len = writeTcpSegment(this.host.tx, this.family, this.localAddr, this.remoteAddr, this.localPort, this.remotePort, seq, ack, flags, window, optLen, dataLen);
    this.host.counters.tcpSegmentsOut++;
    this.host.transmit(len);
  }

  /** Free receive space: the buffer limit less what the app has not read and what waits reassembly. */
  protected windowNow(): number {
    const used = (this.user?.unread() ?? 0) + this.reasm.bytes;
    const free = this.rcvBufLimit - used;
    // receiver SWS avoidance (§3.8.6.2.2): a window under one MSS is advertised as zero
    if (free < Math.min(this.ourMss, this.rcvBufLimit >>> 1)) return 0;
    return this.wsOk ? free : Math.min(free, MAX_WINDOW_FIELD);
  }

  // ---- time ----


  protected now(): number {
    return this.host.clock.now();
  }

  protected tsNow(): number {
    return (Math.floor(this.now()) + this.tsOffset) >>> 0;
  }

  // ---- closing ----

  isClosed(): boolean {
    return this.state === 'CLOSED';
  }

  isSynchronized(): boolean {
    return this.state !== 'SYN_SENT' && this.state !== 'CLOSED';
  }

  protected remoteLabel(): string {
    return `${this.family === 4 ? Array.from(this.remoteAddr).join('.') : 'IPv6 peer'}:${this.remotePort}`;
  }

  // ---- implemented further down the chain ----

  protected abstract armTimer(): void;
  protected abstract fire(): void;
  abstract shutdown(): void;
  protected abstract notifyClosed(err: ConnectionError | null): void;
  protected abstract toClosed(err: ConnectionError | null): void;
}
