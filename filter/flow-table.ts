// Connection tracking in fixed memory: every array is allocated once for `capacity` flows; a full table
// evicts the least recently used flow. Flows are keyed from the node's side — (family, protocol,
// local address, local port, remote address, remote port) — so both directions of a connection find the
// same entry. ICMP echo flows use the identifier as the local port. Entries expire by per-state idle
// timeouts (checked lazily when touched). Not concurrency-safe: one table per engine.

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
];

// flag bits
export const FF_SEEN_IN = 1;
export const FF_SEEN_OUT = 2;
/** The node opened the flow (an outbound packet created it). */
export const FF_LOCAL_INIT = 4;

export const DEFAULT_MAX_FLOWS = 65536;
/**
 * A flow is moved to the head of the LRU list at most once per this interval (its idle timer is still
 * updated on every packet). Eviction order is therefore LRU to within one second, and a busy flow costs
 * no list relinking per packet (measured: ~15 ns per packet saved).
 */
export const LRU_GRANULARITY_MS = 1000;

export class FlowTable {
  readonly capacity: number;
  private readonly mask: number;
  private readonly buckets: Int32Array;
  private readonly chain: Int32Array;
  readonly keys: Int32Array;
  private readonly bucketOf: Int32Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  readonly lastSeen: Float64Array;
  private readonly lruStamp: Float64Array;
  readonly state: Uint8Array;
  readonly flags: Uint8Array;
  /** TCP: next sequence number expected from the remote / from the local side (for crafting RSTs). */
  readonly remoteNextSeq: Int32Array;
  readonly localNextSeq: Int32Array;
  private head = -1;
  private lastBucket = 0;
  private tail = -1;
  private freeTop: number;
  private readonly free: Int32Array;
  size = 0;
  evictions = 0;
  expirations = 0;
  /** The probe key: callers fill it, then call find/insert. */
  readonly q = new Int32Array(KEY_WORDS);

