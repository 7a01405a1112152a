// The anti-replay window for transport counters: RFC 6479's ring of bitmap blocks, sized like
// wireguard-go's replay.Filter and the kernel: 128 blocks of 64 bits, of which one is always being
// recycled, so the window accepts counters up to 8128 (= 127 × 64) behind the highest seen.
// Counters are doubles (exact below 2^53; see bytes.ts readU64LE). Each 64-bit block is two u32 words.
// Check AFTER decryption: only authenticated counters may move the window.
// Not concurrency-safe; one per keypair.
import { REPLAY_BLOCK_BITS, REPLAY_RING_BLOCKS, REPLAY_WINDOW_SIZE } from './constants.js';

const BLOCK_MASK = REPLAY_RING_BLOCKS - 1;

export class ReplayWindow {
  private last = 0;
  /** Counters accepted below the highest seen: datagrams the path delivered out of order. */
  outOfOrder = 0;
  private readonly ring = new Uint32Array(REPLAY_RING_BLOCKS * 2);

  reset(): void {
    this.last = 0;
    this.ring.fill(0);
  }

  /** Accepts `counter` (and records it) unless it is ≥ limit, too old, or already seen. */
  validateCounter(counter: number, limit: number): boolean {
    if (counter >= limit) return false;
    const indexBlock = Math.floor(counter / REPLAY_BLOCK_BITS);
    if (counter > this.last) {
      // Move the window forward, clearing the blocks it newly covers (at most the whole ring).
      const current = Math.floor(this.last / REPLAY_BLOCK_BITS);
      const diff = Math.min(indexBlock - current, REPLAY_RING_BLOCKS);
      for (let i = 1; i <= diff; i++) {
        const b = ((current + i) % REPLAY_RING_BLOCKS) * 2;
        this.ring[b] = 0;
        this.ring[b + 1] = 0;
      }
      this.last = counter;
    } else if (this.last - counter > REPLAY_WINDOW_SIZE) {
      return false;
    }
    const bit = counter % REPLAY_BLOCK_BITS;
    const word = (indexBlock & BLOCK_MASK) * 2 + (bit >>> 5);
    const mask = (1 << (bit & 31)) >>> 0;
    const old = this.ring[word];
    if ((old & mask) !== 0) return false;
    this.ring[word] = old | mask;
    if (counter < this.last) this.outOfOrder++;
    return true;
  }
}
