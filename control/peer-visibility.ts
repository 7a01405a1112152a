// Which peers each node is sent (control.md, netmaps; issue 10 item 6). As in Tailscale, node N gets peer P
// when the policy lets either reach the other: N's compiled rules admit a source address of P, or P's admit
// one of N. Every rule counts, CapGrant-only rules included, and a subnet router's (non-default) routes
// count as its source addresses, so a router whose subnets a rule names is sent too. An exit node is seen
// through the rules on it (a client granted autogroup:internet is a source of the exit node's rules).
//
// The input is what control already has: every node's compiled rules. Their SrcIPs arrays are shared,
// frozen and replaced (never mutated) when they change (policy/compiler.ts), so the members of one array
// are resolved once, keyed by identity, and every node's "in" set is the union of its arrays' members.
// Sets are bitsets over slots (one per live node). Per node:
//   in[N]  = nodes N's rules admit (P can reach N)
//   out[N] = nodes whose rules admit N (the transpose of in, kept bit by bit)
//   visible(N) = in[N] | out[N] | open, or everyone when N is open
// A source array covering the whole tailnet range (`*`) makes its node "open": everyone sees it and it
// sees everyone, without the n² bits `*` would cost. That assumes every node's address lies in the tailnet
// ranges, which control's allocator guarantees (control/addresses.ts).
//
// Costs: a rule change costs OR-ing its arrays' bitsets and the changed bits of the transpose; a join
// tests the new addresses against the range parts of each array (binary search). A new compiler goes
// through load(), which builds the transpose per array rather than per bit. Slots are never reused, so a
// snapshot's bits keep meaning what they meant; the instance made for a new compiler inherits every node's
// slot (unchanged sets keep their snapshot object), and the owner starts afresh when dead slots pile up.
// Measured (npm run bench:control, 10,000 nodes / 1,000 grants, this shared 2-core machine): +0–0.3 s on
// a 1.5–2.1 s full computation, +20–45 ms on a join, which now sends 520 deltas instead of 10,000. About
// 45 MB per instance (in and out rows, snapshots); the extra garbage after a rebuild shows in GC time.
//
// Not concurrency-safe; one per NetmapCache.
import { formatIP, parseIP, parsePrefix, type IPAddr } from '../types/ip.js';

/** 100.64.0.0/10 without the reserved 100.115.92.0/23 (control/addresses.ts), and fd7a:115c:a1e0::/48. */
const TAILNET_V4: ReadonlyArray<readonly [number, number]> = [
  [v4Number(100, 64, 0, 0), v4Number(100, 115, 91, 255)],
  [v4Number(100, 115, 94, 0), v4Number(100, 127, 255, 255)],
];
const TAILNET_V6_START = 0xfd7a115ca1e0n << 80n;
const TAILNET_V6_END = TAILNET_V6_START + (1n << 80n) - 1n;

function v4Number(a: number, b: number, c: number, d: number): number {
  return ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
}

function bytesToV4(b: Uint8Array): number {
  return ((b[0] << 24) >>> 0) + (b[1] << 16) + (b[2] << 8) + b[3];
}

function bytesToV6(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = 0; i < 16; i += 4) v = (v << 32n) | BigInt(((b[i] << 24) >>> 0) + (b[i + 1] << 16) + (b[i + 2] << 8) + b[i + 3]);
  return v;
}

/** Inclusive address ranges: v4 as numbers, v6 as bigints, each list sorted by start (may overlap). */
interface Ranges {
  v4: Array<[number, number]>;
  v6: Array<[bigint, bigint]>;
}

/** Parses one SrcIPs spelling (`A`, `A/n`, `A-B`); null for anything else. */
function parseSrc(text: string, out: Ranges): boolean {
  const dash = text.indexOf('-');
  let a: IPAddr | null;
  let b: IPAddr | null;
  if (dash > 0) {
    a = parseIP(text.slice(0, dash));
    b = parseIP(text.slice(dash + 1));
    if (!a || !b || a.family !== b.family) return false;
  } else {
    const p = parsePrefix(text);
    if (!p) return false;
    const width = p.family === 4 ? 32 : 128;
    if (p.family === 4) {
      const host = 32 - p.bits;
      const base = host === 32 ? 0 : bytesToV4(p.bytes) - (bytesToV4(p.bytes) % 2 ** host);
      out.v4.push([base, base + 2 ** host - 1]);
    } else {
      const host = BigInt(width - p.bits);
      const base = (bytesToV6(p.bytes) >> host) << host;
      out.v6.push([base, base + (1n << host) - 1n]);
    }
    return true;
  }
  if (a.family === 4) out.v4.push([bytesToV4(a.bytes), bytesToV4(b.bytes)]);
  else out.v6.push([bytesToV6(a.bytes), bytesToV6(b.bytes)]);
  return true;
}

