// Connection tracking in fixed memory: every array is allocated once for `capacity` flows; a full table
// evicts the least recently used flow. Flows are keyed from the node's side — (family, protocol,
// local address, local port, remote address, remote port) — so both directions of a connection find the
// same entry. ICMP echo flows use the identifier as the local port. Entries expire by per-state idle
// timeouts (checked lazily when touched). Flows a peer creates count against that peer's quota
// (peer-quota.ts). The same structure, without quotas, holds the engine's tombstones of revoked tuples
// (state FS_REVOKED). Not concurrency-safe: one table per engine.

import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../packet/headers.js';
import { PeerQuota } from './peer-quota.js';

export const KEY_WORDS = 10; // meta, ports, local[4], remote[4]

// Flow states; each has an idle timeout (FLOW_TIMEOUT_MS).
export const FS_FREE = 0;
export const FS_TCP_OPENING = 1;
export const FS_TCP_ESTABLISHED = 2;
export const FS_TCP_CLOSING = 3;
export const FS_TCP_RESET = 4;
export const FS_UNREPLIED = 5;
export const FS_REPLIED = 6;
export const FS_ICMP_ECHO = 7;
/** A tombstone: the tuple's flow was revoked; outbound packets on it must not open a new one. */
export const FS_REVOKED = 8;

const SECOND = 1000;
/** Idle timeouts per state (filter.md step 7; TCP opening and reset as Linux conntrack's SYN_SENT / CLOSE). */
export const FLOW_TIMEOUT_MS: readonly number[] = [
  0,
  120 * SECOND, // TCP opening: SYN seen, not yet answered
  5 * 86_400 * SECOND, // TCP established
  120 * SECOND, // TCP closing: FIN seen
  10 * SECOND, // TCP reset
  30 * SECOND, // UDP/SCTP/DCCP unreplied
  180 * SECOND, // replied
  30 * SECOND, // ICMP echo
  600 * SECOND, // tombstone of a revoked tuple (idle time: each outbound packet on the tuple refreshes it)
];

/** FLOW_TIMEOUT_MS as a typed array: one unboxed load on the packet path. */
const TIMEOUTS = Float64Array.from(FLOW_TIMEOUT_MS);

// flag bits
export const FF_SEEN_IN = 1;
export const FF_SEEN_OUT = 2;
/** The node opened the flow (an outbound packet created it). */
export const FF_LOCAL_INIT = 4;
const BOTH_WAYS = FF_SEEN_IN | FF_SEEN_OUT;

export const DEFAULT_MAX_FLOWS = 65536;
/**
 * A flow is moved to the head of the LRU list at most once per clock second (its idle timer is still
 * updated on every packet). Eviction order is therefore LRU to within one second, and a busy flow costs
 * no list relinking per packet (measured: ~15 ns per packet saved).
 */
export const LRU_GRANULARITY_MS = 1000;

/** The LRU second of a timestamp (16 bits are enough: only equality with the stored second matters). */
function lruSecond(now: number): number {
  return ((now * (1 / LRU_GRANULARITY_MS)) | 0) & 0xffff;
}

/** Words per flow record: key (10), chain, state|flags|lru second, remote/local next seq, lastSeen (f64). */
const REC = 16;
const W_CHAIN = 10;
const W_META = 11;
const W_RSEQ = 12;
const W_LSEQ = 13;
const F_LAST = 7; // Float64 index within the record (bytes 56..63)

export class FlowTable {
  readonly capacity: number;
  private readonly mask: number;
  private readonly buckets: Int32Array;
  /**
   * One 64-byte record per flow, so a lookup touches the bucket array and one cache line: the key,
   * the hash chain, state, flags, TCP sequence numbers and the last-seen time live together.
   */
  private readonly rec: Int32Array;
  private readonly recF: Float64Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private head = -1;
  private tail = -1;
  private lastBucket = 0;
  private freeTop: number;
  private readonly free: Int32Array;
  size = 0;
  evictions = 0;
  expirations = 0;
  /** The probe key: callers fill it, then call find/insert. */
  readonly q: Int32Array;
  /** Per-peer counts of the flows peers created (insertPeerOpened); null: no quotas. */
  private readonly quota: PeerQuota | null;

