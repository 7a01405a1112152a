// Every node address in one sorted table, so that turning a set of source nodes into SrcIPs is a sort of
// small integers (ranks) and a linear walk that merges numerically adjacent addresses into CIDRs,
// instead of sorting bigints per grant. Rebuilt lazily after node changes (one sort per batch).
import { normalize, rangeToCidrs, type Range, type RangeSet } from './ip-range.js';
import type { NodeRec } from './node-index.js';

export class AddressTable {
  private fam: Uint8Array = new Uint8Array(0);
  private big: bigint[] = [];
  private text: string[] = [];
  /** adj[r]: entry r+1 has the same family and value ≤ value[r] + 1 (duplicates count as adjacent). */
  private adj: Uint8Array = new Uint8Array(0);
  /** node name → ranks of its addresses. */
  private ranks = new Map<string, number[]>();

  constructor(nodes: Iterable<NodeRec>) {
    const all: Array<{ fam: 4 | 6; big: bigint; text: string; name: string }> = [];
    for (const rec of nodes) for (const a of rec.addrs) all.push({ fam: a.family, big: a.big, text: a.text, name: rec.name });
    all.sort((x, y) => x.fam - y.fam || (x.big < y.big ? -1 : x.big > y.big ? 1 : 0));
    const n = all.length;
    this.fam = new Uint8Array(n);
    this.adj = new Uint8Array(n);
    this.big = new Array<bigint>(n);
    this.text = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      const e = all[i];
      this.fam[i] = e.fam;
      this.big[i] = e.big;
      this.text[i] = e.text;
      let r = this.ranks.get(e.name);
      if (!r) this.ranks.set(e.name, (r = []));
      r.push(i);
    }
    for (let i = 0; i + 1 < n; i++) this.adj[i] = this.fam[i] === this.fam[i + 1] && this.big[i + 1] - this.big[i] <= 1n ? 1 : 0;
  }

  /**
   * SrcIPs for a set of nodes plus static ranges: IPv4 before IPv6, ascending, adjacent addresses merged
   * into the fewest CIDRs, single addresses written bare.
   */
  toSrcIPs(names: Iterable<string>, statics: RangeSet | null): string[] {
    let count = 0;
    let buf = new Int32Array(64);
    for (const name of names) {
      const r = this.ranks.get(name);
      if (!r) continue;
      for (const x of r) {
        if (count === buf.length) {
          const nb = new Int32Array(buf.length * 2);
          nb.set(buf);
          buf = nb;
        }
        buf[count++] = x;
      }
    }
    const ranks = buf.subarray(0, count).sort();
    const hasStatics = statics !== null && (statics.v4.length > 0 || statics.v6.length > 0);
    const out: string[] = [];
    const v4: Range[] = [];
    const v6: Range[] = [];
    let i = 0;
    while (i < count) {
      let j = i;
      while (j + 1 < count && (ranks[j + 1] === ranks[j] || (ranks[j + 1] === ranks[j] + 1 && this.adj[ranks[j]] === 1))) j++;
      const a = ranks[i];
      const b = ranks[j];
      if (hasStatics) (this.fam[a] === 4 ? v4 : v6).push({ start: this.big[a], end: this.big[b] });
      else if (this.big[a] === this.big[b]) out.push(this.text[a]);
      else rangeToCidrs({ start: this.big[a], end: this.big[b] }, this.fam[a] as 4 | 6, out);
      i = j + 1;
    }
    if (!hasStatics) return out;
    for (const r of normalize([...v4, ...statics.v4])) rangeToCidrs(r, 4, out);
    for (const r of normalize([...v6, ...statics.v6])) rangeToCidrs(r, 6, out);
    return out;
  }
}
