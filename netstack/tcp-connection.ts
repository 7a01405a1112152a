// One TCP connection's state machine (RFC 9293 §3.10): handshake both ways, sequence and ACK processing,
// out-of-order reassembly, retransmission on the RFC 6298 timer, fast retransmit with SACK-based recovery
// (RFC 2018, RFC 6675) or, when the peer has no SACK, NewReno (RFC 6582, congestion.ts), window scaling and timestamps (RFC 7323), delayed ACKs (RFC 9293 §3.8.6.3),
// zero-window probes (§3.8.6.1), keepalives (§3.8.4), FIN half-close, TIME_WAIT, and RST/SYN/ACK checks
// against blind injection (RFC 5961: challenge ACKs).
//
// Pure: segments arrive through onSegment() as decoded fields; segments leave through the host's scratch
// buffer; time comes from the host's clock through one timer per connection (armed at the earliest of the
// RTO, delayed-ACK, persist, keepalive and TIME_WAIT deadlines, and only re-armed when a deadline moves
// earlier, so per-segment timer churn is nil). The app side is a TcpUser (tcp-socket.ts). Not reentrant:
// user callbacks run at the end of processing or are tolerant of being called mid-way (they only push).
//
// This file is the state machine (app calls, segment arrival by state, closing); it extends, in order,
// tcp-receiver.ts (ACKs, data, FIN), tcp-timers.ts, tcp-sack-recovery.ts, tcp-sender.ts and
// tcp-connection-base.ts (variables, segment output), one concern per file.
import { ConnectionError, type PosixConnectionCode } from '../types/errors.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../packet/headers.js';
import type { TcpInfo } from './api.js';
import type { TcpSegment } from './tcp-segment.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from './tcp-seq.js';
import { TcpReceiver } from './tcp-receiver.js';
export { DELAYED_ACK_MS, SYN_RETRIES_PASSIVE, DATA_RETRIES, KEEPALIVE_INTERVAL_MS, KEEPALIVE_PROBES, KEEPALIVE_IDLE_DEFAULT_MS, PERSIST_MAX_MS } from './tcp-connection-base.js';
export type { TcpHost, TcpUser, TcpConnectionConfig } from './tcp-connection-base.js';
import { KEEPALIVE_IDLE_DEFAULT_MS } from './tcp-connection-base.js';

export class TcpConnection extends TcpReceiver {
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
      sack: this.sackOn,
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

  protected onSegmentSynSent(seg: TcpSegment): void {
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

  // ---- closing ----

  protected notifyClosed(err: ConnectionError | null): void {
    if (this.closedNotified) return;
    this.closedNotified = true;
    const u = this.user;
    this.user = null;
    if (u) u.onClosed(err);
  }

  protected toClosed(err: ConnectionError | null): void {
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

}
