// ACK thinning for the userspace device's outbound batches: a pure TCP ACK (no payload, no SYN/FIN/RST)
// is left out when a later segment of the same connection in the same batch acknowledges strictly more.
// Everything the dropped ACK said is in the later one (cumulative ACK, newer window and timestamp), so
// the peer loses nothing; duplicate ACKs (equal ACK numbers: the fast-retransmit signal) and window
// updates (equal ACK numbers) are always kept, as is order. This is what GRO plus delayed ACKs give a
// kernel receiver: the netstack ACKs every second segment as RFC 9293 says, but a batch of segments
// read from the tunnel in one turn then needs one ACK, not one per two segments (bench:netstack
// embedded ↔ embedded: ~23,000 ACKs for 27,000 data segments, each encrypted, sent, received and
// decrypted). IPv4 (unfragmented) and IPv6 without extension headers; anything else passes untouched.
// No allocation per packet: the flow table and the drop marks are reused.
import type { PacketBatch } from '../net/io.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../packet/headers.js';

/** Connections tracked per batch; past this, later-seen connections are not thinned. */
const FLOWS = 16;

export class AckThinner {
  private readonly flowIdx = new Int32Array(FLOWS);
  private readonly flowAck = new Uint32Array(FLOWS);
  private drop = new Uint8Array(64);
  /** ACKs left out so far. */
  thinned = 0;

  /** Removes superseded pure ACKs from `b` in place (buffers are kept in the pool, order preserved). */
  thin(b: PacketBatch): void {
    const n = b.count;
    if (n < 2) return;
    if (this.drop.length < n) this.drop = new Uint8Array(Math.max(n, this.drop.length * 2));
    const drop = this.drop;
    let flows = 0;
    let dropped = 0;
    for (let i = n - 1; i >= 0; i--) {
      drop[i] = 0;
      const p = b.bufs[i];
      const len = b.lens[i];
      const t = tcpOffset(p, len);
      if (t < 0) continue;
      const flags = p[t + 13];
      if ((flags & TCP_ACK) === 0 || (flags & (TCP_SYN | TCP_RST)) !== 0) continue;
      const ack = ((p[t + 8] << 24) | (p[t + 9] << 16) | (p[t + 10] << 8) | p[t + 11]) >>> 0;
      const pure = (flags & TCP_FIN) === 0 && len === t + (p[t + 12] >> 4) * 4;
      let f = 0;
      while (f < flows && !sameFlow(b.bufs[this.flowIdx[f]], p, t)) f++;
      if (f < flows) {
        if (pure && ((this.flowAck[f] - ack) | 0) > 0) {
          drop[i] = 1;
          dropped++;
          continue;
        }
      } else if (flows < FLOWS) flows++;
      else continue;
      this.flowIdx[f] = i;
      this.flowAck[f] = ack;
    }
    if (dropped === 0) return;
    let w = 0;
    for (let i = 0; i < n; i++) {
      if (drop[i] === 1) continue;
      if (w !== i) {
        const keep = b.bufs[w];
        b.bufs[w] = b.bufs[i];
        b.bufs[i] = keep; // the dropped packet's buffer stays in the pool
        b.lens[w] = b.lens[i];
      }
      w++;
    }
    b.count = w;
    this.thinned += dropped;
  }
}

/** Offset of the TCP header in an unfragmented IPv4 or extension-free IPv6 packet, or -1. */
function tcpOffset(p: Uint8Array, len: number): number {
  const v = p[0] >> 4;
  let t: number;
  if (v === 4) {
    t = (p[0] & 15) * 4;
    if (p[9] !== 6 || (p[6] & 0x3f) !== 0 || p[7] !== 0) return -1;
  } else if (v === 6) {
    t = 40;
    if (p[6] !== 6) return -1;
  } else return -1;
  if (len < t + 20 || len < t + (p[t + 12] >> 4) * 4) return -1;
  return t;
}

/** Same addresses and ports (`b`'s TCP header at `t`; `a` is a packet tcpOffset accepted, same family). */
function sameFlow(a: Uint8Array, b: Uint8Array, t: number): boolean {
  if (a[0] >> 4 !== b[0] >> 4) return false;
  const v4 = b[0] >> 4 === 4;
  const end = v4 ? 20 : 40;
  for (let k = v4 ? 12 : 8; k < end; k++) if (a[k] !== b[k]) return false;
  const ta = a[0] >> 4 === 4 ? (a[0] & 15) * 4 : 40;
  return a[ta] === b[t] && a[ta + 1] === b[t + 1] && a[ta + 2] === b[t + 2] && a[ta + 3] === b[t + 3];
}
