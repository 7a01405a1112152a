// Multibit (stride 8) address tries in one flat Int32Array, built from an address-space partition
// (partition.ts) and walked one address byte per step: IPv4 in at most 4 reads, IPv6 in at most 16,
// whatever the number of rules. Leaves are pushed down (every slot is either a leaf or a child), so a
// lookup is a loop of array reads with no backtracking.
//
// Slot encoding (one int32):
//   v < 0          leaf: the class is ~v
//   v >= 0, even   full node at offset v >> 1: 256 slots indexed by the next address byte
//   v >= 0, odd    path node at offset v >> 1: [n, byte_1 … byte_n, slotIfAllEqual, leafOtherwise] —
//                  n consecutive levels whose 256 slots are all one leaf except one. Long IPv6 paths
//                  (the shared fd7a:115c:a1e0::/48, a local /128) collapse into one node: a /128 host
//                  costs ~19 words instead of 16 KiB of full nodes, and the walk compares independent
//                  bytes instead of chasing 16 pointers (measured ~2x faster IPv6 lookups).
// Immutable after build; safe to share between engines.

export class TrieBuilder {
  private words: number[] = [];

  /** Adds a trie for `starts`/`values` (an address-space partition of `nBytes`-byte addresses); returns its root slot. */
  add(nBytes: number, starts: bigint[], values: number[]): number {
    if (values.length === 1) return ~values[0];
    return this.node(nBytes, 0, 0n, 0, starts, values);
  }

  finish(): Int32Array {
    return Int32Array.from(this.words);
  }

  /**
   * A direct first level indexed by the top 16 bits of an IPv4 address for the trie at `root`: entry k
   * is the slot reached after those 16 bits are k, so trieLookup4w starts two levels down (one read
   * instead of two or more steps, one of them often a path-node compare). Only the span of prefixes
   * that need more steps is stored ([first, count, slots...]); addresses outside it walk from `root`,
   * which ends in a leaf within two steps. A tailnet's sources (100.64.0.0/10) take at most 64 entries;
   * the worst case is 256 KiB, so the caller keeps it for large tries. Returns the table's offset.
   */
  addWide4(root: number): number {
    const slots = new Int32Array(65536);
    let first = -1;
    let last = -1;
    for (let hi = 0; hi < 256; hi++) {
      const v1 = this.step(root, hi);
      for (let lo = 0; lo < 256; lo++) {
        const k = (hi << 8) | lo;
        const v = this.step(v1, lo);
        slots[k] = v;
        if (v >= 0) {
          if (first < 0) first = k;
          last = k;
        }
      }
    }
    const w = this.words;
    const off = w.length;
    if (first < 0) {
      w.push(0, 0);
      return off;
    }
    w.push(first, last - first + 1);
    for (let k = first; k <= last; k++) w.push(slots[k]);
    return off;
  }

  /** The slot reached from slot `v` after one address byte `b` (a path node's tail is copied when cut). */
  private step(v: number, b: number): number {
    if (v < 0) return v;
    const w = this.words;
    const o = v >> 1;
    if ((v & 1) === 0) return w[o + b];
    const n = w[o];
    if (b !== w[o + 1]) return w[o + n + 2];
    if (n === 1) return w[o + 2];
    const tail = w.length;
    w.push(n - 1);
    for (let j = 2; j <= n + 2; j++) w.push(w[o + j]);
    return (tail << 1) | 1;
  }

  get size(): number {
    return this.words.length;
  }