/** True when a sorted, disjoint list covers [start, end]. */
function covers<T extends number | bigint>(list: ReadonlyArray<readonly [T, T]>, start: T, end: T): boolean {
  for (const [s, e] of list) if (s <= start && end <= e) return true;
  return false;
}

/** One node's source footprint: its addresses, and its routes except default (exit) routes. */
interface Footprint {
  texts: string[];
  v4: number[];
  v6: bigint[];
  routes: Ranges;
}

function footprintOf(addresses: readonly string[], routes: readonly string[]): Footprint {
  const fp: Footprint = { texts: [], v4: [], v6: [], routes: { v4: [], v6: [] } };
  for (const t of addresses) {
    const text = t.includes('/') ? t.slice(0, t.indexOf('/')) : t;
    // Canonical spellings (control's allocator writes them) take the fast path: parsing and re-formatting
    // 10,000 IPv6 addresses costs ~100 ms, a third of a full netmap computation.
    const v4 = fastV4(text);
    if (v4 !== null) {
      fp.v4.push(v4);
      fp.texts.push(text);
      continue;
    }
    const v6 = fastV6(text);
    if (v6 !== null) {
      fp.v6.push(v6);
      fp.texts.push(text);
      continue;
    }
    const a = parseIP(text);
    if (!a) continue;
    if (a.family === 4) fp.v4.push(bytesToV4(a.bytes));
    else fp.v6.push(bytesToV6(a.bytes));
    fp.texts.push(formatIP(a.bytes)); // the canonical spelling, as the compiler prints it
  }
  for (const r of routes) {
    const p = parsePrefix(r);
    if (!p || p.bits === 0) continue; // 0.0.0.0/0 and ::/0: an exit node is not a source of the internet
    parseSrc(r, fp.routes);
  }
  if (fp.routes.v4.length + fp.routes.v6.length > 1) fp.routes = normalize(fp.routes);
  return fp;
}

const CANONICAL_V4 = /^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$/;

/** A canonical dotted quad as a number, else null. */
function fastV4(t: string): number | null {
  const m = CANONICAL_V4.exec(t);
  if (!m) return null;
  const a = Number(m[1]);
  const b = Number(m[2]);
  const c = Number(m[3]);
  const d = Number(m[4]);
  return a > 255 || b > 255 || c > 255 || d > 255 ? null : v4Number(a, b, c, d);
}

/** A canonical (formatIP) IPv6 address as a bigint, else null. */
function fastV6(t: string): bigint | null {
  if (!t.includes(':')) return null;
  const dbl = t.indexOf('::');
  const head = dbl === -1 ? t.split(':') : dbl === 0 ? [] : t.slice(0, dbl).split(':');
  const tail = dbl === -1 ? [] : dbl + 2 === t.length ? [] : t.slice(dbl + 2).split(':');
  if (dbl === -1 ? head.length !== 8 : head.length + tail.length > 6) return null;
  const g = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let i = 0; i < head.length; i++) g[i] = group(head[i]);
  for (let i = 0; i < tail.length; i++) g[8 - tail.length + i] = group(tail[i]);
  for (const x of g) if (x < 0) return null;
  // RFC 5952 (formatIP): `::` stands for the first longest run of two or more zero groups, and only for it
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (dbl === -1 ? bestStart !== -1 : bestStart !== head.length || bestLen !== 8 - head.length - tail.length) return null;
  const w = (i: number) => BigInt(((g[i] << 16) | g[i + 1]) >>> 0);
  return (w(0) << 96n) | (w(2) << 64n) | (w(4) << 32n) | w(6);
}

/** One canonical group (lowercase, no leading zeros), or -1. */
function group(x: string): number {
  return /^(0|[1-9a-f][0-9a-f]{0,3})$/.test(x) ? parseInt(x, 16) : -1;
}

/** Whether [start, end] meets a sorted, disjoint list (binary search for the last range starting at or before end). */
function overlaps<T extends number | bigint>(list: ReadonlyArray<readonly [T, T]>, start: T, end: T): boolean {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid][0] <= end) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 && list[lo - 1][1] >= start;
}

