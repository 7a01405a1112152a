// The sending side of a TCP connection (see tcp-connection.ts): segmentation of the send buffer within
// the peer's window and the congestion window (Nagle unless noDelay), FIN, zero-window persist, the
// retransmission of the first unacknowledged segment, and SYN/SYN-ACK with their options (SACK-permitted
// offered on every active open and echoed on a passive one only when the SYN offered it, RFC 2018 §2).
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN } from '../packet/headers.js';
import type { TcpSegment } from './tcp-segment.js';
import { tcpOptionsOffset } from './tcp-segment.js';
import { TCP_DEFAULT_MSS_V4, TCP_DEFAULT_MSS_V6, TCP_TS_OPTION_SPACE, writeTcpOptions } from './tcp-options.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLt } from './tcp-seq.js';
import { TcpConnectionBase } from './tcp-connection-base.js';
import { MAX_WINDOW_FIELD, PERSIST_MAX_MS } from './tcp-connection-base.js';

export abstract class TcpSender extends TcpConnectionBase {
  // ---- sending ----

  /** Sequence number just after the last queued data byte. */
  protected dataEnd(): number {
    return seqAdd(this.sndUna, this.sendBuf.length);
  }

  /** Sends what the windows allow (RFC 9293 §3.8.6.2 sender SWS avoidance, RFC 896 Nagle). */
  protected pump(): void {
    if (this.finAcked) return;
    if (this.state !== 'ESTABLISHED' && this.state !== 'CLOSE_WAIT' && this.state !== 'FIN_WAIT_1' && this.state !== 'CLOSING' && this.state !== 'LAST_ACK') return;
    if (this.cc.sackRecovery) this.sendInSackRecovery();
    else this.sendInWindow();
    if (seqGt(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
    const flight = seqDiff(this.sndMax, this.sndUna);
    if (flight > this.maxFlight) this.maxFlight = flight;
    if (flight > 0 && this.rtoAt === 0) this.rtoAt = this.now() + this.rtt.rto;
    this.armTimer();
  }

  /** Outside SACK recovery: new data (or go-back-N after a timeout) within min(cwnd, snd.wnd) - flight. */
  private sendInWindow(): void {
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
  }

  /** In SACK recovery (RFC 6675 §5 step C): holes and new data while cwnd - pipe allows (tcp-sack-recovery.ts). */
  protected abstract sendInSackRecovery(): void;

  protected afterFinSent(): void {
    if (this.state === 'ESTABLISHED') this.state = 'FIN_WAIT_1';
    else if (this.state === 'CLOSE_WAIT') this.state = 'LAST_ACK';
  }

  protected startPersist(): void {
    if (this.persistAt !== 0 || this.rtoAt !== 0) return;
    this.persistAt = this.now() + Math.min(this.rtt.rto * 2 ** this.persistShift, PERSIST_MAX_MS);
  }

  /** Retransmits the first unacknowledged segment (fast retransmit / partial ACK). */
  protected retransmitFirst(): void {
    if (this.finAcked) return;
    const dataLeft = this.sendBuf.length;
    const len = Math.min(dataLeft, this.sendMss);
    const fin = this.finQueued && len === dataLeft && seqGt(this.sndMax, this.dataEnd());
    if (len === 0 && !fin) return;
    this.rttStart = -1; // sendData counts the retransmission (seq < sndMax)
    this.sendData(this.sndUna, len, fin);
  }

  /** A data (and/or FIN) segment of `len` bytes from sequence number `seq`. */
  protected sendData(seq: number, len: number, fin: boolean): void {
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

  protected sendSyn(withAck: boolean): void {
    const tx = this.host.tx;
    const optOff = tcpOptionsOffset(this.family);
    // Active opens offer everything; passive ones echo what the SYN offered (RFC 7323 §2.2, §3.2).
    const wscale = withAck ? (this.sndShift >= 0 && this.wsOk ? this.rcvShift : -1) : this.rcvShift;
    const ts = withAck ? this.tsOn : true;
    const sack = withAck ? this.sackOn : true;
    const optLen = writeTcpOptions(tx, optOff, this.ourMss, wscale, ts, this.tsNow(), withAck ? this.tsRecent : 0, sack);
    if (this.rttStart < 0 && this.retries === 0) this.rttStart = this.now();
    else this.rttStart = -1;
    const window = Math.min(this.rcvBufLimit, MAX_WINDOW_FIELD);
    this.rcvAdv = seqAdd(this.rcvNxt, window);
    this.emitRaw(this.iss, withAck ? this.rcvNxt : 0, TCP_SYN | (withAck ? TCP_ACK : 0), window, optLen, 0);
  }


  protected takeSynOptions(seg: TcpSegment, passive: boolean): void {
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
    this.sackOn = o.sackPermitted; // active: we offered it; passive: we answer in kind
    this.sendMss = Math.max(Math.min(mssOpt, this.ourMss) - (this.tsOn ? TCP_TS_OPTION_SPACE : 0), 64);
    this.cc.setMss(this.sendMss);
  }

}
