// One TCP connection's state machine (RFC 9293 §3.10): handshake both ways, sequence and ACK processing,
// out-of-order reassembly, retransmission on the RFC 6298 timer, fast retransmit with NewReno recovery
// (RFC 6582, congestion.ts), window scaling and timestamps (RFC 7323), delayed ACKs (RFC 9293 §3.8.6.3),
// zero-window probes (§3.8.6.1), keepalives (§3.8.4), FIN half-close, TIME_WAIT, and RST/SYN/ACK checks
// against blind injection (RFC 5961: challenge ACKs).
//
// Pure: segments arrive through onSegment() as decoded fields; segments leave through the host's scratch
// buffer; time comes from the host's clock through one timer per connection (armed at the earliest of the
// RTO, delayed-ACK, persist, keepalive and TIME_WAIT deadlines, and only re-armed when a deadline moves
// earlier, so per-segment timer churn is nil). The app side is a TcpUser (tcp-socket.ts). Not reentrant:
// user callbacks run at the end of processing or are tolerant of being called mid-way (they only push).
import { ConnectionError, type PosixConnectionCode } from '../types/errors.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_HEADER_MIN } from '../packet/headers.js';
import type { NetstackClock } from './clock.js';
import type { NetstackStats, TcpInfo, TcpState } from './api.js';
import { NewReno } from './congestion.js';
import { ipHeaderLength } from './ip.js';
import { RtoEstimator } from './rto.js';
import { TcpReassembly } from './tcp-reassembly.js';
import type { TcpSegment } from './tcp-segment.js';
import { tcpOptionsOffset, writeTcpSegment } from './tcp-segment.js';
import { TcpSendBuffer } from './tcp-send-buffer.js';
import { TCP_DEFAULT_MSS_V4, TCP_DEFAULT_MSS_V6, TCP_MAX_WSCALE, TCP_TS_OPTION_SPACE, writeTcpOptions } from './tcp-options.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax } from './tcp-seq.js';

export const DELAYED_ACK_MS = 40; // Linux's minimum delayed-ACK timeout; RFC 9293 §3.8.6.3 requires < 500 ms
export const SYN_RETRIES_PASSIVE = 5; // SYN-ACK retransmissions before a half-open connection is dropped
export const DATA_RETRIES = 15; // Linux tcp_retries2: ~15 minutes of backed-off retransmission at most
export const KEEPALIVE_INTERVAL_MS = 75_000; // RFC 1122 §4.2.3.6 / Linux defaults
export const KEEPALIVE_PROBES = 9;
export const KEEPALIVE_IDLE_DEFAULT_MS = 7_200_000; // two hours (RFC 1122 §4.2.3.6)
export const PERSIST_MAX_MS = 60_000;
const MAX_WINDOW_FIELD = 0xffff;

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

/** The earlier of two deadlines, 0 meaning "none". */
function earliest(a: number, b: number): number {
  return b !== 0 && (a === 0 || b < a) ? b : a;
}

export class TcpConnection {
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
  private iss: number;
  private sndUna: number;
  private sndNxt: number;
  private sndMax: number; // highest sequence number sent (sndNxt moves back on a timeout)
  private sndWnd = 0;
  private maxSndWnd = 0;
  private sndWl1 = 0;
  private sndWl2 = 0;
  private sndShift = 0;
  // receive sequence space
  private irs = 0;
  private rcvNxt = 0;
  private rcvAdv = 0; // right edge of the window last advertised
  private rcvShift = 0;
  private readonly rcvBufLimit: number;

  private readonly ourMss: number;
  private sendMss: number;
  private tsOn = false;
  private tsRecent = 0;
  private readonly tsOffset: number;
  private lastAckSent = 0;

  private readonly sendBuf = new TcpSendBuffer();
  private readonly sendBufLimit: number;
  private finQueued = false;
  private finAcked = false;
  private readonly reasm = new TcpReassembly();

  private readonly rtt = new RtoEstimator();
  private readonly cc: NewReno;
  private rttSeq = 0; // segment being timed when timestamps are off (Karn)
  private rttStart = -1;
  private retries = 0;
  private persistShift = 0;
  private forceSend = false;
  private pendingAcks = 0;
  private sendSpaceWanted = false;
  private closedNotified = false;

  // deadlines (clock ms; 0 = off) and the one timer serving them
  private rtoAt = 0;
  private delackAt = 0;
  private persistAt = 0;
  private keepaliveAt = 0;
  private timeWaitAt = 0;
  private connectDeadline = 0;
  private keepIdle = 0; // 0 = keepalive off
  private keepProbes = 0;
  private timer: unknown = null;
  private timerAt = 0;
  private readonly onTimer = (): void => this.fire();
  private readonly timeWaitMs: number;

