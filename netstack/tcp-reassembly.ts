// Out-of-order segments waiting for the gap before them to fill (RFC 9293 §3.10.7.4, "seventh, process the
// segment text"): copied payloads sorted by sequence number, overlaps trimmed on insert, at most the
// receive window's worth held (the caller only inserts in-window bytes). Empty, and allocation-free, for
// an in-order stream.
//
// Beside the pieces it keeps the contiguous blocks they form, each stamped with when it last grew, which
// is what a SACK option reports (RFC 2018 §4): sackBlocks() lists the block holding the most recently
// received segment first, then the others most recently changed first.
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from './tcp-seq.js';

interface Piece {
  seq: number;
  data: Uint8Array;
}

export class TcpReassembly {
  private pieces: Piece[] = [];
  /** Bytes held. */
  bytes = 0;
  /** Whether the peer's FIN arrived out of order, and its sequence number. */
  finSeq = -1;
  // contiguous blocks, sorted: [left, right) and the arrival counter when each last grew
  private blockLeft: number[] = [];
  private blockRight: number[] = [];
  private blockStamp: number[] = [];
  private arrivals = 0;

  get empty(): boolean {
    return this.pieces.length === 0;
  }

  /** Stores a copy of b[off, off+len) at `seq`, trimming what is already held. */
  insert(seq: number, b: Uint8Array, off: number, len: number): void {
    if (len <= 0) return;
    this.addBlock(seq, seqAdd(seq, len));
    let s = seq;
    let o = off;
    let n = len;
    let i = 0;
    // skip pieces entirely before this one
    while (i < this.pieces.length && seqLe(seqAdd(this.pieces[i].seq, this.pieces[i].data.length), s)) i++;
    while (n > 0) {
      const p = this.pieces[i];
      if (p === undefined || seqGe(p.seq, seqAdd(s, n))) {
        this.pieces.splice(i, 0, { seq: s, data: b.slice(o, o + n) });
        this.bytes += n;
        return;
      }
      if (seqLt(s, p.seq)) {
        const gap = seqDiff(p.seq, s);
        this.pieces.splice(i, 0, { seq: s, data: b.slice(o, o + gap) });
        this.bytes += gap;
        i++;
        s = p.seq;
        o += gap;
        n -= gap;
        continue;
      }
      // s is inside p: skip the overlap
      const pEnd = seqAdd(p.seq, p.data.length);
      const skip = Math.min(n, seqDiff(pEnd, s));
      s = seqAdd(s, skip);
      o += skip;
      n -= skip;
      i++;
    }
  }

  /**
   * Hands the pieces that now continue at `rcvNxt` to `deliver` (in order, trimmed) and returns the new
   * rcv.nxt. Pieces wholly before rcvNxt are dropped.
   */
  drain(rcvNxt: number, deliver: (b: Uint8Array, off: number, len: number) => void): number {
    let nxt = rcvNxt;
    while (this.pieces.length > 0) {
      const p = this.pieces[0];
      if (seqGt(p.seq, nxt)) break;
      this.pieces.shift();
      this.bytes -= p.data.length;
      const end = seqAdd(p.seq, p.data.length);
      if (seqGt(end, nxt)) {
        const skip = seqDiff(nxt, p.seq);
        deliver(p.data, skip, p.data.length - skip);
        nxt = end;
      }
    }
    // a block reaching rcv.nxt was contiguous with it, so it has just been delivered whole
    while (this.blockLeft.length > 0 && seqLe(this.blockLeft[0], nxt)) this.dropFirstBlock();
    return nxt;
  }

  clear(): void {
    this.pieces = [];
    this.bytes = 0;
    this.finSeq = -1;
    this.blockLeft = [];
    this.blockRight = [];
    this.blockStamp = [];
  }

  /**
   * Writes up to `max` SACK blocks (left, right pairs) into `out` (RFC 2018 §4): first the block holding
   * the most recently received out-of-order segment, then the rest, most recently changed first; returns
   * how many. Blocks are disjoint, so none is a subset of another.
   */
  sackBlocks(out: Uint32Array, max: number): number {
    const n = this.blockLeft.length;
    let written = 0;
    let below = Infinity; // stamps are distinct: pick the highest stamp below the previous pick
    while (written < max && written < n) {
      let best = -1;
      for (let i = 0; i < n; i++) if (this.blockStamp[i] < below && (best < 0 || this.blockStamp[i] > this.blockStamp[best])) best = i;
      if (best < 0) break;
      out[2 * written] = this.blockLeft[best];
      out[2 * written + 1] = this.blockRight[best];
      below = this.blockStamp[best];
      written++;
    }
    return written;
  }

  /** Adds [l, r) to the block list, merging what it overlaps or touches, and stamps the result. */
  private addBlock(l: number, r: number): void {
    const L = this.blockLeft;
    const R = this.blockRight;
    let i = 0;
    while (i < L.length && seqLt(R[i], l)) i++;
    let j = i;
    let nl = l;
    let nr = r;
    while (j < L.length && seqLe(L[j], r)) {
      if (seqLt(L[j], nl)) nl = L[j];
      if (seqGt(R[j], nr)) nr = R[j];
      j++;
    }
    const stamp = ++this.arrivals;
    if (j === i) {
      L.splice(i, 0, nl);
      R.splice(i, 0, nr);
      this.blockStamp.splice(i, 0, stamp);
      return;
    }
    L[i] = nl;
    R[i] = nr;
    this.blockStamp[i] = stamp;
    if (j - i > 1) {
      L.splice(i + 1, j - i - 1);
      R.splice(i + 1, j - i - 1);
      this.blockStamp.splice(i + 1, j - i - 1);
    }
  }

  private dropFirstBlock(): void {
    this.blockLeft.shift();
    this.blockRight.shift();
    this.blockStamp.shift();
  }
}
