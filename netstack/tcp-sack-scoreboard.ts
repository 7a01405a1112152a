// The data sender's SACK scoreboard (RFC 6675 §3, RFC 2018 §5): which ranges of the outstanding sequence
// space (SND.UNA, SND.MAX] the peer has reported holding out of order, kept as sorted, disjoint,
// non-adjacent [left, right) ranges in one preallocated array, so recording an ACK's blocks allocates
// nothing. From them follow RFC 6675's IsLost() (as one boundary below which every unSACKed octet is
// lost), SetPipe() and the holes NextSeg() retransmits.
//
// Invariants: count <= SACK_SCOREBOARD_RANGES; every range lies inside (SND.UNA, SND.MAX] as it was when
// recorded (advance() trims as SND.UNA moves); sackedBytes is the sum of the ranges. When full, the highest
// range is forgotten to make room for a lower one (forgetting SACK information is always safe: the
// octets are merely treated as still outstanding). The scoreboard is advisory (RFC 2018 §8): the peer may
// renege, so the connection clears it on a retransmission timeout and never frees data on a SACK.
// Sequence arithmetic is modulo 2^32 (tcp-seq.ts). One per connection; not shared.
import { seqDiff, seqGt, seqLe, seqLt, seqMax } from './tcp-seq.js';

/** Implementation limit on remembered ranges (a window with more holes than this is rare; see above). */
export const SACK_SCOREBOARD_RANGES = 32;
/** RFC 6675 §2 DupThresh (= RFC 5681's three duplicate ACKs). */
export const DUP_THRESH = 3;

const NO_EDGES = new Uint32Array(0);

export class SackScoreboard {
  /**
   * Ranges: edges[2i] = left (first SACKed octet), edges[2i+1] = right (one past the last). Allocated on
   * the first block recorded, so an idle or loss-free connection carries none of it.
   */
  private edges: Uint32Array = NO_EDGES;
  count = 0;
  sackedBytes = 0;
  // the IsLost boundary, recomputed lazily after a change
  private lostAt = -1;
  private lostMss = 0;
  private dirty = false;
  /** The hole found by nextHole(): [holeStart, holeEnd). */
  holeStart = 0;
  holeEnd = 0;

  left(i: number): number {
    return this.edges[2 * i];
  }

  right(i: number): number {
    return this.edges[2 * i + 1];
  }

  /** One past the highest SACKed octet (only meaningful when count > 0). */
  get highestSacked(): number {
    return this.edges[2 * this.count - 1];
  }

  clear(): void {
    this.count = 0;
    this.sackedBytes = 0;
    this.dirty = true;
  }

  /**
   * Records one block [left, right) reported by the peer (RFC 6675 Update()). Blocks not inside
   * (una, sndMax] — D-SACKs (RFC 2883) below SND.UNA, stale or forged ones — are ignored; a block reaching
   * below SND.UNA is trimmed. Returns the number of octets newly SACKed.
   */
  add(left: number, right: number, una: number, sndMax: number): number {
    let l = left >>> 0;
    const r = right >>> 0;
    if (!seqLt(l, r) || seqGt(r, sndMax) || seqLe(r, una) || seqDiff(r, l) > seqDiff(sndMax, una)) return 0;
    if (seqLt(l, una)) l = una;
    if (this.edges === NO_EDGES) this.edges = new Uint32Array(2 * SACK_SCOREBOARD_RANGES);
    const e = this.edges;
    let i = 0;
    while (i < this.count && seqLt(e[2 * i + 1], l)) i++; // ranges wholly before (not touching) the block
    let j = i;
    let nl = l;
    let nr = r;
    let covered = 0;
    while (j < this.count && seqLe(e[2 * j], r)) {
      // overlapping or adjacent: merge
      if (seqLt(e[2 * j], nl)) nl = e[2 * j];
      if (seqGt(e[2 * j + 1], nr)) nr = e[2 * j + 1];
      covered += seqDiff(e[2 * j + 1], e[2 * j]);
      j++;
    }
    const added = seqDiff(nr, nl) - covered;
    if (added === 0) return 0;
    if (j === i && this.count === SACK_SCOREBOARD_RANGES) {
      // full and nothing merges: forget the highest range, unless the new one would be it
      if (i === this.count) return 0;
      this.count--;
      this.sackedBytes -= seqDiff(e[2 * this.count + 1], e[2 * this.count]);
    }
    // ranges [i, j) become one at i: shift the tail by (1 - (j - i)) slots
    const shift = 1 - (j - i);
    if (shift !== 0) e.copyWithin(2 * (j + shift), 2 * j, 2 * this.count);
    e[2 * i] = nl;
    e[2 * i + 1] = nr;
    this.count += shift;
    this.sackedBytes += added;
    this.dirty = true;
    return added;
  }

