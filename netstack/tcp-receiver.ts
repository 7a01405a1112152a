// The receiving side of a TCP connection (see tcp-connection.ts): ACK processing (RTT samples,
// congestion control, window updates), in-order delivery with reassembly, FIN, and TIME_WAIT entry.
import { TCP_FIN, TCP_PSH, TCP_SYN } from '../packet/headers.js';
import type { TcpSegment } from './tcp-segment.js';
import { seqAdd, seqDiff, seqGt, seqLe, seqLt } from './tcp-seq.js';
import { TcpTimers } from './tcp-timers.js';
import { DELAYED_ACK_MS } from './tcp-connection-base.js';

export abstract class TcpReceiver extends TcpTimers {
  /** Returns false when the segment must be dropped (RFC 5961 §5.2 or an ACK for data never sent). */
  protected processAck(seg: TcpSegment, now: number): boolean {
    const ack = seg.ack;
    // RFC 5961 §5.2: acceptable ACKs lie in [SND.UNA - MAX.SND.WND, SND.MAX].
    if (seqGt(ack, this.sndMax) || seqLt(ack, seqAdd(this.sndUna, -this.maxSndWnd))) {
      this.challengeAck();
      return false;
    }
    const flight = seqDiff(this.sndMax, this.sndUna);
    const advanced = seqGt(ack, this.sndUna);
    if (advanced) {
      let acked = seqDiff(ack, this.sndUna);
      const dataAcked = Math.min(acked, this.sendBuf.length);
      // the FIN is the last sequence number sent: acknowledging past the data acknowledges it
      const finNowAcked = this.finQueued && !this.finAcked && acked > this.sendBuf.length && this.isSynchronized();
      this.sendBuf.consume(dataAcked);
      this.sndUna = ack;
      if (this.sackOn) this.sb.advance(ack);
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
    }
    // a duplicate ACK (RFC 5681 §2)
    const dup = !advanced && ack === this.sndUna && seg.dataLen === 0 && (seg.flags & (TCP_SYN | TCP_FIN)) === 0 && flight > 0 && seg.window << this.sndShift === this.sndWnd;
    if (this.sackOn) {
      // RFC 6675 §2: with SACK, an ACK is a duplicate when it SACKs new data (whatever else it does)
      const newlySacked = seg.opts.sackCount > 0 ? this.sb.update(seg.opts.sackBlocks, seg.opts.sackCount, this.sndUna, this.sndMax) : 0;
      if (newlySacked > 0 || (dup && seg.opts.sackCount === 0)) this.onSackDupAck(now);
    } else if (dup) {
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

  protected ourFinAcked(): void {
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

  protected receiveText(seg: TcpSegment): void {
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

  protected readonly deliver = (b: Uint8Array, off: number, len: number): void => {
    this.user?.onData(b, off, len);
  };

  protected receiveFin(): void {
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

  protected enterTimeWait(): void {
    this.state = 'TIME_WAIT';
    this.rtoAt = 0;
    this.persistAt = 0;
    this.keepaliveAt = 0;
    this.delackAt = 0;
    this.timeWaitAt = this.now() + this.timeWaitMs;
    this.notifyClosed(null);
    this.armTimer();
  }

}