/** Sorts and merges overlapping or adjacent ranges, so overlaps() and covers() can search them. */
function normalize(r: Ranges): Ranges {
  const v4: Array<[number, number]> = [];
  for (const x of [...r.v4].sort((a, b) => a[0] - b[0])) {
    const last = v4[v4.length - 1];
    if (last && x[0] <= last[1] + 1) last[1] = Math.max(last[1], x[1]);
    else v4.push([x[0], x[1]]);
  }
  const v6: Array<[bigint, bigint]> = [];
  for (const x of [...r.v6].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    const last = v6[v6.length - 1];
    if (last && x[0] <= last[1] + 1n) last[1] = last[1] > x[1] ? last[1] : x[1];
    else v6.push([x[0], x[1]]);
  }
  return { v4, v6 };
}

/** One distinct SrcIPs array and the live nodes it admits. */
interface Entry {
  readonly src: readonly string[];
  refs: number;
  /** Covers the tailnet: its users are open (see the header); `bits` stays empty. */
  wide: boolean;
  bits: Uint32Array;
  /** Slots whose rules use this array. */
  users: Set<number>;
  /** Its parts that are not a node's address (CIDRs, ranges, other hosts): tested against newcomers. */
  ranges: Ranges;
  /** Its member slots when they are few (OR-ing them bit by bit beats a whole row), null when many; undefined: not yet known. */
  few?: number[] | null;
}

/** An array's members as a list when there are fewer than one per 8 words of its row. */
function fewMembers(e: Entry): number[] | null {
  if (e.few !== undefined) return e.few;
  const limit = e.bits.length >>> 3;
  const out: number[] = [];
  const w = e.bits;
  for (let i = 0; i < w.length; i++) {
    let x = w[i];
    while (x !== 0) {
      if (out.length >= limit) return (e.few = null);
      const low = x & -x;
      out.push(i * 32 + 31 - Math.clz32(low));
      x ^= low;
    }
  }
  return (e.few = out);
}

interface Slot {
  id: number;
  fp: Footprint;
  /** The distinct source arrays of its rules. */
  entries: Entry[];
  wide: number;
}

/**
 * The set of peers one node is sent, frozen at one moment. `all` means every other live node (the open
 * case), so it needs no bits; otherwise bit i stands for node table[i]. Snapshots are replaced, not
 * changed, so an unchanged visible set keeps its object and "did it change?" is a reference comparison.
 */
export class VisibleSet {
  static readonly ALL = new VisibleSet(true, new Uint32Array(0), [], new Map());
  private sorted: number[] | null = null;

  constructor(
    readonly all: boolean,
    readonly bits: Uint32Array,
    /** Slot → node id, append-only (shared by every snapshot of one PeerVisibility). */
    readonly table: readonly number[],
    private readonly slotOf: ReadonlyMap<number, number>,
  ) {}

  /** Whether a node that is live now is visible (meant for the current snapshot). */
  has(id: number): boolean {
    if (this.all) return true;
    const s = this.slotOf.get(id);
    return s !== undefined && s >>> 5 < this.bits.length && (this.bits[s >>> 5] & (1 << (s & 31))) !== 0;
  }

  /** Visible node ids, ascending (not for `all`). */
  ids(): number[] {
    if (this.sorted === null) {
      const out: number[] = [];
      forEachBit(this.bits, (s) => out.push(this.table[s]));
      let ordered = true;
      for (let i = 1; i < out.length && ordered; i++) if (out[i - 1] > out[i]) ordered = false;
      if (!ordered) out.sort((a, b) => a - b);
      this.sorted = out;
    }
    return this.sorted;
  }
}

function forEachBit(w: Uint32Array, f: (bit: number) => void): void {
  for (let i = 0; i < w.length; i++) {
    let x = w[i];
    while (x !== 0) {
      const low = x & -x;
      f(i * 32 + 31 - Math.clz32(low));
      x ^= low;
    }
  }
}

/**
 * Ids that entered and left between two snapshots of the same instance (same table), from the changed
 * words only; null when the snapshots cannot be compared that way.
 */
