// Cryptokey routing table (paper §2, wireguard-go allowedips.go): longest-prefix match from an inner IP
// address to the peer that owns the prefix, one binary trie per family. Each prefix belongs to exactly
// one peer: inserting a prefix another peer holds moves it. Lookups read the address straight from the
// packet (offset + family), allocating nothing.
// Not concurrency-safe; one per device.
import { GrantwireError } from '../types/errors.js';
import { formatPrefix, hasHostBits, maskPrefix, parsePrefix, type IPPrefix } from '../types/ip.js';

interface Node<T> {
  zero: Node<T> | null;
  one: Node<T> | null;
  value: T | null;
}

function newNode<T>(): Node<T> {
  return { zero: null, one: null, value: null };
}

export class AllowedIPs<T> {
  private v4: Node<T> = newNode();
  private v6: Node<T> = newNode();

  /** Parses `a.b.c.d/n` or `v6/n` (host bits are masked off, like `wg set`); throws on bad input. */
  static parse(s: string): IPPrefix {
    const p = parsePrefix(s.trim()) ?? (() => {
      // A bare address means a host route.
      const host = parsePrefix(`${s.trim()}/${s.includes(':') ? 128 : 32}`);
      return host;
    })();
    if (!p) throw new GrantwireError('ERR_WG_BAD_ALLOWED_IP', `invalid allowed IP ${JSON.stringify(s)}: expected an address or prefix like 10.0.0.0/24`);
    return hasHostBits(p) ? maskPrefix(p) : p;
  }

  /** Assigns the prefix to `value`, taking it from whichever peer held it. */
  insert(prefix: IPPrefix, value: T): void {
    let n = prefix.family === 4 ? this.v4 : this.v6;
    const b = prefix.bytes;
    for (let i = 0; i < prefix.bits; i++) {
      const bit = (b[i >> 3] >> (7 - (i & 7))) & 1;
      let next = bit ? n.one : n.zero;
      if (!next) {
        next = newNode();
        if (bit) n.one = next;
        else n.zero = next;
      }
      n = next;
    }
    n.value = value;
  }

  /** Removes the prefix if `value` (when given) holds it. Returns true if something was removed. */
  remove(prefix: IPPrefix, value?: T): boolean {
    const path: Node<T>[] = [];
    let n: Node<T> | null = prefix.family === 4 ? this.v4 : this.v6;
    const b = prefix.bytes;
    for (let i = 0; i < prefix.bits && n; i++) {
      path.push(n);
      n = (b[i >> 3] >> (7 - (i & 7))) & 1 ? n.one : n.zero;
    }
    if (!n || n.value === null || (value !== undefined && n.value !== value)) return false;
    n.value = null;
    this.prune(path, n, b, prefix.bits);
    return true;
  }

  /** Removes every prefix held by `value`. */
  removeValue(value: T): void {
    for (const p of this.prefixesOf(value)) this.remove(p, value);
  }

  /** Longest-prefix match for the address at buf[off..] (4 or 16 bytes by family). */
  lookup(family: 4 | 6, buf: Uint8Array, off: number): T | null {
    let n: Node<T> | null = family === 4 ? this.v4 : this.v6;
    const bits = family === 4 ? 32 : 128;
    let best: T | null = n.value;
    for (let i = 0; i < bits; i++) {
      n = (buf[off + (i >> 3)] >> (7 - (i & 7))) & 1 ? n.one : n.zero;
      if (!n) break;
      if (n.value !== null) best = n.value;
    }
    return best;
  }

  /** Looks up the destination (outbound) of an IP packet; null for non-IP or no match. */
  lookupDestination(pkt: Uint8Array, off: number, len: number): T | null {
    const v = len > 0 ? pkt[off] >> 4 : 0;
    if (v === 4 && len >= 20) return this.lookup(4, pkt, off + 16);
    if (v === 6 && len >= 40) return this.lookup(6, pkt, off + 24);
    return null;
  }

  /** Looks up the source (inbound source check) of an IP packet. */
  lookupSource(pkt: Uint8Array, off: number, len: number): T | null {
    const v = len > 0 ? pkt[off] >> 4 : 0;
    if (v === 4 && len >= 20) return this.lookup(4, pkt, off + 12);
    if (v === 6 && len >= 40) return this.lookup(6, pkt, off + 8);
    return null;
  }

  /** The prefixes held by `value`, v4 first, in trie (address) order. */
  prefixesOf(value: T): IPPrefix[] {
    const out: IPPrefix[] = [];
    this.walk(this.v4, 4, new Uint8Array(4), 0, value, out);
    this.walk(this.v6, 6, new Uint8Array(16), 0, value, out);
    return out;
  }

  /** Same as prefixesOf, formatted. */
  formattedPrefixesOf(value: T): string[] {
    return this.prefixesOf(value).map(formatPrefix);
  }

  clear(): void {
    this.v4 = newNode();
    this.v6 = newNode();
  }

  private walk(n: Node<T>, family: 4 | 6, bytes: Uint8Array, depth: number, value: T, out: IPPrefix[]): void {
    if (n.value === value) out.push({ family, bytes: Uint8Array.from(bytes), bits: depth });
    if (n.zero) this.walk(n.zero, family, bytes, depth + 1, value, out);
    if (n.one) {
      bytes[depth >> 3] |= 0x80 >> (depth & 7);
      this.walk(n.one, family, bytes, depth + 1, value, out);
      bytes[depth >> 3] &= ~(0x80 >> (depth & 7));
    }
  }

  private prune(path: Node<T>[], leaf: Node<T>, b: Uint8Array, bits: number): void {
    let child = leaf;
    for (let i = bits - 1; i >= 0; i--) {
      if (child.value !== null || child.zero || child.one) return;
      const parent = path[i];
      if ((b[i >> 3] >> (7 - (i & 7))) & 1) parent.one = null;
      else parent.zero = null;
      child = parent;
    }
  }
}
