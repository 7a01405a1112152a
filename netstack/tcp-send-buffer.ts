// The send buffer: the bytes from snd.una on (sent but unacknowledged, then unsent), kept as the chunks
// the app wrote (no copy on write; node:net keeps the caller's buffers the same way). Segments are copied
// out at any offset for (re)transmission; acknowledged bytes are dropped from the front. A cursor caches
// the chunk of the last read so sending in order walks no list. Empty until the first write (lazy).

export class TcpSendBuffer {
  private chunks: Buffer[] = [];
  private head = 0; // index of the first live chunk
  private headOff = 0; // bytes of chunks[head] already acknowledged
  /** Bytes held (unacknowledged + unsent). */
  length = 0;
  // cursor: chunk index and the buffer offset at which that chunk's live bytes start
  private curIdx = 0;
  private curStart = 0;

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    this.length += chunk.length;
  }

  /** Copies `len` bytes starting `offset` bytes after snd.una into dst[dstOff]. */
  copyOut(offset: number, len: number, dst: Uint8Array, dstOff: number): void {
    let idx: number;
    let start: number; // buffer offset of chunks[idx]'s first live byte
    if (this.curIdx >= this.head && this.curIdx < this.chunks.length && this.curStart <= offset) {
      idx = this.curIdx;
      start = this.curStart;
    } else {
      idx = this.head;
      start = 0;
    }
    for (;;) {
      const c = this.chunks[idx];
      const skip = idx === this.head ? this.headOff : 0;
      const avail = c.length - skip;
      if (offset < start + avail) break;
      start += avail;
      idx++;
    }
    this.curIdx = idx;
    this.curStart = start;
    let o = offset;
    let d = dstOff;
    let n = len;
    while (n > 0) {
      const c = this.chunks[idx];
      const skip = idx === this.head ? this.headOff : 0;
      const from = skip + (o - start);
      const take = Math.min(n, c.length - from);
      c.copy(dst, d, from, from + take); // Buffer.copy: no view object per segment
      d += take;
      n -= take;
      o += take;
      if (from + take === c.length) {
        start += c.length - skip;
        idx++;
      }
    }
  }

  /** Drops `n` acknowledged bytes from the front. */
  consume(n: number): void {
    let left = Math.min(n, this.length);
    this.length -= left;
    while (left > 0) {
      const c = this.chunks[this.head];
      const avail = c.length - this.headOff;
      if (left < avail) {
        this.headOff += left;
        left = 0;
      } else {
        left -= avail;
        this.head++;
        this.headOff = 0;
      }
    }
    // the cursor's offsets are relative to snd.una; reset it
    this.curIdx = this.head;
    this.curStart = 0;
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
      this.curIdx = 0;
    } else if (this.head > 64 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
      this.curIdx = 0;
    }
  }
}