  // diagnostics
  private maxFlight = 0;
  private retransmits = 0;
  private fastRetransmits = 0;
  private timeouts = 0;
  private challengeAcks = 0;

  constructor(
    private readonly host: TcpHost,
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

  // ---- app side ----

  /** Active open (RFC 9293 §3.10.1): send SYN. */
  connect(timeoutMs: number): void {
    this.state = 'SYN_SENT';
    this.connectDeadline = this.now() + timeoutMs;
    this.sendSyn(false);
    this.sndNxt = seqAdd(this.iss, 1);
    this.sndMax = this.sndNxt;
    this.rtoAt = this.now() + this.rtt.rto;
    this.armTimer();
  }

  /** Passive open: a SYN for a listener (RFC 9293 §3.10.7.2); answers SYN-ACK. */
  acceptSyn(seg: TcpSegment): void {
    this.state = 'SYN_RECEIVED';
    this.takeSynOptions(seg, true);
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.sndWnd = seg.window; // never scaled in a SYN (RFC 7323 §2.2)
    this.maxSndWnd = this.sndWnd;
    this.sndWl1 = seg.seq;
    this.sndWl2 = this.iss;
    this.sendSyn(true);
    this.sndNxt = seqAdd(this.iss, 1);
    this.sndMax = this.sndNxt;
    this.rtoAt = this.now() + this.rtt.rto;
    this.armTimer();
  }

  /** Queues app bytes; returns false when the send buffer is over its limit (the app should wait). */
  write(chunk: Uint8Array): boolean {
    this.sendBuf.push(chunk);
    if (this.isSynchronized()) this.pump();
    const ok = this.sendBuf.length < this.sendBufLimit;
    if (!ok) this.sendSpaceWanted = true;
    return ok;
  }

  /** The app finished writing: send FIN after the data (half-close). */
  shutdown(): void {
    if (this.finQueued) return;
    if (this.state === 'SYN_SENT' || this.state === 'SYN_RECEIVED' || this.state === 'ESTABLISHED' || this.state === 'CLOSE_WAIT') {
      this.finQueued = true;
      if (this.isSynchronized()) this.pump();
    }
  }

  /** The app let go (destroy): finish gracefully in the background, or RST if nothing can finish. */
  release(): void {
    this.orphaned = true;
    this.user = null;
    if (this.state === 'SYN_SENT') return this.toClosed(null);
    if (this.isClosed()) return;
    this.shutdown();
  }

  /** Aborts with RST (RFC 9293 §3.10.5 ABORT). */
  abort(): void {
    if (this.state !== 'CLOSED' && this.state !== 'SYN_SENT' && this.state !== 'TIME_WAIT') this.sendRst(this.sndNxt);
    this.user = null;
    this.toClosed(null);
  }

  /** Aborts with RST and reports `err` to the app (the stack is closing). */
  abortWith(err: ConnectionError): void {
    if (this.state !== 'CLOSED' && this.state !== 'SYN_SENT' && this.state !== 'TIME_WAIT') this.sendRst(this.sndNxt);
    this.toClosed(err);
  }

  /** The app read some bytes: reopen the window if it grew enough to be worth an update (SWS avoidance). */
  onAppRead(): void {
    if (!this.isSynchronized() || this.state === 'TIME_WAIT') return;
    const wnd = this.windowNow();
    const grow = seqDiff(seqAdd(this.rcvNxt, wnd), this.rcvAdv);
    if (grow >= Math.min(this.rcvBufLimit >>> 1, 2 * this.ourMss)) this.sendAck();
  }

  setKeepAlive(enable: boolean, idleMs: number): void {
    this.keepIdle = enable ? (idleMs > 0 ? idleMs : KEEPALIVE_IDLE_DEFAULT_MS) : 0;
    this.keepProbes = 0;
    this.keepaliveAt = this.keepIdle > 0 && this.state === 'ESTABLISHED' ? this.now() + this.keepIdle : 0;
    this.armTimer();
  }

  get bufferedAmount(): number {
    return this.sendBuf.length;
  }

  get sendBufferFull(): boolean {
    return this.sendBuf.length >= this.sendBufLimit;
  }

  info(): TcpInfo {
    return {
      state: this.state,
      mss: this.sendMss,
      cwnd: this.cc.cwnd,
      ssthresh: this.cc.ssthresh,
      srttMs: this.rtt.srtt,
      rtoMs: this.rtt.rto,
      sendWindow: this.sndWnd,
      receiveWindow: this.isSynchronized() ? Math.max(seqDiff(this.rcvAdv, this.rcvNxt), 0) : 0,
      sendWindowShift: this.sndShift,
      receiveWindowShift: this.rcvShift,
      timestamps: this.tsOn,
      bytesInFlight: seqDiff(this.sndMax, this.sndUna),
      maxBytesInFlight: this.maxFlight,
      bytesBuffered: this.sendBuf.length,
      retransmits: this.retransmits,
      fastRetransmits: this.fastRetransmits,
      timeouts: this.timeouts,
      challengeAcks: this.challengeAcks,
    };
  }

  // ---- segment arrival (RFC 9293 §3.10.7) ----

  onSegment(seg: TcpSegment): void {
    if (this.isClosed()) return;
    if (this.state === 'SYN_SENT') return this.onSegmentSynSent(seg);
    const now = this.now();
    const flags = seg.flags;
    const segLen = seg.dataLen + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0);

    // SYN_RECEIVED: a retransmitted SYN means our SYN-ACK was lost.
    if (this.state === 'SYN_RECEIVED' && (flags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_SYN && seg.seq === this.irs) {
      this.sendSyn(true);
      return;
    }

    // PAWS (RFC 7323 §5.3): an old timestamp on a non-RST segment is a duplicate from an earlier wrap.
    if (this.tsOn && seg.opts.hasTimestamp && (flags & TCP_RST) === 0 && seqLt(seg.opts.tsVal, this.tsRecent)) {
      this.sendAck();
      return;
    }

    // first: sequence number acceptability (§3.10.7.4)
    const rcvWnd = Math.max(seqDiff(this.rcvAdv, this.rcvNxt), 0);
    let acceptable: boolean;
    if (segLen === 0) acceptable = rcvWnd === 0 ? seg.seq === this.rcvNxt : seqGe(seg.seq, this.rcvNxt) && seqLt(seg.seq, seqAdd(this.rcvNxt, rcvWnd));
    else if (rcvWnd === 0) acceptable = false;
    else {
      const last = seqAdd(seg.seq, segLen - 1);
      acceptable = (seqGe(seg.seq, this.rcvNxt) && seqLt(seg.seq, seqAdd(this.rcvNxt, rcvWnd))) || (seqGe(last, this.rcvNxt) && seqLt(last, seqAdd(this.rcvNxt, rcvWnd)));
    }
    // A zero window still takes the ACK, window and RST fields of an in-sequence segment (§3.10.7.4).
    if (!acceptable && !(rcvWnd === 0 && seg.seq === this.rcvNxt)) {
      if ((flags & TCP_RST) === 0) {
        this.host.counters.tcpDropOutOfWindow++;
        // TIME_WAIT: a retransmitted FIN is acknowledged and restarts the 2 MSL timer (§3.10.7.4)
        if (this.state === 'TIME_WAIT' && flags & TCP_FIN) {
          this.timeWaitAt = now + this.timeWaitMs;
          this.armTimer();
        }
        if (flags & TCP_SYN) this.challengeAck();
        else this.sendAck();
      }
      return;
    }

    // second: RST (RFC 5961 §3.2): only an exact match resets; an in-window one gets a challenge ACK.
    if (flags & TCP_RST) {
      this.host.counters.tcpResetsIn++;
      if (seg.seq !== this.rcvNxt) {
        this.challengeAck();
        return;
      }
      if (this.state === 'SYN_RECEIVED' && this.user === null) return this.toClosed(null);
      const code: PosixConnectionCode = this.state === 'SYN_RECEIVED' ? 'ECONNREFUSED' : 'ECONNRESET';
      if (this.state === 'CLOSING' || this.state === 'LAST_ACK' || this.state === 'TIME_WAIT') return this.toClosed(null);
      return this.toClosed(new ConnectionError(code, `connection ${code === 'ECONNRESET' ? 'reset' : 'refused'} by ${this.remoteLabel()}`));
    }

    // fourth: SYN in a synchronized state (RFC 5961 §4): challenge ACK, drop.
    if (flags & TCP_SYN) {
      this.challengeAck();
      return;
    }

    // fifth: ACK
    if ((flags & TCP_ACK) === 0) return;
    if (this.state === 'SYN_RECEIVED') {
      if (seqGt(seg.ack, this.sndUna) && seqLe(seg.ack, this.sndMax)) {
        this.state = 'ESTABLISHED';
        this.sndWnd = seg.window << this.sndShift;
        this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
        this.sndWl1 = seg.seq;
        this.sndWl2 = seg.ack;
        this.sndUna = seg.ack;
        this.retries = 0;
        this.rtoAt = 0;
        if (this.rttStart >= 0) this.rtt.sample(now - this.rttStart);
        this.rttStart = -1;
        if (this.keepIdle > 0) this.keepaliveAt = now + this.keepIdle;
        this.host.established(this);
        if (this.state !== 'ESTABLISHED') return; // the app closed it from its connection handler
      } else {
        this.sendRst(seg.ack);
        return;
      }
    } else if (!this.processAck(seg, now)) {
      return;
    }
    if (this.isClosed()) return;

    if (this.tsOn && seg.opts.hasTimestamp && seqLe(seg.seq, this.lastAckSent)) this.tsRecent = seg.opts.tsVal;
    if (this.keepIdle > 0) {
      this.keepaliveAt = now + this.keepIdle;
      this.keepProbes = 0;
    }

    // seventh: segment text
    if (seg.dataLen > 0) {
      if (this.state === 'ESTABLISHED' || this.state === 'FIN_WAIT_1' || this.state === 'FIN_WAIT_2') {
        if (this.orphaned) {
          // data for a socket the app has closed: abort (RFC 9293 §3.10.7.4 / RFC 2525 §2.17)
          this.sendRst(this.sndNxt);
          return this.toClosed(null);
        }
        this.receiveText(seg);
        if (this.isClosed()) return;
      }
    }

    // eighth: FIN
    if (flags & TCP_FIN) {
      const finSeq = seqAdd(seg.seq, seg.dataLen);
      if (finSeq === this.rcvNxt) this.receiveFin();
      else if (seqGt(finSeq, this.rcvNxt)) {
        this.reasm.finSeq = finSeq;
        this.sendAck();
      } else if (this.state === 'TIME_WAIT' || this.state === 'CLOSE_WAIT' || this.state === 'CLOSING' || this.state === 'LAST_ACK') {
        // a retransmitted FIN: re-acknowledge it; TIME_WAIT restarts (§3.10.7.4 eighth)
        if (this.state === 'TIME_WAIT') this.timeWaitAt = now + this.timeWaitMs;
        this.sendAck();
      }
    }
    if (this.isClosed()) return;
    if (this.isSynchronized() && this.state !== 'TIME_WAIT') this.pump();
    this.armTimer();
  }

  private onSegmentSynSent(seg: TcpSegment): void {
    const flags = seg.flags;
    const ackOk = (flags & TCP_ACK) !== 0 && seqGt(seg.ack, this.iss) && seqLe(seg.ack, this.sndMax);
    if (flags & TCP_ACK && !ackOk) {
      if ((flags & TCP_RST) === 0) this.sendRstRaw(seg.ack, 0, TCP_RST);
      return;
    }
    if (flags & TCP_RST) {
      if (ackOk) {
        this.host.counters.tcpResetsIn++;
        this.toClosed(new ConnectionError('ECONNREFUSED', `connection refused by ${this.remoteLabel()}`));
      }
      return;
    }
    if ((flags & TCP_SYN) === 0) return;
    this.takeSynOptions(seg, false);
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.rcvAdv = this.rcvNxt; // the first ACK advertises the window (emit never shrinks from here)
    this.sndWnd = seg.window;
    this.maxSndWnd = this.sndWnd;
    this.sndWl1 = seg.seq;
    this.sndWl2 = seg.ack;
    if (this.tsOn && seg.opts.hasTimestamp) this.tsRecent = seg.opts.tsVal;
    if (!ackOk) {
      // simultaneous open (§3.10.7.3): SYN_RECEIVED, answer SYN-ACK
      this.state = 'SYN_RECEIVED';
      this.sendSyn(true);
      return;
    }
    this.sndUna = seg.ack;
    this.state = 'ESTABLISHED';
    this.retries = 0;
    this.rtoAt = 0;
    this.connectDeadline = 0;
    if (this.rttStart >= 0) this.rtt.sample(this.now() - this.rttStart);
    this.rttStart = -1;
    if (this.keepIdle > 0) this.keepaliveAt = this.now() + this.keepIdle;
    this.sendAck();
    this.user?.onConnected();
    if (this.state === 'ESTABLISHED' || this.state === 'CLOSE_WAIT') this.pump();
    this.armTimer();
  }

  /** Returns false when the segment must be dropped (RFC 5961 §5.2 or an ACK for data never sent). */
  private processAck(seg: TcpSegment, now: number): boolean {
    const ack = seg.ack;
    // RFC 5961 §5.2: acceptable ACKs lie in [SND.UNA - MAX.SND.WND, SND.MAX].
    if (seqGt(ack, this.sndMax) || seqLt(ack, seqAdd(this.sndUna, -this.maxSndWnd))) {
      this.challengeAck();
      return false;
    }
    const flight = seqDiff(this.sndMax, this.sndUna);
    if (seqGt(ack, this.sndUna)) {
      let acked = seqDiff(ack, this.sndUna);
      const dataAcked = Math.min(acked, this.sendBuf.length);
      // the FIN is the last sequence number sent: acknowledging past the data acknowledges it
      const finNowAcked = this.finQueued && !this.finAcked && acked > this.sendBuf.length && this.isSynchronized();
      this.sendBuf.consume(dataAcked);
      this.sndUna = ack;
      if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
      // RTT sample: timestamps (RFC 7323 §4) or the one timed segment (Karn's rule)
      if (this.tsOn && seg.opts.hasTimestamp && seg.opts.tsEcr !== 0) this.rtt.sample(this.tsNow() - seg.opts.tsEcr);
      else if (this.rttStart >= 0 && seqGt(ack, this.rttSeq)) {
        this.rtt.sample(now - this.rttStart);
        this.rttStart = -1;
      }
      this.rtt.resetBackoff();
      this.retries = 0;
      if (this.cc.onNewAck(acked, ack, seqDiff(this.sndMax, ack))) {
        this.fastRetransmits++;
        this.retransmitFirst();
      }
      acked = 0;
      this.rtoAt = this.sndUna === this.sndMax ? 0 : now + this.rtt.rto;
      this.persistShift = 0;
      if (this.sendSpaceWanted && this.sendBuf.length < this.sendBufLimit) {
        this.sendSpaceWanted = false;
        this.user?.onSendSpace();
      }
      if (finNowAcked) {
        this.finAcked = true;
        this.ourFinAcked();
      }
      if (this.isClosed()) return false;
    } else if (
      ack === this.sndUna &&
      seg.dataLen === 0 &&
      (seg.flags & (TCP_SYN | TCP_FIN)) === 0 &&
      flight > 0 &&
      seg.window << this.sndShift === this.sndWnd
    ) {
      // a duplicate ACK (RFC 5681 §2)
      if (this.cc.onDupAck(this.sndUna, this.sndMax, flight)) {
        this.fastRetransmits++;
        this.retransmitFirst();
        this.rtoAt = now + this.rtt.rto;
      }
    }
    // window update (§3.10.7.4 fifth)
    if (seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq && seqLe(this.sndWl2, ack))) {
      this.sndWnd = seg.window << this.sndShift;
      this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
      this.sndWl1 = seg.seq;
      this.sndWl2 = ack;
      if (this.sndWnd > 0) this.persistAt = 0;
    }
    if (this.state === 'TIME_WAIT') return true;
    return true;
  }

