// Per-source-IP token bucket for handshake messages while under load (wireguard-go ratelimiter.go):
// 20 packets/s per source address, burst 5. Idle entries are swept once a second so the table stays
// bounded by the number of sources active in the last second. Time comes from the injected clock.
import { RATELIMIT_BURST, RATELIMIT_PACKETS_PER_SECOND } from './constants.js';

const PACKET_COST_MS = 1000 / RATELIMIT_PACKETS_PER_SECOND; // 50 ms of tokens per packet
const MAX_TOKENS_MS = PACKET_COST_MS * RATELIMIT_BURST;
const SWEEP_INTERVAL_MS = 1000;

interface Bucket {
  tokens: number;
  last: number;
}

export class RateLimiter {
  private readonly table = new Map<string, Bucket>();
  private lastSweep = -Infinity;

  /** True if a handshake message from this 16-byte address may be processed now. */
  allow(addr16: Uint8Array, now: number): boolean {
    if (now - this.lastSweep >= SWEEP_INTERVAL_MS) this.sweep(now);
    // The source IP only (not the port): a flood from many ports of one host shares a bucket.
    const key = Buffer.from(addr16.buffer, addr16.byteOffset, 16).toString('latin1');
    const b = this.table.get(key);
    if (!b) {
      this.table.set(key, { tokens: MAX_TOKENS_MS - PACKET_COST_MS, last: now });
      return true;
    }
    b.tokens = Math.min(MAX_TOKENS_MS, b.tokens + (now - b.last));
    b.last = now;
    if (b.tokens >= PACKET_COST_MS) {
      b.tokens -= PACKET_COST_MS;
      return true;
    }
    return false;
  }

  get size(): number {
    return this.table.size;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [k, b] of this.table) if (now - b.last > SWEEP_INTERVAL_MS) this.table.delete(k);
  }
}
