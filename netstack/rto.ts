// The retransmission timer's value (RFC 6298): SRTT and RTTVAR from RTT samples (§2), RTO = SRTT +
// max(G, 4·RTTVAR) clamped to [min, max], doubled on each expiry (§5.5) and recomputed on the next sample.
// The minimum is Linux's 200 ms rather than the RFC's 1 s (§2.4 allows it), so a lossy low-latency
// tunnel recovers in fractions of a second.

export const RTO_INITIAL_MS = 1000; // RFC 6298 §2.1
export const RTO_MIN_MS = 200;
export const RTO_MAX_MS = 60_000; // §2.5: an upper bound of at least 60 s
const CLOCK_GRANULARITY_MS = 1; // G
const ALPHA = 1 / 8;
const BETA = 1 / 4;

export class RtoEstimator {
  srtt = 0;
  rttvar = 0;
  private base = RTO_INITIAL_MS;
  private backoffShift = 0;

  /** The current RTO including backoff, ms. */
  get rto(): number {
    return Math.min(this.base * 2 ** this.backoffShift, RTO_MAX_MS);
  }

  get hasSample(): boolean {
    return this.srtt > 0;
  }

  /** A new RTT measurement in ms (Karn's rule — no samples from retransmitted segments — is the caller's). */
  sample(rttMs: number): void {
    const r = Math.max(rttMs, 0.01);
    if (this.srtt === 0) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = (1 - BETA) * this.rttvar + BETA * Math.abs(this.srtt - r);
      this.srtt = (1 - ALPHA) * this.srtt + ALPHA * r;
    }
    this.base = Math.min(Math.max(this.srtt + Math.max(CLOCK_GRANULARITY_MS, 4 * this.rttvar), RTO_MIN_MS), RTO_MAX_MS);
    this.backoffShift = 0;
  }

  /** The timer expired: back off exponentially (§5.5). */
  backoff(): void {
    if (this.base * 2 ** this.backoffShift < RTO_MAX_MS) this.backoffShift++;
  }

  /** New data was acknowledged: keep the estimate, drop the backoff (§5.7 lets the next sample do it). */
  resetBackoff(): void {
    this.backoffShift = 0;
  }
}