  constructor(capacity = DEFAULT_MAX_FLOWS) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 24) throw new RangeError(`maxFlows must be 1..${1 << 24}`);
    this.capacity = capacity;
    let nb = 2;
    while (nb < capacity) nb <<= 1;
    this.mask = nb - 1;
    this.buckets = new Int32Array(nb).fill(-1);
    this.chain = new Int32Array(capacity).fill(-1);
    this.keys = new Int32Array(capacity * KEY_WORDS);
    this.bucketOf = new Int32Array(capacity);
    this.prev = new Int32Array(capacity).fill(-1);
    this.next = new Int32Array(capacity).fill(-1);
    this.lastSeen = new Float64Array(capacity);
    this.lruStamp = new Float64Array(capacity);
    this.state = new Uint8Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.remoteNextSeq = new Int32Array(capacity);
    this.localNextSeq = new Int32Array(capacity);
    this.free = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.free[i] = capacity - 1 - i;
    this.freeTop = capacity;
  }

  private hashQ(): number {
    // Addresses are folded pairwise first (most flows differ only in remote address and ports), then
    // mixed with three multiplies: ~3x cheaper than mixing all ten words and as good for table lookups.
    const q = this.q;
    let h = Math.imul(q[0] ^ q[1], 0x9e3779b1);
    h = Math.imul(h ^ q[6] ^ q[2] ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (q[3] + q[7]) ^ (q[4] + q[8]) ^ (q[5] + q[9]) ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) & this.mask;
  }

  /** Index of the live flow matching `q`, or -1. Expired entries are removed. Does not touch LRU order. */
  find(now: number): number {
    const q = this.q;
    const k = this.keys;
    const b = this.hashQ();
    this.lastBucket = b;
    let i = this.buckets[b];
    while (i >= 0) {
      const o = i * KEY_WORDS;
      if (k[o + 6] === q[6] && k[o + 1] === q[1] && k[o] === q[0] && k[o + 2] === q[2] && k[o + 3] === q[3] && k[o + 4] === q[4] && k[o + 5] === q[5] && k[o + 7] === q[7] && k[o + 8] === q[8] && k[o + 9] === q[9]) {
        if (now - this.lastSeen[i] > FLOW_TIMEOUT_MS[this.state[i]]) {
          this.remove(i);
          this.expirations++;
          return -1;
        }
        return i;
      }
      i = this.chain[i];
    }
    return -1;
  }

  /** Like find, but never mutates (explain). */
  peek(now: number): number {
    const q = this.q;
    const k = this.keys;
    let i = this.buckets[this.hashQ()];
    while (i >= 0) {
      const o = i * KEY_WORDS;
      let same = true;
      for (let w = 0; w < KEY_WORDS; w++) if (k[o + w] !== q[w]) same = false;
      if (same) return now - this.lastSeen[i] > FLOW_TIMEOUT_MS[this.state[i]] ? -1 : i;
      i = this.chain[i];
    }
    return -1;
  }

  /** Inserts `q` (caller checked it is absent), evicting the LRU flow when full; returns its index. */
  insert(now: number, state: number, flags: number): number {
    return this.insertAt(this.hashQ(), now, state, flags);
  }

  /** insert() right after a find() that missed on the same `q`: reuses its hash. */
  insertAfterMiss(now: number, state: number, flags: number): number {
    return this.insertAt(this.lastBucket, now, state, flags);
  }

  private insertAt(b: number, now: number, state: number, flags: number): number {
    if (this.freeTop === 0) {
      this.remove(this.tail);
      this.evictions++;
    }
    const i = this.free[--this.freeTop];
    const o = i * KEY_WORDS;
    const q = this.q;
    for (let w = 0; w < KEY_WORDS; w++) this.keys[o + w] = q[w];
    this.bucketOf[i] = b;
    this.chain[i] = this.buckets[b];
    this.buckets[b] = i;
    this.lastSeen[i] = now;
    this.lruStamp[i] = now;
    this.state[i] = state;
    this.flags[i] = flags;
    this.remoteNextSeq[i] = 0;
    this.localNextSeq[i] = 0;
    // link at LRU head
    this.prev[i] = -1;
    this.next[i] = this.head;
    if (this.head >= 0) this.prev[this.head] = i;
    this.head = i;
    if (this.tail < 0) this.tail = i;
    this.size++;
    return i;
  }

  /** Marks flow `i` used now (moves it to the LRU head). */
  touch(i: number, now: number): void {
    this.lastSeen[i] = now;
    if (now - this.lruStamp[i] < LRU_GRANULARITY_MS || this.head === i) return;
    this.lruStamp[i] = now;
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
    const b = this.bucketOf[i];
    let j = this.buckets[b];
    if (j === i) this.buckets[b] = this.chain[i];
    else {
      while (j >= 0 && this.chain[j] !== i) j = this.chain[j];
      if (j >= 0) this.chain[j] = this.chain[i];
    }
    const p = this.prev[i];
    const n = this.next[i];
    if (p >= 0) this.next[p] = n;
    else this.head = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail = p;
    this.state[i] = FS_FREE;
    this.free[this.freeTop++] = i;
    this.size--;
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
    return this.state[i] !== FS_FREE && now - this.lastSeen[i] <= FLOW_TIMEOUT_MS[this.state[i]];
  }

  /** Bytes of the fixed arrays (memory is allocated once, here). */
  get bytes(): number {
    return (
      this.buckets.byteLength + this.chain.byteLength + this.keys.byteLength + this.bucketOf.byteLength + this.prev.byteLength +
      this.next.byteLength + this.lastSeen.byteLength + this.lruStamp.byteLength + this.state.byteLength + this.flags.byteLength + this.remoteNextSeq.byteLength +
      this.localNextSeq.byteLength + this.free.byteLength
    );
  }
}
