// Remembers accepted first fragments so later fragments of the same datagram (same src, dst, protocol
// and IP ID) are let through (filter.md step 6). Direct-mapped and fixed-size: a colliding datagram
// overwrites an older one, whose later fragments are then dropped — bounded memory over completeness,
// and an attacker cannot make us accept a fragment whose first fragment was not accepted.
import type { ParsedPacket } from './packet.js';

export const FRAGMENT_TIMEOUT_MS = 30_000; // as Linux ipfrag_time
export const FRAGMENT_SLOTS = 4096;
const W = 10; // meta, id, src[4], dst[4]

export class FragmentTable {
  private readonly keys = new Int32Array(FRAGMENT_SLOTS * W);
  private readonly expiry = new Float64Array(FRAGMENT_SLOTS);

  private slot(p: ParsedPacket): number {
    let h = Math.imul(p.fragId ^ (p.family << 8) ^ p.fragNext, 0x9e3779b1);
    h = Math.imul(h ^ p.src0 ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ p.dst0 ^ (h >>> 13), 0xc2b2ae35);
    h = Math.imul(h ^ p.src3 ^ p.dst3 ^ (h >>> 16), 0x85ebca6b);
    return (h ^ (h >>> 15)) & (FRAGMENT_SLOTS - 1);
  }

  add(p: ParsedPacket, now: number): void {
    const s = this.slot(p);
    const k = this.keys;
    const o = s * W;
    k[o] = (p.family << 8) | p.fragNext;
    k[o + 1] = p.fragId;
    k[o + 2] = p.src0;
    k[o + 3] = p.src1;
    k[o + 4] = p.src2;
    k[o + 5] = p.src3;
    k[o + 6] = p.dst0;
    k[o + 7] = p.dst1;
    k[o + 8] = p.dst2;
    k[o + 9] = p.dst3;
    this.expiry[s] = now + FRAGMENT_TIMEOUT_MS;
  }

  has(p: ParsedPacket, now: number): boolean {
    const s = this.slot(p);
    if (this.expiry[s] === 0 || now > this.expiry[s]) return false;
    const k = this.keys;
    const o = s * W;
    return (
      k[o] === ((p.family << 8) | p.fragNext) && k[o + 1] === p.fragId && k[o + 2] === p.src0 && k[o + 3] === p.src1 && k[o + 4] === p.src2 &&
      k[o + 5] === p.src3 && k[o + 6] === p.dst0 && k[o + 7] === p.dst1 && k[o + 8] === p.dst2 && k[o + 9] === p.dst3
    );
  }

  clear(): void {
    this.expiry.fill(0);
  }
}
