// Congestion control: slow start and congestion avoidance (RFC 5681 §3.1, with appropriate byte counting
// capped at one SMSS per ACK), fast retransmit on the third duplicate ACK and NewReno fast recovery with
// partial ACKs (RFC 6582 §3.2), and the loss-window reset on a retransmission timeout (RFC 5681 §3.1 eq. 4).
// With SACK (RFC 6675 §5) the connection decides when to enter recovery and what to send from its
// scoreboard; this object then only sets ssthresh = cwnd = FlightSize / 2 on entry and ends recovery at
// the recovery point, with no window inflation in between (the pipe estimate replaces it).
// Byte-based; the connection owns the sending and tells this object what the ACKs say.
import { seqGe, seqLt } from './tcp-seq.js';

const DUPACK_THRESHOLD = 3; // RFC 5681 §3.2

export class NewReno {
  cwnd: number;
  ssthresh = 0x7fffffff; // "arbitrarily high" (RFC 5681 §3.1)
  dupAcks = 0;
  inRecovery = false;
  /** The highest sequence number sent when recovery started (RFC 6582 "recover"). */
  recover = 0;
  /** The current recovery is RFC 6675's (SACK), not RFC 6582's. */
  sackRecovery = false;

  constructor(private mss: number) {
    this.cwnd = NewReno.initialWindow(mss);
  }

  /** RFC 5681 §3.1 eq. 3 (IW = min(4·SMSS, max(2·SMSS, 4380))), as amended by RFC 6928 would be 10 segments. */
  static initialWindow(mss: number): number {
    return Math.min(10 * mss, Math.max(2 * mss, 14600));
  }

  setMss(mss: number): void {
    this.mss = mss;
    this.cwnd = NewReno.initialWindow(mss);
  }

  /**
   * An ACK that advanced snd.una by `acked` bytes to `ack`. Returns true when a partial ACK in recovery
   * asks the caller to retransmit the first unacknowledged segment (RFC 6582 §3.2 step 5).
   */
  onNewAck(acked: number, ack: number, flight: number): boolean {
    this.dupAcks = 0;
    if (this.inRecovery && this.sackRecovery) {
      // RFC 6675 §5 (A): a cumulative ACK past RecoveryPoint ends recovery; cwnd stays at ssthresh
      if (seqGe(ack, this.recover)) {
        this.inRecovery = false;
        this.sackRecovery = false;
      }
      return false;
    }
    if (this.inRecovery) {
      if (seqGe(ack, this.recover)) {
        // Full acknowledgment: deflate (RFC 6582 §3.2 step 5, option 1 bounded by the flight).
        this.inRecovery = false;
        this.cwnd = Math.min(this.ssthresh, Math.max(flight, 0) + this.mss);
        return false;
      }
      // Partial acknowledgment: deflate by the amount acked, add back one SMSS, retransmit.
      this.cwnd = Math.max(this.cwnd - acked + this.mss, this.mss);
      return true;
    }
    if (this.cwnd < this.ssthresh) this.cwnd += Math.min(acked, this.mss);
    else this.cwnd += Math.max(1, Math.floor((this.mss * this.mss) / this.cwnd));
    return false;
  }

  /**
   * A duplicate ACK (RFC 5681 §2 definition checked by the caller). Returns true when the caller must
   * fast-retransmit the first unacknowledged segment now.
   */
  onDupAck(una: number, sndMax: number, flight: number): boolean {
    this.dupAcks++;
    if (this.inRecovery) {
      this.cwnd += this.mss; // inflate per additional duplicate (step 3 of RFC 6582 §3.2 via RFC 5681)
      return false;
    }
    if (this.dupAcks !== DUPACK_THRESHOLD) return false;
    // RFC 6582 §3.2 step 2: only start a new recovery if this loss is beyond the previous one.
    if (seqLt(una, this.recover) && this.recover !== 0) {
      return false;
    }
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * this.mss);
    this.cwnd = this.ssthresh + DUPACK_THRESHOLD * this.mss;
    this.recover = sndMax;
    this.inRecovery = true;
    return true;
  }

  /** RFC 6582 §3.2 step 2 / RFC 6675 §5.1: a new recovery only for losses after the previous recovery point. */
  mayStartRecovery(una: number): boolean {
    return !this.inRecovery && !(seqLt(una, this.recover) && this.recover !== 0);
  }

  /** RFC 6675 §5 step (4): enter SACK loss recovery with `flight` outstanding and `sndMax` = HighData + 1. */
  enterSackRecovery(flight: number, sndMax: number): void {
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * this.mss); // RFC 5681 §3.1 eq. 4
    this.cwnd = this.ssthresh;
    this.recover = sndMax;
    this.inRecovery = true;
    this.sackRecovery = true;
  }

  /** The retransmission timer expired: back to one segment (RFC 5681 §3.1 eq. 4, loss window). */
  onTimeout(flight: number, sndMax: number): void {
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * this.mss);
    this.cwnd = this.mss;
    this.dupAcks = 0;
    this.inRecovery = false;
    this.sackRecovery = false;
    this.recover = sndMax;
  }
}