  private ourFinAcked(): void {
    switch (this.state) {
      case 'FIN_WAIT_1':
        this.state = 'FIN_WAIT_2';
        break;
      case 'CLOSING':
        this.enterTimeWait();
        break;
      case 'LAST_ACK':
        this.toClosed(null);
        break;
      default:
        break;
    }
  }

  private receiveText(seg: TcpSegment): void {
    let seq = seg.seq;
    let off = seg.dataOff;
    let len = seg.dataLen;
    // trim what we already have
    if (seqLt(seq, this.rcvNxt)) {
      const skip = seqDiff(this.rcvNxt, seq);
      if (skip >= len) {
        this.sendAck(); // a full duplicate: the peer missed our ACK
        return;
      }
      seq = this.rcvNxt;
      off += skip;
      len -= skip;
    }
    // trim to the window we advertised
    const room = seqDiff(this.rcvAdv, seq);
    if (room <= 0) {
      this.sendAck();
      return;
    }
    if (len > room) len = room;
    if (seq === this.rcvNxt) {
      this.rcvNxt = seqAdd(this.rcvNxt, len);
      this.user?.onData(seg.buf, off, len);
      if (!this.reasm.empty) {
        this.rcvNxt = this.reasm.drain(this.rcvNxt, this.deliver);
        this.sendAck(); // filled a gap: tell the sender at once (RFC 5681 §4.2)
      } else if (++this.pendingAcks >= 2 || (seg.flags & TCP_PSH && this.pendingAcks >= 2)) {
        this.sendAck();
      } else if (this.delackAt === 0) {
        this.delackAt = this.now() + DELAYED_ACK_MS;
      }
      if (this.reasm.finSeq >= 0 && this.reasm.finSeq === this.rcvNxt) {
        this.reasm.finSeq = -1;
        this.receiveFin();
      }
    } else {
      this.reasm.insert(seq, seg.buf, off, len);
      this.sendAck(); // out of order: an immediate duplicate ACK (RFC 5681 §4.2)
    }
  }