  /** Builds the node at `depth` covering [base, base + 256 * childSpan); piece `i` contains `base`. */
  private node(nBytes: number, depth: number, base: bigint, i: number, starts: bigint[], values: number[]): number {
    const span = 1n << BigInt(8 * (nBytes - depth - 1));
    const end = base + (span << 8n);
    const n = starts.length;
    // Runs of (firstSlot, slotValue); a slot value is a leaf (~class) or a child pointer.
    const runFirst: number[] = [];
    const runValue: number[] = [];
    const push = (slot: number, v: number): void => {
      if (runValue.length > 0 && runValue[runValue.length - 1] === v && v < 0) return;
      runFirst.push(slot);
      runValue.push(v);
    };
    let slot = 0;
    while (slot < 256) {
      const next = i + 1 < n ? starts[i + 1] : end;
      if (next >= end) {
        push(slot, ~values[i]);
        break;
      }
      const k = Number((next - base) / span);
      if (k > slot) push(slot, ~values[i]);
      const childStart = base + BigInt(k) * span;
      if (next === childStart) {
        // The boundary falls on a child edge: child k starts in piece i + 1.
        i++;
        slot = k;
        continue;
      }
      push(k, this.node(nBytes, depth + 1, childStart, i, starts, values));
      const childEnd = childStart + span;
      while (i + 1 < n && starts[i + 1] <= childEnd) i++;
      slot = k + 1;
    }
    // Path node: everything one leaf value except a single slot.
    const r = runValue.length;
    if (r === 2 || r === 3) {
      const a = runValue[0];
      let single = -1;
      if (r === 3 && runValue[2] === a && runFirst[2] === runFirst[1] + 1) single = runFirst[1];
      else if (r === 2 && runFirst[1] === 255) single = 255;
      else if (r === 2 && runFirst[1] === 1) single = 0;
      if (single >= 0) {
        const other = single === 0 ? runValue[1] : r === 3 ? a : runValue[0];
        const special = single === 0 ? runValue[0] : runValue[1];
        if (other < 0) {
          const w = this.words;
          // Merge with a child path node that has the same "otherwise" leaf (it was written last).
          if (special >= 0 && (special & 1) === 1) {
            const co = special >> 1;
            const cn = w[co];
            if (co + cn + 3 === w.length && w[co + cn + 2] === other) {
              const bytes = w.slice(co + 1, co + 1 + cn);
              const eq = w[co + cn + 1];
              w.length = co;
              w.push(cn + 1, single, ...bytes, eq, other);
              return (co << 1) | 1;
            }
          }
          const off = w.length;
          w.push(1, single, special, other);
          return (off << 1) | 1;
        }
      }
    }
    const off = this.words.length;
    for (let s = 0; s < 256; s++) this.words.push(0);
    for (let j = 0; j < r; j++) {
      const last = j + 1 < r ? runFirst[j + 1] : 256;
      for (let s = runFirst[j]; s < last; s++) this.words[off + s] = runValue[j];
    }
    return off << 1;
  }
}

/** Class of the address at buf[pos..]: a few array reads, no allocation. */
export function trieLookup(t: Int32Array, root: number, buf: Uint8Array, pos: number): number {
  let v = root;
  while (v >= 0) {
    const o = v >> 1;
    if ((v & 1) === 0) {
      v = t[o + buf[pos++]];
      continue;
    }
    const n = t[o];
    let j = 0;
    while (j < n && buf[pos + j] === t[o + 1 + j]) j++;
    v = j === n ? t[o + 1 + n] : t[o + 2 + n];
    pos += n;
  }
  return ~v;
}

/** trieLookup for an IPv4 address given as a 32-bit word (saves the byte loads on the packet path). */
export function trieLookup4(t: Int32Array, root: number, addr: number): number {
  return walk4(t, root, 24, addr);
}

/** The IPv4 trie walk from node `v` with `shift` bits of `addr` still above the current byte. */
function walk4(t: Int32Array, v: number, shift: number, addr: number): number {
  while (v >= 0) {
    const o = v >> 1;
    if ((v & 1) === 0) {
      v = t[o + ((addr >>> shift) & 0xff)];
      shift -= 8;
      continue;
    }
    const n = t[o];
    let j = 0;
    while (j < n && ((addr >>> (shift - 8 * j)) & 0xff) === t[o + 1 + j]) j++;
    v = j === n ? t[o + 1 + n] : t[o + 2 + n];
    shift -= 8 * n;
  }
  return ~v;
}

/**
 * trieLookup4 through a 16-bit first level (TrieBuilder.addWide4) when `wide` >= 0 and the address's
 * top 16 bits fall in its span, else from `root`.
 * Same result as trieLookup4(t, root, addr).
 */
export function trieLookup4w(t: Int32Array, wide: number, root: number, addr: number): number {
  const k = (addr >>> 16) - (wide >= 0 ? t[wide] : 0);
  if (wide >= 0 && k >= 0 && k < t[wide + 1]) return walk4(t, t[wide + 2 + k], 8, addr);
  return walk4(t, root, 24, addr);
}
