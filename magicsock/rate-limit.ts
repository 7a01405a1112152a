// A token bucket: `ratePerSec` tokens a second up to `burst`. Used to bound disco work per peer and in
// total, so a probe flood costs at most a bounded number of AEAD opens and replies a second.
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    nowMs: number,
  ) {
    this.tokens = burst;
    this.last = nowMs;
  }

  take(nowMs: number): boolean {
    const dt = nowMs - this.last;
    if (dt > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (dt * this.ratePerSec) / 1000);
      this.last = nowMs;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