  /** Records the `n` blocks of an ACK (edges as in TcpOptions.sackBlocks); returns the octets newly SACKed. */
  update(blocks: Uint32Array, n: number, una: number, sndMax: number): number {
    let added = 0;
    for (let k = 0; k < n; k++) added += this.add(blocks[2 * k], blocks[2 * k + 1], una, sndMax);
    return added;
  }

  /** SND.UNA moved to `una`: forget what it covers. */
  advance(una: number): void {
    const e = this.edges;
    let drop = 0;
    while (drop < this.count && seqLe(e[2 * drop + 1], una)) {
      this.sackedBytes -= seqDiff(e[2 * drop + 1], e[2 * drop]);
      drop++;
    }
    if (drop > 0) {
      e.copyWithin(0, 2 * drop, 2 * this.count);
      this.count -= drop;
      this.dirty = true;
    }
    if (this.count > 0 && seqLt(e[0], una)) {
      this.sackedBytes -= seqDiff(una, e[0]);
      e[0] = una;
      this.dirty = true;
    }
  }

  isSacked(seq: number): boolean {
    for (let i = 0; i < this.count; i++) {
      if (seqLt(seq, this.edges[2 * i])) return false;
      if (seqLt(seq, this.edges[2 * i + 1])) return true;
    }
    return false;
  }

  /**
   * RFC 6675 IsLost() as a boundary: every unSACKed octet below the returned sequence number has DupThresh
   * discontiguous SACKed ranges or more than (DupThresh - 1)·SMSS SACKed octets above it, so it is lost;
   * no unSACKed octet at or above it is. -1 when nothing is lost.
   */
  lostBoundary(mss: number): number {
    if (!this.dirty && this.lostMss === mss) return this.lostAt;
    this.dirty = false;
    this.lostMss = mss;
    this.lostAt = -1;
    let ranges = 0;
    let bytes = 0;
    for (let i = this.count - 1; i >= 0; i--) {
      ranges++;
      bytes += seqDiff(this.edges[2 * i + 1], this.edges[2 * i]);
      if (ranges >= DUP_THRESH || bytes > (DUP_THRESH - 1) * mss) {
        this.lostAt = this.edges[2 * i];
        break;
      }
    }
    return this.lostAt;
  }

  isLost(seq: number, mss: number): boolean {
    const b = this.lostBoundary(mss);
    return b !== -1 && seqLt(seq, b) && !this.isSacked(seq);
  }

  /**
   * RFC 6675 SetPipe(): octets in (una, sndMax] presumed in the network — each unSACKed octet not yet
   * lost, plus each unSACKed octet retransmitted (below `rxtEnd`, one past HighRxt).
   */
  pipe(una: number, sndMax: number, rxtEnd: number, mss: number): number {
    const lost = this.lostBoundary(mss);
    let pipe = 0;
    let cur = una;
    for (let i = 0; i <= this.count; i++) {
      const holeEnd = i < this.count ? this.edges[2 * i] : sndMax;
      if (seqLt(cur, holeEnd)) {
        // not lost: the part at or above the boundary
        pipe += lost === -1 ? seqDiff(holeEnd, cur) : Math.max(seqDiff(holeEnd, seqMax(cur, lost)), 0);
        // retransmitted: the part below rxtEnd
        if (seqGt(rxtEnd, cur)) pipe += seqDiff(seqLt(rxtEnd, holeEnd) ? rxtEnd : holeEnd, cur);
      }
      if (i < this.count) cur = this.edges[2 * i + 1];
    }
    return pipe;
  }

  /**
   * The first unSACKed octet at or after `from` that lies below the highest SACKed octet (RFC 6675 NextSeg()
   * rules 1 and 3 look for it), with the end of its hole, in holeStart/holeEnd. False when there is none.
   */
  nextHole(from: number): boolean {
    let s = from;
    for (let i = 0; i < this.count; i++) {
      const l = this.edges[2 * i];
      const r = this.edges[2 * i + 1];
      if (seqLt(s, l)) {
        this.holeStart = s;
        this.holeEnd = l;
        return true;
      }
      if (seqLt(s, r)) s = r;
    }
    return false;
  }
}