export function visibleChanges(prev: VisibleSet, cur: VisibleSet): { added: number[]; removed: number[] } | null {
  if (prev.all || cur.all || prev.table !== cur.table) return null;
  const added: number[] = [];
  const removed: number[] = [];
  const n = Math.max(prev.bits.length, cur.bits.length);
  for (let i = 0; i < n; i++) {
    const a = i < prev.bits.length ? prev.bits[i] : 0;
    const b = i < cur.bits.length ? cur.bits[i] : 0;
    let x = a ^ b;
    while (x !== 0) {
      const low = x & -x;
      const id = cur.table[i * 32 + 31 - Math.clz32(low)];
      ((b & low) !== 0 ? added : removed).push(id);
      x ^= low;
    }
  }
  return { added, removed };
}

export class PeerVisibility {
  private words = 1;
  private readonly slots: Array<Slot | null> = [];
  private readonly table: number[];
  private readonly slotOf: Map<number, number>;
  /** Slots the previous instance gave to nodes, kept for them when they are added again (see constructor). */
  private readonly reserved: Map<number, number>;
  /** Canonical address text → slot, for the host entries that make up most SrcIPs arrays. */
  private readonly hostSlot = new Map<string, number>();
  private readonly entries = new Map<readonly string[], Entry>();
  private inRows: Uint32Array[] = [];
  private outRows: Uint32Array[] = [];
  private open: Uint32Array = new Uint32Array(1);
  private readonly snaps: Array<VisibleSet | undefined> = [];
  /** The slot's snapshot may be out of date (rebuilt on the next visible()). */
  private readonly stale: boolean[] = [];
  private readonly dirty = new Set<number>();
  private allDirty = false;
  /** Sorted (v4, slot) pairs of live nodes, for the range parts of new arrays. */
  private v4Index: Array<[number, number]> = [];
  private v6Index: Array<[bigint, number]> = [];
  private readonly routers = new Set<number>();
  /** load() in progress: the address indexes are sorted at its end. */
  private bulk = false;
  /** Rows handed out by row() during load(). */
  private block = EMPTY_ROW;
  private blockNext = 0;

  /** A zeroed row of `words` words. */
  private row(): Uint32Array {
    if (this.blockNext + this.words <= this.block.length) {
      const r = this.block.subarray(this.blockNext, this.blockNext + this.words);
      this.blockNext += this.words;
      return r;
    }
    return new Uint32Array(this.words);
  }

  /** recomputeIn's work row (rows change in place, so a rule change allocates nothing). */
  private scratch = new Uint32Array(0);

  /**
   * With `prev` (a new compiler, same nodes): every node keeps its slot and the bit layout stays, so a
   * visible set that came out the same keeps its snapshot object, and one that changed is diffed word by
   * word against the old one. The previous instance must not be used afterwards.
   */
  constructor(prev?: PeerVisibility) {
    if (!prev) {
      this.table = [];
      this.slotOf = new Map();
      this.reserved = new Map();
      return;
    }
    this.table = prev.table;
    this.slotOf = prev.slotOf;
    this.reserved = new Map(prev.slotOf);
    this.slotOf.clear();
    this.words = prev.words;
    this.open = new Uint32Array(this.words);
    for (let s = 0; s < this.table.length; s++) {
      this.slots.push(null);
      this.inRows.push(EMPTY);
      this.outRows.push(EMPTY);
      this.snaps.push(prev.snaps[s]);
      this.stale.push(true);
    }
  }

  /** Slots of removed nodes still held; the owner starts afresh when they outnumber the live ones. */
  deadSlots(): number {
    return this.table.length - this.slotOf.size;
  }

  hasNode(id: number): boolean {
    return this.slotOf.has(id);
  }

  get size(): number {
    return this.slotOf.size;
  }