  private readonly deliver = (b: Uint8Array, off: number, len: number): void => {
    this.user?.onData(b, off, len);
  };

  private receiveFin(): void {
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.sendAck();
    if (this.state === 'SYN_RECEIVED' || this.state === 'ESTABLISHED' || this.state === 'FIN_WAIT_1' || this.state === 'FIN_WAIT_2') this.user?.onEnd();
    switch (this.state) {
      case 'SYN_RECEIVED':
      case 'ESTABLISHED':
        this.state = 'CLOSE_WAIT';
        this.keepaliveAt = 0;
        break;
      case 'FIN_WAIT_1':
        if (this.finAcked) this.enterTimeWait();
        else this.state = 'CLOSING';
        break;
      case 'FIN_WAIT_2':
        this.enterTimeWait();
        break;
      default:
        return;
    }
    if (this.orphaned && this.state === 'CLOSE_WAIT') this.shutdown();
  }

  private enterTimeWait(): void {
    this.state = 'TIME_WAIT';
    this.rtoAt = 0;
    this.persistAt = 0;
    this.keepaliveAt = 0;
    this.delackAt = 0;
    this.timeWaitAt = this.now() + this.timeWaitMs;
    this.notifyClosed(null);
    this.armTimer();
  }

  // ---- sending ----

