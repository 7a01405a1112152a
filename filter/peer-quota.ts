// Per-peer flow quotas for the flow table (issue 10, item 9): flows a peer creates by sending (the rules
// accepted its packet) are counted per remote address, and a peer at its limit gives up its own oldest
// flow instead of pushing the table's least recently used flow (ours, or another peer's) out. Flows the
// node opens are not counted. Fixed memory like the table: a peer slot per possible flow, allocated once.
// Keys are the flow key's family and remote address (words 0 and 6..9 of FlowTable.q). A peer's flows
// are kept in creation order, so "oldest" means first created. Not concurrency-safe: one per FlowTable.

/** Key words per peer slot: family, then the address as four big-endian words. */
const PK = 5;

/** Default per-peer limit: an eighth of the table (8192 of 65,536), at least 16. */
export function defaultPeerQuota(capacity: number): number {
  return Math.min(capacity, Math.max(16, capacity >>> 3));
}

export class PeerQuota {
  readonly limit: number;
  /** Per flow: the peer slot that created it, or -1 (node-opened or free). */
  private readonly owner: Int32Array;
  /** Per flow: links in its peer's list, oldest first. */
  private readonly fnext: Int32Array;
  private readonly fprev: Int32Array;
  /** Per peer slot. */
  private readonly key: Int32Array;
  private readonly count: Int32Array;
  private readonly head: Int32Array;
  private readonly tail: Int32Array;
  private readonly chain: Int32Array;
  private readonly buckets: Int32Array;
  private readonly mask: number;
  private readonly free: Int32Array;
  private freeTop: number;
  /** The slot last looked up (a burst from one peer skips the hash walk), or -1. */
  private cached = -1;
  /** Flows removed because their peer reached its limit. */
  evictions = 0;

  constructor(capacity: number, limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('maxFlowsPerPeer must be a positive integer');
    this.limit = limit;
    this.owner = new Int32Array(capacity).fill(-1);
    this.fnext = new Int32Array(capacity);
    this.fprev = new Int32Array(capacity);
    this.key = new Int32Array(capacity * PK);
    this.count = new Int32Array(capacity);
    this.head = new Int32Array(capacity);
    this.tail = new Int32Array(capacity);
    this.chain = new Int32Array(capacity);
    let nb = 2;
    while (nb < capacity) nb <<= 1;
    this.mask = nb - 1;
    this.buckets = new Int32Array(nb).fill(-1);
    this.free = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.free[i] = capacity - 1 - i;
    this.freeTop = capacity;
  }

  private bucketOf(q: Int32Array): number {
    let h = Math.imul(q[6] ^ (q[0] >>> 16), 0x9e3779b1);
    h = Math.imul(h ^ q[7] ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (q[8] + q[9]) ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) & this.mask;
  }

  private isPeer(s: number, q: Int32Array): boolean {
    const k = this.key;
    const o = s * PK;
    return k[o + 1] === q[6] && k[o + 2] === q[7] && k[o + 3] === q[8] && k[o + 4] === q[9] && k[o] === q[0] >>> 16;
  }

  /** The slot of q's remote peer, or -1. */
  private find(q: Int32Array): number {
    const c = this.cached;
    if (c >= 0 && this.isPeer(c, q)) return c;
    for (let s = this.buckets[this.bucketOf(q)]; s >= 0; s = this.chain[s]) {
      if (this.isPeer(s, q)) {
        this.cached = s;
        return s;
      }
    }
    return -1;
  }

  /** The oldest flow of q's remote peer when that peer is at its limit (the caller removes it), else -1. */
  overLimit(q: Int32Array): number {
    const s = this.find(q);
    return s >= 0 && this.count[s] >= this.limit ? this.head[s] : -1;
  }

  /** Records flow `i` as created by q's remote peer (newest of its flows). */
  attach(i: number, q: Int32Array): void {
    let s = this.find(q);
    if (s < 0) {
      s = this.free[--this.freeTop];
      const o = s * PK;
      this.key[o] = q[0] >>> 16;
      this.key[o + 1] = q[6];
      this.key[o + 2] = q[7];
      this.key[o + 3] = q[8];
      this.key[o + 4] = q[9];
      const b = this.bucketOf(q);
      this.chain[s] = this.buckets[b];
      this.buckets[b] = s;
      this.count[s] = 0;
      this.head[s] = -1;
      this.tail[s] = -1;
      this.cached = s;
    }
    this.owner[i] = s;
    this.fnext[i] = -1;
    const t = this.tail[s];
    this.fprev[i] = t;
    if (t >= 0) this.fnext[t] = i;
    else this.head[s] = i;
    this.tail[s] = i;
    this.count[s]++;
  }

  /** Flow `i` left the table (any reason): forget it, and its peer when that was its last flow. */
  detach(i: number): void {
    const s = this.owner[i];
    if (s < 0) return;
    this.owner[i] = -1;
    const p = this.fprev[i];
    const n = this.fnext[i];
    if (p >= 0) this.fnext[p] = n;
    else this.head[s] = n;
    if (n >= 0) this.fprev[n] = p;
    else this.tail[s] = p;
    if (--this.count[s] > 0) return;
    this.releaseSlot(s);
  }

  private releaseSlot(s: number): void {
    const k = this.key;
    const o = s * PK;
    // rebuild the probe key to find the bucket (the same hash as bucketOf over a flow key)
    let h = Math.imul(k[o + 1] ^ k[o], 0x9e3779b1);
    h = Math.imul(h ^ k[o + 2] ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (k[o + 3] + k[o + 4]) ^ (h >>> 13), 0xc2b2ae35);
    const b = (h ^ (h >>> 16)) & this.mask;
    let j = this.buckets[b];
    if (j === s) this.buckets[b] = this.chain[s];
    else {
      while (j >= 0 && this.chain[j] !== s) j = this.chain[j];
      if (j >= 0) this.chain[j] = this.chain[s];
    }
    if (this.cached === s) this.cached = -1;
    this.free[this.freeTop++] = s;
  }

  /** Peers with at least one counted flow (tests, metrics). */
  get peers(): number {
    return this.free.length - this.freeTop;
  }

  get bytes(): number {
    return (this.owner.byteLength + this.fnext.byteLength + this.fprev.byteLength + this.key.byteLength + this.count.byteLength) + (this.head.byteLength + this.tail.byteLength + this.chain.byteLength + this.buckets.byteLength + this.free.byteLength);
  }
}