  /** Adds a node or changes its addresses/routes. */
  setNode(id: number, addresses: readonly string[], routes: readonly string[]): void {
    const fp = footprintOf(addresses, routes);
    const s = this.slotOf.get(id);
    if (s !== undefined) {
      const old = (this.slots[s] as Slot).fp;
      if (old.texts.join() === fp.texts.join() && JSON.stringify(old.routes, big) === JSON.stringify(fp.routes, big)) return;
      // Addresses or routes changed (rare): re-test membership everywhere, keeping the slot.
      this.unindex(s);
      (this.slots[s] as Slot).fp = fp;
      this.index(s);
      const users = new Set<number>();
      for (const e of this.entries.values()) {
        if (e.wide) continue;
        const member = fp.texts.some((t) => e.src.includes(t)) || this.admitsRanges(e, fp);
        if (member === hasBit(e.bits, s)) continue;
        if (member) setBit(e.bits, s);
        else clearBit(e.bits, s);
        e.few = undefined;
        for (const u of e.users) users.add(u);
      }
      for (const u of users) this.recomputeIn(u);
      return;
    }
    let slot = this.reserved.get(id);
    if (slot !== undefined) {
      this.reserved.delete(id);
      this.slots[slot] = { id, fp, entries: [], wide: 0 };
      this.inRows[slot] = this.row();
      this.outRows[slot] = this.row();
      this.stale[slot] = true;
    } else {
      slot = this.table.length;
      this.table.push(id);
      if (slot >= this.words * 32) this.grow();
      this.slots.push({ id, fp, entries: [], wide: 0 });
      this.inRows.push(this.row());
      this.outRows.push(this.row());
      this.snaps.push(undefined);
      this.stale.push(true);
    }
    this.slotOf.set(id, slot);
    this.index(slot);
    this.dirty.add(slot);
    // Existing arrays name a newcomer only through their non-node parts (a new node's address text was
    // nobody's when they were resolved).
    for (const e of this.entries.values()) {
      if (e.wide || !this.admitsRanges(e, fp)) continue;
      setBit(e.bits, slot);
      e.few = undefined;
      for (const u of e.users) {
        if (u === slot) continue;
        setBit(this.inRows[u], slot);
        setBit(this.outRows[slot], u);
        this.dirty.add(u);
      }
    }
  }

  removeNode(id: number): void {
    const s = this.slotOf.get(id);
    if (s === undefined) return;
    this.setSources(id, []);
    const inRow = this.inRows[s];
    forEachBit(this.outRows[s], (u) => {
      clearBit(this.inRows[u], s);
      this.dirty.add(u);
    });
    forEachBit(inRow, (u) => {
      clearBit(this.outRows[u], s);
      this.dirty.add(u);
    });
    for (const e of this.entries.values()) {
      if (!hasBit(e.bits, s)) continue;
      clearBit(e.bits, s);
      e.few = undefined;
    }
    this.unindex(s);
    this.slotOf.delete(id);
    this.slots[s] = null;
    this.inRows[s] = EMPTY;
    this.outRows[s] = EMPTY;
    this.snaps[s] = undefined;
    this.dirty.delete(s);
  }