  /** Sequence number just after the last queued data byte. */
  private dataEnd(): number {
    return seqAdd(this.sndUna, this.sendBuf.length);
  }

  /** Sends what the windows allow (RFC 9293 §3.8.6.2 sender SWS avoidance, RFC 896 Nagle). */
  private pump(): void {
    if (this.finAcked) return;
    if (this.state !== 'ESTABLISHED' && this.state !== 'CLOSE_WAIT' && this.state !== 'FIN_WAIT_1' && this.state !== 'CLOSING' && this.state !== 'LAST_ACK') return;
    const dataEnd = this.dataEnd();
    for (;;) {
      const flight = seqDiff(this.sndNxt, this.sndUna);
      const unsent = seqDiff(dataEnd, this.sndNxt);
      const room = Math.min(this.cc.cwnd, this.sndWnd) - flight;
      if (unsent > 0) {
        let len = Math.min(unsent, this.sendMss);
        if (room < len) {
          // window-limited: a partial segment only if it is at least half the peer's largest window
          // (or when the override timer — the persist timer here — fires with nothing in flight)
          if (room <= 0 || flight > 0 || (room < this.sendMss && room < this.maxSndWnd >>> 1 && !this.forceSend)) {
            if (flight === 0) this.startPersist();
            break;
          }
          len = room;
        }
        if (len < this.sendMss && flight > 0 && !this.noDelay && !(this.finQueued && len === unsent)) break; // Nagle
        const fin = this.finQueued && len === unsent;
        this.sendData(this.sndNxt, len, fin);
        this.sndNxt = seqAdd(this.sndNxt, len + (fin ? 1 : 0));
        if (fin) this.afterFinSent();
        continue;
      }
      if (this.finQueued && this.sndNxt === dataEnd) {
        this.sendData(this.sndNxt, 0, true);
        this.sndNxt = seqAdd(this.sndNxt, 1);
        this.afterFinSent();
      }
      break;
    }
    if (seqGt(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
    const flight = seqDiff(this.sndMax, this.sndUna);
    if (flight > this.maxFlight) this.maxFlight = flight;
    if (flight > 0 && this.rtoAt === 0) this.rtoAt = this.now() + this.rtt.rto;
    this.armTimer();
  }

  private afterFinSent(): void {
    if (this.state === 'ESTABLISHED') this.state = 'FIN_WAIT_1';
    else if (this.state === 'CLOSE_WAIT') this.state = 'LAST_ACK';
  }

  private startPersist(): void {
    if (this.persistAt !== 0 || this.rtoAt !== 0) return;
    this.persistAt = this.now() + Math.min(this.rtt.rto * 2 ** this.persistShift, PERSIST_MAX_MS);
  }

  /** Retransmits the first unacknowledged segment (fast retransmit / partial ACK). */
  private retransmitFirst(): void {
    if (this.finAcked) return;
    const dataLeft = this.sendBuf.length;
    const len = Math.min(dataLeft, this.sendMss);
    const fin = this.finQueued && len === dataLeft && seqGt(this.sndMax, this.dataEnd());
    if (len === 0 && !fin) return;
    this.retransmits++;
    this.host.counters.tcpRetransmits++;
    this.rttStart = -1;
    this.sendData(this.sndUna, len, fin);
  }

  /** A data (and/or FIN) segment of `len` bytes from sequence number `seq`. */
  private sendData(seq: number, len: number, fin: boolean): void {
    if (this.rttStart < 0 && !this.tsOn && seqGe(seq, this.sndMax) && len > 0) {
      this.rttSeq = seq;
      this.rttStart = this.now();
    }
    if (seqLt(seq, this.sndMax)) {
      this.retransmits++;
      this.host.counters.tcpRetransmits++;
    }
    const tx = this.host.tx;
    const optOff = tcpOptionsOffset(this.family);
    const optLen = this.tsOn ? writeTcpOptions(tx, optOff, 0, -1, true, this.tsNow(), this.tsRecent) : 0;
    if (len > 0) this.sendBuf.copyOut(seqDiff(seq, this.sndUna), len, tx, optOff + optLen);
    const flags = TCP_ACK | (fin ? TCP_FIN : 0) | (len > 0 && seqAdd(seq, len) === this.dataEnd() ? TCP_PSH : 0);
    this.emit(seq, flags, optLen, len);
  }

  private sendSyn(withAck: boolean): void {
    const tx = this.host.tx;
    const optOff = tcpOptionsOffset(this.family);
    // Active opens offer everything; passive ones echo what the SYN offered (RFC 7323 §2.2, §3.2).
    const wscale = withAck ? (this.sndShift >= 0 && this.wsOk ? this.rcvShift : -1) : this.rcvShift;
    const ts = withAck ? this.tsOn : true;
    const optLen = writeTcpOptions(tx, optOff, this.ourMss, wscale, ts, this.tsNow(), withAck ? this.tsRecent : 0);
    if (this.rttStart < 0 && this.retries === 0) this.rttStart = this.now();
    else this.rttStart = -1;
    const window = Math.min(this.rcvBufLimit, MAX_WINDOW_FIELD);
    this.rcvAdv = seqAdd(this.rcvNxt, window);
    this.emitRaw(this.iss, withAck ? this.rcvNxt : 0, TCP_SYN | (withAck ? TCP_ACK : 0), window, optLen, 0);
  }

  private wsOk = false;

  private takeSynOptions(seg: TcpSegment, passive: boolean): void {
    const o = seg.opts;
    const mssOpt = o.mss > 0 ? o.mss : this.family === 4 ? TCP_DEFAULT_MSS_V4 : TCP_DEFAULT_MSS_V6;
    if (o.wscale >= 0 && (passive || this.rcvShift >= 0)) {
      this.wsOk = true;
      this.sndShift = o.wscale;
    } else {
      this.wsOk = false;
      this.sndShift = 0;
      this.rcvShift = 0;
    }
    this.tsOn = o.hasTimestamp;
    if (this.tsOn) this.tsRecent = o.tsVal;
    this.sendMss = Math.max(Math.min(mssOpt, this.ourMss) - (this.tsOn ? TCP_TS_OPTION_SPACE : 0), 64);
    this.cc.setMss(this.sendMss);
  }

  /** An ACK carrying the current window; clears the delayed-ACK state. */
  sendAck(): void {
    if (!this.isSynchronized()) return;
    const tx = this.host.tx;
    const optLen = this.tsOn ? writeTcpOptions(tx, tcpOptionsOffset(this.family), 0, -1, true, this.tsNow(), this.tsRecent) : 0;
    this.emit(this.sndNxt, TCP_ACK, optLen, 0);
  }

  /** RFC 5961 §7: an ACK with the expected numbers, rate-limited stack-wide. */
  private challengeAck(): void {
    if (!this.host.challengeAckAllowed()) return;
    this.challengeAcks++;
    this.host.counters.tcpChallengeAcks++;
    this.sendAck();
  }

  private sendRst(seq: number): void {
    this.sendRstRaw(seq, 0, TCP_RST);
  }

  private sendRstRaw(seq: number, ack: number, flags: number): void {
    this.host.counters.tcpResetsOut++;
    this.emitRaw(seq, ack, flags, 0, 0, 0);
  }

  /** A synchronized-state segment: ACK field, window, delayed-ACK bookkeeping. */
  private emit(seq: number, flags: number, optLen: number, dataLen: number): void {
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

  private emitRaw(seq: number, ack: number, flags: number, window: number, optLen: number, dataLen: number): void {
    const len = writeTcpSegment(this.host.tx, this.family, this.localAddr, this.remoteAddr, this.localPort, this.remotePort, seq, ack, flags, window, optLen, dataLen);
    this.host.counters.tcpSegmentsOut++;
    this.host.transmit(len);
  }

  /** Free receive space: the buffer limit less what the app has not read and what waits reassembly. */
  private windowNow(): number {
    const used = (this.user?.unread() ?? 0) + this.reasm.bytes;
    const free = this.rcvBufLimit - used;
    // receiver SWS avoidance (§3.8.6.2.2): a window under one MSS is advertised as zero
    if (free < Math.min(this.ourMss, this.rcvBufLimit >>> 1)) return 0;
    return this.wsOk ? free : Math.min(free, MAX_WINDOW_FIELD);
  }

  // ---- timers ----

  private now(): number {
    return this.host.clock.now();
  }

  private tsNow(): number {
    return (Math.floor(this.now()) + this.tsOffset) >>> 0;
  }

  private armTimer(): void {
    if (this.isClosed()) return;
    let at = earliest(0, this.rtoAt);
    at = earliest(at, this.delackAt);
    at = earliest(at, this.persistAt);
    at = earliest(at, this.keepaliveAt);
    at = earliest(at, this.timeWaitAt);
    at = earliest(at, this.connectDeadline);
    if (at === 0) return;
    if (this.timer !== null && this.timerAt <= at) return;
    if (this.timer !== null) this.host.clock.clearTimer(this.timer);
    this.timerAt = at;
    this.timer = this.host.clock.setTimer(this.onTimer, at - this.now());
  }

  private fire(): void {
    this.timer = null;
    if (this.isClosed()) return;
    const now = this.now();
    if (this.timeWaitAt !== 0 && now >= this.timeWaitAt) return this.toClosed(null);
    if (this.connectDeadline !== 0 && now >= this.connectDeadline && (this.state === 'SYN_SENT' || this.state === 'SYN_RECEIVED')) {
      return this.toClosed(new ConnectionError('ETIMEDOUT', `connect to ${this.remoteLabel()} timed out`));
    }
    if (this.delackAt !== 0 && now >= this.delackAt) this.sendAck();
    if (this.rtoAt !== 0 && now >= this.rtoAt) {
      this.onRto(now);
      if (this.isClosed()) return;
    }
    if (this.persistAt !== 0 && now >= this.persistAt) {
      this.persistAt = 0;
      if (this.sndWnd === 0 && this.sendBuf.length > 0) {
        // zero-window probe: an ACK one byte before the window elicits the peer's current window
        const tx = this.host.tx;
        const optLen = this.tsOn ? writeTcpOptions(tx, tcpOptionsOffset(this.family), 0, -1, true, this.tsNow(), this.tsRecent) : 0;
        this.emit(seqAdd(this.sndUna, -1), TCP_ACK, optLen, 0);
        this.persistShift++;
        this.startPersist();
      } else {
        this.forceSend = true;
        this.pump();
        this.forceSend = false;
      }
    }
    if (this.keepaliveAt !== 0 && now >= this.keepaliveAt) {
      if (this.keepProbes >= KEEPALIVE_PROBES) return this.toClosed(new ConnectionError('ETIMEDOUT', `keepalive to ${this.remoteLabel()} timed out`));
      if (this.sndMax === this.sndUna) {
        this.keepProbes++;
        this.emit(seqAdd(this.sndUna, -1), TCP_ACK, 0, 0);
      }
      this.keepaliveAt = now + KEEPALIVE_INTERVAL_MS;
    }
    this.armTimer();
  }

  private onRto(now: number): void {
    this.timeouts++;
    this.retries++;
    this.rtt.backoff();
    this.rttStart = -1;
    if (this.state === 'SYN_SENT' || this.state === 'SYN_RECEIVED') {
      if (this.state === 'SYN_RECEIVED' && this.retries > SYN_RETRIES_PASSIVE && this.user === null) return this.toClosed(null);
      this.retransmits++;
      this.host.counters.tcpRetransmits++;
      this.sendSyn(this.state === 'SYN_RECEIVED');
      this.rtoAt = now + this.rtt.rto;
      return;
    }
    if (this.retries > DATA_RETRIES) {
      this.sendRst(this.sndNxt);
      return this.toClosed(new ConnectionError('ETIMEDOUT', `connection to ${this.remoteLabel()} timed out (no ACK after ${DATA_RETRIES} retransmissions)`));
    }
    if (this.sndMax === this.sndUna) {
      this.rtoAt = 0;
      return;
    }
    this.cc.onTimeout(seqDiff(this.sndMax, this.sndUna), this.sndMax);
    this.sndNxt = this.sndUna; // go back N: resend from the first unacknowledged byte
    this.rtoAt = now + this.rtt.rto;
    this.pump();
    if (this.sndNxt === this.sndUna && this.sendBuf.length > 0) {
      // the peer's window is closed: retransmit one segment anyway (it probes the window)
      this.retransmitFirst();
    }
  }

  // ---- closing ----

  private notifyClosed(err: ConnectionError | null): void {
    if (this.closedNotified) return;
    this.closedNotified = true;
    const u = this.user;
    this.user = null;
    if (u) u.onClosed(err);
  }

  private toClosed(err: ConnectionError | null): void {
    if (this.isClosed()) return;
    this.state = 'CLOSED';
    if (this.timer !== null) this.host.clock.clearTimer(this.timer);
    this.timer = null;
    this.rtoAt = this.delackAt = this.persistAt = this.keepaliveAt = this.timeWaitAt = this.connectDeadline = 0;
    this.reasm.clear();
    this.host.removed(this);
    this.notifyClosed(err);
    this.user = null;
  }

  isClosed(): boolean {
    return this.state === 'CLOSED';
  }

  isSynchronized(): boolean {
    return this.state !== 'SYN_SENT' && this.state !== 'CLOSED';
  }

  private remoteLabel(): string {
    return `${this.family === 4 ? Array.from(this.remoteAddr).join('.') : 'IPv6 peer'}:${this.remotePort}`;
  }
}
