// Out-of-order segments waiting for the gap before them to fill (RFC 9293 §3.10.7.4, "seventh, process the
// segment text"): copied payloads sorted by sequence number, overlaps trimmed on insert, at most the
// receive window's worth held (the caller only inserts in-window bytes). Empty, and allocation-free, for
// an in-order stream.
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

  get empty(): boolean {
    return this.pieces.length === 0;
  }

  /** Stores a copy of b[off, off+len) at `seq`, trimming what is already held. */
  insert(seq: number, b: Uint8Array, off: number, len: number): void {
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
    return nxt;
  }

  clear(): void {
    this.pieces = [];
    this.bytes = 0;
    this.finSeq = -1;
  }
}