  /**
   * Loads many nodes at once into a fresh instance: the same result as setNode for each, then setSources
   * for each, but the transpose is built per source array (OR its users into each member's row) instead
   * of bit by bit, which at 10,000 nodes is the difference between milliseconds and most of a second.
   */
  load(nodes: Iterable<{ id: number; addresses: readonly string[]; routes: readonly string[] }>, sourcesOf: (id: number) => Iterable<readonly string[]>): void {
    const list = [...nodes];
    // one allocation per row instead of one per doubling
    let slotsNeeded = this.table.length;
    for (const n of list) if (!this.reserved.has(n.id) && !this.slotOf.has(n.id)) slotsNeeded++;
    // an eighth of headroom for joins before the next doubling (bitsets are scanned whole: keep them tight)
    if (this.words * 32 < slotsNeeded) this.words = Math.ceil((slotsNeeded * 9) / 8 / 32);
    if (this.open.length < this.words) {
      const open = new Uint32Array(this.words);
      open.set(this.open);
      this.open = open;
    }
    // every row of the load in one allocation (views into it; grow() copies rows out)
    this.block = new Uint32Array(2 * list.length * this.words);
    this.blockNext = 0;
    const ids: number[] = [];
    this.bulk = true; // index() appends; sorted once below
    for (const n of list) {
      this.setNode(n.id, n.addresses, n.routes);
      ids.push(n.id);
    }
    this.bulk = false;
    this.v4Index.sort((a, b) => a[0] - b[0]);
    this.v6Index.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const id of ids) this.setSources(id, sourcesOf(id), false);
    for (const e of this.entries.values()) {
      if (e.wide || e.users.size === 0) continue;
      const users = new Uint32Array(this.words);
      for (const u of e.users) setBit(users, u);
      forEachBit(e.bits, (m) => {
        const row = this.outRows[m];
        for (let i = 0; i < row.length; i++) row[i] |= users[i];
      });
    }
    for (const s of this.slotOf.values()) clearBit(this.outRows[s], s);
    this.allDirty = true;
  }

  /** A node's rules changed: the SrcIPs arrays of all of them (duplicates are fine). */
  setSources(id: number, sources: Iterable<readonly string[]>, transpose = true): void {
    const s = this.slotOf.get(id);
    if (s === undefined) return;
    const slot = this.slots[s] as Slot;
    const next: Entry[] = [];
    const seen = new Set<readonly string[]>();
    for (const src of sources) {
      if (seen.has(src)) continue;
      seen.add(src);
      let e = this.entries.get(src);
      if (!e) {
        e = this.resolve(src);
        this.entries.set(src, e);
      }
      next.push(e);
    }
    for (const e of next) {
      e.refs++;
      e.users.add(s);
    }
    for (const e of slot.entries) {
      e.refs--;
      if (!next.includes(e)) e.users.delete(s);
      if (e.refs === 0) this.entries.delete(e.src);
    }
    const wasOpen = slot.wide > 0;
    slot.entries = next;
    slot.wide = next.reduce((n, e) => n + (e.wide ? 1 : 0), 0);
    if (wasOpen !== slot.wide > 0) {
      if (slot.wide > 0) setBit(this.open, s);
      else clearBit(this.open, s);
      this.allDirty = true;
    }
    this.recomputeIn(s, transpose);
  }

  /** The node's visible set; the same object while it did not change. Call drainChanged() first. */
  visible(id: number): VisibleSet | null {
    const s = this.slotOf.get(id);
    if (s === undefined) return null;
    const snap = this.snaps[s];
    return snap !== undefined && !this.stale[s] ? snap : this.snapshot(s);
  }

  /**
   * The nodes whose visible set may have changed since the last call (a superset: their snapshots are
   * rebuilt lazily by visible(), keeping the old object when the bits came out the same).
   */
  drainChanged(): number[] {
    const slots = this.allDirty ? [...this.slotOf.values()] : [...this.dirty];
    this.allDirty = false;
    this.dirty.clear();
    const out: number[] = [];
    for (const s of slots) {
      this.stale[s] = true;
      out.push(this.table[s]);
    }
    return out;
  }

  private snapshot(s: number): VisibleSet {
    this.stale[s] = false;
    const before = this.snaps[s];
    let snap: VisibleSet;
    if ((this.open[s >>> 5] & (1 << (s & 31))) !== 0) {
      snap = VisibleSet.ALL;
    } else {
      const bits = new Uint32Array(this.words);
      const a = this.inRows[s];
      const b = this.outRows[s];
      for (let i = 0; i < bits.length; i++) bits[i] = a[i] | b[i] | this.open[i];
      clearBit(bits, s);
      snap = before && !before.all && sameBits(before.bits, bits) ? before : new VisibleSet(false, bits, this.table, this.slotOf);
    }
    this.snaps[s] = snap;
    return snap;
  }

  /** in[s] from its arrays; the transpose (unless load() builds it) and the dirty marks follow every changed bit. */
  private recomputeIn(s: number, transpose = true): void {
    const slot = this.slots[s];
    if (!slot) return;
    if (this.scratch.length !== this.words) this.scratch = new Uint32Array(this.words);
    const fresh = this.scratch;
    fresh.fill(0);
    for (const e of slot.entries) {
      if (e.wide) continue;
      const few = fewMembers(e);
      if (few !== null) {
        for (let k = 0; k < few.length; k++) fresh[few[k] >>> 5] |= 1 << (few[k] & 31);
        continue;
      }
      const b = e.bits;
      for (let i = 0; i < fresh.length; i++) fresh[i] |= b[i];
    }
    clearBit(fresh, s);
    const old = this.inRows[s];
    let changed = false;
    if (!transpose) {
      if (old.length === fresh.length) old.set(fresh);
      else this.inRows[s] = fresh.slice();
      return;
    }
    for (let i = 0; i < fresh.length; i++) {
      let x = fresh[i] ^ old[i];
      if (x === 0) continue;
      changed = true;
      while (x !== 0) {
        const low = x & -x;
        const u = i * 32 + 31 - Math.clz32(low);
        if ((fresh[i] & low) !== 0) setBit(this.outRows[u], s);
        else clearBit(this.outRows[u], s);
        this.dirty.add(u);
        x ^= low;
      }
    }
    if (changed) {
      old.set(fresh);
      this.dirty.add(s);
    }
  }

  /** Resolves a new SrcIPs array against the live nodes. */
  private resolve(src: readonly string[]): Entry {
    const bits = new Uint32Array(this.words);
    const parsed: Ranges = { v4: [], v6: [] };
    for (const t of src) {
      const s = this.hostSlot.get(t);
      if (s !== undefined) setBit(bits, s);
      else parseSrc(t, parsed);
    }
    const ranges = normalize(parsed);
    const wide = TAILNET_V4.every(([a, b]) => covers(ranges.v4, a, b)) || covers(ranges.v6, TAILNET_V6_START, TAILNET_V6_END);
    if (wide) return { src, refs: 0, wide, bits: new Uint32Array(this.words), users: new Set(), ranges };
    for (const [a, b] of ranges.v4) for (let i = lowerBound(this.v4Index, a); i < this.v4Index.length && this.v4Index[i][0] <= b; i++) setBit(bits, this.v4Index[i][1]);
    for (const [a, b] of ranges.v6) for (let i = lowerBound(this.v6Index, a); i < this.v6Index.length && this.v6Index[i][0] <= b; i++) setBit(bits, this.v6Index[i][1]);
    if (ranges.v4.length + ranges.v6.length > 0) {
      for (const r of this.routers) if (this.routesOverlap((this.slots[r] as Slot).fp, ranges)) setBit(bits, r);
    }
    return { src, refs: 0, wide, bits, users: new Set(), ranges };
  }

  /** Whether an array's non-node parts admit this footprint (its host parts cannot: see setNode). */
  private admitsRanges(e: Entry, fp: Footprint): boolean {
    for (const v of fp.v4) if (overlaps(e.ranges.v4, v, v)) return true;
    for (const v of fp.v6) if (overlaps(e.ranges.v6, v, v)) return true;
    return this.routesOverlap(fp, e.ranges);
  }

  private routesOverlap(fp: Footprint, ranges: Ranges): boolean {
    for (const [a, b] of fp.routes.v4) if (overlaps(ranges.v4, a, b)) return true;
    for (const [a, b] of fp.routes.v6) if (overlaps(ranges.v6, a, b)) return true;
    return false;
  }

  private index(s: number): void {
    const fp = (this.slots[s] as Slot).fp;
    for (const t of fp.texts) this.hostSlot.set(t, s);
    if (this.bulk) {
      for (const v of fp.v4) this.v4Index.push([v, s]);
      for (const v of fp.v6) this.v6Index.push([v, s]);
    } else {
      for (const v of fp.v4) this.v4Index.splice(lowerBound(this.v4Index, v), 0, [v, s]);
      for (const v of fp.v6) this.v6Index.splice(lowerBound(this.v6Index, v), 0, [v, s]);
    }
    if (fp.routes.v4.length + fp.routes.v6.length > 0) this.routers.add(s);
  }

  private unindex(s: number): void {
    const fp = (this.slots[s] as Slot).fp;
    for (const t of fp.texts) if (this.hostSlot.get(t) === s) this.hostSlot.delete(t);
    this.v4Index = this.v4Index.filter((x) => x[1] !== s);
    this.v6Index = this.v6Index.filter((x) => x[1] !== s);
    this.routers.delete(s);
  }

  /** Doubles every bitset's capacity. */
  private grow(): void {
    const words = this.words * 2;
    const widen = (a: Uint32Array): Uint32Array => {
      const b = new Uint32Array(words);
      b.set(a);
      return b;
    };
    this.inRows = this.inRows.map(widen);
    this.outRows = this.outRows.map(widen);
    this.open = widen(this.open);
    for (const e of this.entries.values()) e.bits = widen(e.bits);
    this.words = words;
  }
}

const EMPTY = new Uint32Array(0);
const EMPTY_ROW: Uint32Array = EMPTY;

function lowerBound<T extends number | bigint>(list: ReadonlyArray<readonly [T, number]>, v: T): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid][0] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function hasBit(w: Uint32Array, i: number): boolean {
  return i >>> 5 < w.length && (w[i >>> 5] & (1 << (i & 31))) !== 0;
}

function setBit(w: Uint32Array, i: number): void {
  w[i >>> 5] |= 1 << (i & 31);
}

function clearBit(w: Uint32Array, i: number): void {
  if (i >>> 5 < w.length) w[i >>> 5] &= ~(1 << (i & 31));
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if ((i < a.length ? a[i] : 0) !== (i < b.length ? b[i] : 0)) return false;
  return true;
}

function big(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}