  /**
   * `q`: share another table's probe key (the engine's tombstones are probed with the flow key just
   * built). `maxPerPeer`: flows one remote address may create (0: no quota).
   */
  constructor(capacity = DEFAULT_MAX_FLOWS, opts: { q?: Int32Array; maxPerPeer?: number } = {}) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 24) throw new RangeError(`maxFlows must be 1..${1 << 24}`);
    this.capacity = capacity;
    this.q = opts.q ?? new Int32Array(KEY_WORDS);
    this.quota = opts.maxPerPeer ? new PeerQuota(capacity, opts.maxPerPeer) : null;
    let nb = 2;
    while (nb < capacity) nb <<= 1;
    this.mask = nb - 1;
    this.buckets = new Int32Array(nb).fill(-1);
    const buf = new ArrayBuffer(capacity * REC * 4);
    this.rec = new Int32Array(buf);
    this.recF = new Float64Array(buf);
    this.prev = new Int32Array(capacity).fill(-1);
    this.next = new Int32Array(capacity).fill(-1);
    this.free = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.free[i] = capacity - 1 - i;
    this.freeTop = capacity;
  }

  private hashOf(k: Int32Array, o: number): number {
    // Addresses are folded pairwise first (most flows differ only in remote address and ports), then
    // mixed with three multiplies: ~3x cheaper than mixing all ten words and as good for table lookups.
    let h = Math.imul(k[o] ^ k[o + 1], 0x9e3779b1);
    h = Math.imul(h ^ k[o + 6] ^ k[o + 2] ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (k[o + 3] + k[o + 7]) ^ (k[o + 4] + k[o + 8]) ^ (k[o + 5] + k[o + 9]) ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) & this.mask;
  }

  private expired(i: number, now: number): boolean {
    return now - this.recF[i * (REC / 2) + F_LAST] > TIMEOUTS[this.rec[i * REC + W_META] & 0xff];
  }

  /** Index of the live flow matching `q`, or -1. Expired entries are removed. Does not touch LRU order. */
  find(now: number): number {
    const q = this.q;
    const k = this.rec;
    const b = this.hashOf(q, 0);
    this.lastBucket = b;
    let i = this.buckets[b];
    while (i >= 0) {
      const o = i * REC;
      if (k[o + 6] === q[6] && k[o + 1] === q[1] && k[o] === q[0] && k[o + 2] === q[2] && k[o + 3] === q[3] && k[o + 4] === q[4] && k[o + 5] === q[5] && k[o + 7] === q[7] && k[o + 8] === q[8] && k[o + 9] === q[9]) {
        if (now - this.recF[i * (REC / 2) + F_LAST] > TIMEOUTS[k[o + W_META] & 0xff]) {
          this.remove(i);
          this.expirations++;
          return -1;
        }
        return i;
      }
      i = k[o + W_CHAIN];
    }
    return -1;
  }

  /**
   * find() and, on a hit, touch() in one pass over the record: the packet path's single call. On a miss
   * the bucket is remembered for insertAfterMiss().
   */
  lookup(now: number): number {
    const q = this.q;
    const k = this.rec;
    // hashOf(q), written out: this is the hottest line of the table.
    let h = Math.imul(q[0] ^ q[1], 0x9e3779b1);
    h = Math.imul(h ^ q[6] ^ q[2] ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (q[3] + q[7]) ^ (q[4] + q[8]) ^ (q[5] + q[9]) ^ (h >>> 13), 0xc2b2ae35);
    const b = (h ^ (h >>> 16)) & this.mask;
    this.lastBucket = b;
    let i = this.buckets[b];
    while (i >= 0) {
      const o = i * REC;
      if (this.isQ(k, o, q)) {
        const fo = i * (REC / 2) + F_LAST;
        const m = k[o + W_META];
        if (now - this.recF[fo] > TIMEOUTS[m & 0xff]) return this.expire(i);
        this.recF[fo] = now;
        if (m >>> 16 !== lruSecond(now)) this.touchLru(i, now);
        return i;
      }
      i = k[o + W_CHAIN];
    }
    return -1;
  }

  /** Like find, but never mutates (explain). */
  peek(now: number): number {
    const q = this.q;
    const k = this.rec;
    let i = this.buckets[this.hashOf(q, 0)];
    while (i >= 0) {
      const o = i * REC;
      let same = true;
      for (let w = 0; w < KEY_WORDS; w++) if (k[o + w] !== q[w]) same = false;
      if (same) return this.expired(i, now) ? -1 : i;
      i = k[o + W_CHAIN];
    }
    return -1;
  }

  /** Inserts `q` (caller checked it is absent), evicting the LRU flow when full; returns its index. */
  insert(now: number, state: number, flags: number): number {
    return this.insertAt(this.hashOf(this.q, 0), now, state, flags);
  }

  /** insert() right after a find() that missed on the same `q`: reuses its hash. */
  insertAfterMiss(now: number, state: number, flags: number): number {
    return this.insertAt(this.lastBucket, now, state, flags);
  }

  /**
   * insertAfterMiss() for a flow the remote peer creates: counted against its quota; a peer at its limit
   * loses its own oldest flow first, so it cannot push out the node's flows or other peers'.
   */
  insertPeerOpened(now: number, state: number, flags: number): number {
    const qt = this.quota;
    if (qt === null) return this.insertAt(this.lastBucket, now, state, flags);
    const old = qt.overLimit(this.q);
    if (old >= 0) {
      this.remove(old);
      qt.evictions++;
    }
    const i = this.insertAt(this.lastBucket, now, state, flags);
    qt.attach(i, this.q);
    return i;
  }

  /** Flows removed because their peer was at its quota. */
  get quotaEvictions(): number {
    return this.quota === null ? 0 : this.quota.evictions;
  }

  private insertAt(b: number, now: number, state: number, flags: number): number {
    if (this.freeTop === 0) {
      this.remove(this.tail);
      this.evictions++;
      // the removal may have emptied or changed this bucket's chain head; b itself is still right
    }
    const i = this.free[--this.freeTop];
    const o = i * REC;
    const q = this.q;
    const k = this.rec;
    for (let w = 0; w < KEY_WORDS; w++) k[o + w] = q[w];
    k[o + W_CHAIN] = this.buckets[b];
    this.buckets[b] = i;
    k[o + W_META] = state | (flags << 8) | (lruSecond(now) << 16);
    k[o + W_RSEQ] = 0;
    k[o + W_LSEQ] = 0;
    this.recF[i * (REC / 2) + F_LAST] = now;
    // link at LRU head
    this.prev[i] = -1;
    this.next[i] = this.head;
    if (this.head >= 0) this.prev[this.head] = i;
    this.head = i;
    if (this.tail < 0) this.tail = i;
    this.size++;
    return i;
  }

  /** Marks flow `i` used now; moves it to the LRU head at most once per LRU second. */
  touch(i: number, now: number): void {
    this.recF[i * (REC / 2) + F_LAST] = now;
    const o = i * REC + W_META;
    const m = this.rec[o];
    const sec = lruSecond(now);
    if (m >>> 16 === sec || this.head === i) return;
    this.rec[o] = (m & 0xffff) | (sec << 16);
    this.toHead(i);
  }

  /** Record at `o` holds key `q` (remote address and ports first: they differ most often). */
  private isQ(k: Int32Array, o: number, q: Int32Array): boolean {
    return k[o + 6] === q[6] && k[o + 1] === q[1] && k[o] === q[0] && k[o + 2] === q[2] && k[o + 3] === q[3] && k[o + 4] === q[4] && k[o + 5] === q[5] && k[o + 7] === q[7] && k[o + 8] === q[8] && k[o + 9] === q[9];
  }

  /** lookup()'s rare branches, out of line so lookup itself stays small enough to inline. */
  private expire(i: number): number {
    this.remove(i);
    this.expirations++;
    return -1;
  }

  private touchLru(i: number, now: number): void {
    const o = i * REC + W_META;
    this.rec[o] = (this.rec[o] & 0xffff) | (lruSecond(now) << 16);
    if (this.head !== i) this.toHead(i);
  }

  /** Relinks flow `i` (not the head) at the LRU head. */
  private toHead(i: number): void {
    const p = this.prev[i];
    const n = this.next[i];
    this.next[p] = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail = p;
    this.prev[i] = -1;
    this.next[i] = this.head;
    this.prev[this.head] = i;
    this.head = i;
  }

  remove(i: number): void {
    const k = this.rec;
    const o = i * REC;
    const b = this.hashOf(k, o);
    let j = this.buckets[b];
    if (j === i) this.buckets[b] = k[o + W_CHAIN];
    else {
      while (j >= 0 && k[j * REC + W_CHAIN] !== i) j = k[j * REC + W_CHAIN];
      if (j >= 0) k[j * REC + W_CHAIN] = k[o + W_CHAIN];
    }
    const p = this.prev[i];
    const n = this.next[i];
    if (p >= 0) this.next[p] = n;
    else this.head = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail = p;
    k[o + W_META] = FS_FREE;
    this.free[this.freeTop++] = i;
    this.size--;
    if (this.quota !== null) this.quota.detach(i);
  }

  /**
   * Records a TCP segment (flags `t`, sequence number `seq`, `nextSeq` = seq + length + SYN + FIN) on flow
   * `i` seen in direction `seen` (FF_SEEN_IN or FF_SEEN_OUT): the flag, the sequence state, and the state
   * machine (RST → reset; a bare SYN reopens a closed tuple; FIN → closing; the first bare ACK after
   * traffic both ways → established).
   * Sequence state: outbound, our next sequence number (the RST toward the peer uses it). Inbound, the
   * next sequence number the local socket expects moves only with the segment that starts exactly there
   * (in order), like the receiver's RCV.NXT: a stale or out-of-window segment from the peer must not make
   * the RST toward the local socket out of window (outbound ACK numbers set it too: setRemoteNextSeq).
   */
  trackTcp(i: number, seen: number, t: number, seq: number, nextSeq: number): void {
    const k = this.rec;
    const o = i * REC;
    const m = k[o + W_META] | (seen << 8);
    if (seen === FF_SEEN_OUT) k[o + W_LSEQ] = nextSeq;
    else if (k[o + W_RSEQ] === seq) k[o + W_RSEQ] = nextSeq;
    const s = m & 0xff;
    let n = s;
    if ((t & TCP_RST) !== 0) n = FS_TCP_RESET;
    else if ((t & TCP_SYN) !== 0 && (t & TCP_ACK) === 0) {
      if (s === FS_TCP_CLOSING || s === FS_TCP_RESET) n = FS_TCP_OPENING; // a new connection on a reused tuple
    } else if ((t & TCP_FIN) !== 0) {
      if (s !== FS_TCP_RESET) n = FS_TCP_CLOSING;
    } else if (s === FS_TCP_OPENING && (m & (BOTH_WAYS << 8)) === BOTH_WAYS << 8 && (t & (TCP_ACK | TCP_SYN)) === TCP_ACK) n = FS_TCP_ESTABLISHED;
    k[o + W_META] = (m & ~0xff) | n;
  }

  /** Records a non-TCP packet on flow `i` in direction `seen`: a flow seen both ways is replied. */
  trackOther(i: number, seen: number): void {
    const o = i * REC + W_META;
    const m = this.rec[o] | (seen << 8);
    this.rec[o] = (m & (BOTH_WAYS << 8)) === BOTH_WAYS << 8 ? (m & ~0xff) | FS_REPLIED : m;
  }

  state(i: number): number {
    return this.rec[i * REC + W_META] & 0xff;
  }

  setState(i: number, s: number): void {
    const o = i * REC + W_META;
    this.rec[o] = (this.rec[o] & ~0xff) | s;
  }

  flags(i: number): number {
    return (this.rec[i * REC + W_META] >>> 8) & 0xff;
  }

  /** ORs `f` into the flags; returns the new flags. */
  addFlags(i: number, f: number): number {
    const o = i * REC + W_META;
    const m = this.rec[o] | (f << 8);
    this.rec[o] = m;
    return (m >>> 8) & 0xff;
  }

  remoteNextSeq(i: number): number {
    return this.rec[i * REC + W_RSEQ];
  }

  setRemoteNextSeq(i: number, v: number): void {
    this.rec[i * REC + W_RSEQ] = v;
  }

  localNextSeq(i: number): number {
    return this.rec[i * REC + W_LSEQ];
  }

  setLocalNextSeq(i: number, v: number): void {
    this.rec[i * REC + W_LSEQ] = v;
  }

  /** Word `w` (0..KEY_WORDS-1) of flow `i`'s key. */
  keyWord(i: number, w: number): number {
    return this.rec[i * REC + w];
  }

  /** Forgets every flow (memory stays allocated). */
  clear(): void {
    for (let i = this.head; i >= 0; ) {
      const n = this.next[i];
      this.remove(i);
      i = n;
    }
  }

  /** Live flow indexes, most recently used first (not for the packet path). */
  indexes(): number[] {
    const out: number[] = [];
    for (let i = this.head; i >= 0; i = this.next[i]) out.push(i);
    return out;
  }

  isLive(i: number, now: number): boolean {
    return this.state(i) !== FS_FREE && !this.expired(i, now);
  }

  /** Bytes of the fixed arrays (memory is allocated once, here). */
  get bytes(): number {
    return this.buckets.byteLength + this.rec.byteLength + this.prev.byteLength + this.next.byteLength + this.free.byteLength + (this.quota?.bytes ?? 0);
  }
}
