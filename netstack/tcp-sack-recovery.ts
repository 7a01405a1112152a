// Conservative SACK-based loss recovery (RFC 6675) for a connection whose peer agreed to SACK (see
// tcp-connection.ts for the class chain): the duplicate-ACK count with RFC 6675's definition (an ACK that
// SACKs new data), limited transmit before DupThresh (§5 step 3), entry into recovery on DupThresh
// duplicates or when the first unacknowledged octet is already lost by the scoreboard's count, and
// NextSeg(): lost holes first, then new data, then other holes, then one rescue retransmission, each sent
// while cwnd - pipe allows one segment. Not done: lost-retransmission detection (a lost retransmission
// waits for the RTO) and D-SACK (RFC 2883) use; D-SACK blocks below SND.UNA are ignored. Without SACK the
// connection keeps RFC 6582 NewReno (congestion.ts, tcp-receiver.ts); a timeout ends either recovery and
// clears the scoreboard (RFC 6675 §5.1, RFC 2018 §8: the peer may have reneged).
import { DUP_THRESH } from './tcp-sack-scoreboard.js';
import { seqAdd, seqDiff, seqGt, seqLt, seqMax } from './tcp-seq.js';
import { TcpSender } from './tcp-sender.js';

export abstract class TcpSackRecovery extends TcpSender {
  /**
   * An ACK that counts as a duplicate under RFC 6675 §2 (it SACKed new data, or it is an RFC 5681 duplicate
   * without SACK blocks) arrived outside recovery: count it and, per §5 steps (1), (2) and (4), start
   * recovery by retransmitting the first unacknowledged segment. pump() then sends what cwnd - pipe allows.
   */
  protected onSackDupAck(now: number): void {
    if (this.cc.inRecovery) return;
    this.cc.dupAcks++;
    if (this.cc.dupAcks < DUP_THRESH && !this.sb.isLost(this.sndUna, this.sendMss)) {
      // (3) limited transmit (RFC 3042) governed by pipe: new data for what has left the network, so a
      // small window still produces the duplicates recovery needs instead of waiting for the RTO; not while
      // go-back-N after a timeout is resending below snd.max (that is not new data)
      if (this.sndNxt !== this.sndMax) return;
      this.rxtEnd = this.sndUna;
      let pipe = this.sb.pipe(this.sndUna, this.sndMax, this.rxtEnd, this.sendMss);
      while (this.cc.cwnd - pipe >= this.sendMss) {
        const sent = this.sendNewSegment();
        if (sent === 0) break;
        pipe += sent;
      }
      return;
    }
    // a loss at or below the last recovery point is part of that episode (RFC 6675 §5.1 after a timeout);
    // and while go-back-N after a timeout is still resending, that retransmission covers it
    if (!this.cc.mayStartRecovery(this.sndUna) || this.sndNxt !== this.sndMax) return;
    this.cc.enterSackRecovery(seqDiff(this.sndMax, this.sndUna), this.sndMax);
    this.fastRetransmits++;
    this.rescueDone = false;
    // (4.3) the first segment, up to the first SACKed range; HighRxt is its last octet
    const end = this.sb.count > 0 && seqGt(this.sb.left(0), this.sndUna) ? this.sb.left(0) : this.sndMax;
    this.rxtEnd = seqAdd(this.sndUna, this.retransmitRange(this.sndUna, end));
    this.rtoAt = now + this.rtt.rto;
  }

  /** RFC 6675 §5 step (C): NextSeg() and send while cwnd - pipe >= 1 SMSS. */
  protected sendInSackRecovery(): void {
    let pipe = this.sb.pipe(this.sndUna, this.sndMax, this.rxtEnd, this.sendMss);
    while (this.cc.cwnd - pipe >= this.sendMss) {
      const sent = this.nextSeg();
      if (sent === 0) return;
      pipe += sent; // (C.4)
    }
  }

  /** RFC 6675 §4 NextSeg() and the transmission it names; returns the sequence space sent (0: nothing). */
  private nextSeg(): number {
    const sb = this.sb;
    const from = seqMax(this.sndUna, this.rxtEnd);
    // (1) the first lost unSACKed octet above HighRxt
    if (sb.nextHole(from)) {
      const lost = sb.lostBoundary(this.sendMss);
      if (lost !== -1 && seqLt(sb.holeStart, lost)) {
        const start = sb.holeStart;
        const n = this.retransmitRange(start, sb.holeEnd);
        if (n > 0) {
          this.rxtEnd = seqAdd(start, n); // (C.2)
          return n;
        }
      }
    }
    // (2) new data, within the peer's window
    const n = this.sendNewSegment();
    if (n > 0) return n;
    // (3) any unSACKed octet above HighRxt and below the highest SACKed one
    if (sb.nextHole(from)) {
      const start = sb.holeStart;
      const m = this.retransmitRange(start, sb.holeEnd);
      if (m > 0) {
        this.rxtEnd = seqAdd(start, m);
        return m;
      }
    }
    // (4) once per recovery, the segment holding the highest outstanding unSACKed octet (the tail past the
    // highest SACK), without moving HighRxt
    if (!this.rescueDone && seqGt(this.sndMax, this.sndUna) && (sb.count === 0 || seqLt(sb.highestSacked, this.sndMax))) {
      this.rescueDone = true;
      const floor = sb.count > 0 ? seqMax(this.sndUna, sb.highestSacked) : this.sndUna;
      return this.retransmitRange(seqMax(floor, seqAdd(this.sndMax, -this.sendMss)), this.sndMax);
    }
    return 0;
  }

  /**
   * Retransmits at most one segment of [seq, end) (end <= snd.max), with the FIN when the range covers it.
   * Returns the sequence space sent.
   */
  protected retransmitRange(seq: number, end: number): number {
    const dataEnd = this.dataEnd();
    const len = Math.max(Math.min(this.sendMss, seqDiff(end, seq), seqDiff(dataEnd, seq)), 0);
    const fin = this.finQueued && seqGt(this.sndMax, dataEnd) && seqAdd(seq, len) === dataEnd && seqGt(end, dataEnd);
    if (len === 0 && !fin) return 0;
    this.rttStart = -1; // Karn: no sample across a retransmission
    this.sendData(seq, len, fin);
    return len + (fin ? 1 : 0);
  }

  /** One segment of unsent data (or the FIN) at snd.nxt = snd.max, if the peer's window has room for it. */
  private sendNewSegment(): number {
    const dataEnd = this.dataEnd();
    const unsent = seqDiff(dataEnd, this.sndNxt);
    if (unsent > 0) {
      const room = seqDiff(seqAdd(this.sndUna, this.sndWnd), this.sndNxt);
      const len = Math.min(unsent, this.sendMss, room);
      // whole segments only, unless it is the end of the data (sender SWS avoidance)
      if (len <= 0 || (len < this.sendMss && len < unsent)) return 0;
      const fin = this.finQueued && len === unsent;
      this.sendData(this.sndNxt, len, fin);
      this.sndNxt = seqAdd(this.sndNxt, len + (fin ? 1 : 0));
      if (seqGt(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
      if (fin) this.afterFinSent();
      return len + (fin ? 1 : 0);
    }
    if (this.finQueued && this.sndNxt === dataEnd) {
      this.sendData(this.sndNxt, 0, true);
      this.sndNxt = seqAdd(this.sndNxt, 1);
      if (seqGt(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
      this.afterFinSent();
      return 1;
    }
    return 0;
  }
}
