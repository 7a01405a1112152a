// compileFilter: FilterRule[] → CompiledFilter. The address space is partitioned twice per family
// (destinations by which DstPorts entries and local prefixes cover them; sources by which rule groups
// cover them); every source class gets a row of port sets, one per (destination class, protocol), and
// identical rows and port sets are shared. Rules with identical SrcIPs are grouped first, so a policy
// that grants many ports to the same sources costs one source partition, not one per rule.
//
// Memory is proportional to (distinct source classes × destination classes × protocols) plus the port
// sets; realistic node filters have a handful of destination classes (the node's own addresses and
// routes). A pathological policy mixing thousands of wide sources with thousands of distinct per-host
// port lists grows the port-set store quadratically; compile time and bytes are reported in `stats`.
import { GrantwireError } from '../types/errors.js';
import type { FilterRule, RuleOrigin } from '../types/filter-rule.js';
import { familyMax, parseRuleAddr, type AddrSpan } from './addr-range.js';
import { CompiledFilter } from './compiled-filter.js';
import { partitionSpans, type LabelledSpan } from './partition.js';
import { PortSetBuilder } from './port-set.js';
import { TrieBuilder } from './prefix-trie.js';
import { normalizeRules, type NormRule } from './rules.js';

export interface CompileOptions {
  /** The node's own addresses and the routes it serves, as CIDR text (a bare IP is a host). */
  localPrefixes: string[];
  /** origins[i] says which grant produced rules[i] (for explain). */
  origins?: RuleOrigin[];
}

class Interner {
  readonly ids = new Map<string, number>();
  readonly items: number[][] = [];
  intern(labels: number[]): number {
    const key = labels.join(',');
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.items.length;
      this.ids.set(key, id);
      this.items.push(labels);
    }
    return id;
  }
}

function spansFor(list: { spans: AddrSpan[]; label: number }[], family: 4 | 6): LabelledSpan[] {
  const out: LabelledSpan[] = [];
  for (const { spans, label } of list) for (const s of spans) if (s.family === family) out.push({ lo: s.lo, hi: s.hi, label });
  return out;
}

/** Sorts and merges flat [lo, hi] pairs (touching ranges join). */
function mergeRanges(flat: number[]): number[] {
  const pairs: number[] = [];
  for (let i = 0; i < flat.length; i += 2) pairs.push(flat[i] * 65536 + flat[i + 1]);
  pairs.sort((a, b) => a - b);
  const out: number[] = [];
  for (const x of pairs) {
    const lo = Math.floor(x / 65536);
    const hi = x - lo * 65536;
    const n = out.length;
    if (n > 0 && lo <= out[n - 1] + 1) {
      if (hi > out[n - 1]) out[n - 1] = hi;
    } else out.push(lo, hi);
  }
  return out;
}

/** Source-partition pieces from which the IPv4 source trie gets a 16-bit first level (TrieBuilder.addWide4). */
const WIDE4_MIN_PIECES = 2048;

export function compileFilter(rules: FilterRule[], options: CompileOptions): CompiledFilter {
  const t0 = performance.now();
  const norm = normalizeRules(rules);
  const localPrefixes = options?.localPrefixes ?? [];
  const localSpans: AddrSpan[] = [];
  for (const s of localPrefixes) {
    const spans = typeof s === 'string' ? parseRuleAddr(s) : null;
    if (!spans) throw new GrantwireError('ERR_FILTER_BAD_LOCAL', `local prefix ${JSON.stringify(s)} is not an IP or CIDR`);
    localSpans.push(...spans);
  }
  const tb = new TrieBuilder();

  // Destination classes. Label 0 = "local address"; label e + 1 = DstPorts entry e.
  const entries: { rule: NormRule; lo: number; hi: number; spans: AddrSpan[] }[] = [];
  for (const r of norm) for (const d of r.dsts) entries.push({ rule: r, lo: d.lo, hi: d.hi, spans: d.spans });
  const dstClasses = new Interner();
  dstClasses.intern([]);
  const dstItems = [{ spans: localSpans, label: 0 }, ...entries.map((e, i) => ({ spans: e.spans, label: i + 1 }))];
  const dstRoots: number[] = [];
  for (const fam of [4, 6] as const) {
    const part = partitionSpans(spansFor(dstItems, fam), familyMax(fam), (labels) => dstClasses.intern(labels));
    dstRoots.push(tb.add(fam === 4 ? 4 : 16, part.starts, part.values));
  }
  const nDst = dstClasses.items.length;
  const dstLocal = new Uint8Array(nDst);
  const entryClasses: number[][] = entries.map(() => []);
  dstClasses.items.forEach((labels, c) => {
    for (const l of labels) {
      if (l === 0) dstLocal[c] = 1;
      else entryClasses[l - 1].push(c);
    }
  });

  // Protocol slots: only protocols some rule names get a column.
  const protoSlot = new Int16Array(256).fill(-1);
  let nSlots = 0;
  for (const r of norm) if (r.dsts.length > 0) for (const p of r.protos) if (protoSlot[p] < 0) protoSlot[p] = nSlots++;
  if (nSlots === 0) nSlots = 1;
  const rowWidth = nDst * nSlots;

  // Source groups (identical SrcIPs text) and their contributions: flat (cell, lo, hi, full) quads.
  const groupIds = new Map<string, number>();
  const groups: { spans: AddrSpan[]; contrib: number[] }[] = [];
  entries.forEach((e, ei) => {
    const r = e.rule;
    const key = rules[r.index].SrcIPs.join('\n');
    let g = groupIds.get(key);
    if (g === undefined) {
      g = groups.length;
      groupIds.set(key, g);
      groups.push({ spans: r.srcs, contrib: [] });
    }
    const full = e.lo === 0 && e.hi === 65535 ? 1 : 0;
    const gc = groups[g].contrib;
    for (const c of entryClasses[ei]) for (const p of r.protos) gc.push(c * nSlots + protoSlot[p], e.lo, e.hi, full);
  });

  // Each group's contribution per cell, merged once: the common case (one group decides a cell for a
  // source class) then reuses the group's own port set instead of re-sorting ranges per class.
  const psb = new PortSetBuilder();
  const gCells: { cells: number[]; ranges: number[][]; full: boolean[]; ps: number[] }[] = groups.map((g) => {
    const byCell = new Map<number, { ranges: number[]; full: boolean }>();
    const c = g.contrib;
    for (let i = 0; i < c.length; i += 4) {
      let x = byCell.get(c[i]);
      if (!x) byCell.set(c[i], (x = { ranges: [], full: false }));
      x.ranges.push(c[i + 1], c[i + 2]);
      if (c[i + 3] === 1) x.full = true;
    }
    const cells = [...byCell.keys()];
    return { cells, ranges: cells.map((k) => mergeRanges(byCell.get(k)!.ranges)), full: cells.map((k) => byCell.get(k)!.full), ps: cells.map(() => -1) };
  });

  // Rows: one per distinct permission set; row 0 is "nothing allowed".
  const rowIds = new Map<string, number>();
  const rows: Int32Array[] = [];
  const emptyRow = new Int32Array(rowWidth);
  rowIds.set(emptyRow.join(','), 0);
  rows.push(emptyRow);
  let srcClasses = 0;
  const cellLists: number[][] = Array.from({ length: rowWidth }, () => []);
  const cellFull = new Uint8Array(rowWidth);
  const cellCount = new Int32Array(rowWidth);
  const cellOnly = new Int32Array(rowWidth * 2);
  const touched: number[] = [];
  const rowScratch = new Int32Array(rowWidth);
  const rowOf = (labels: number[]): number => {
    srcClasses++;
    for (const g of labels) {
      const gc = gCells[g];
      for (let j = 0; j < gc.cells.length; j++) {
        const cell = gc.cells[j];
        if (cellCount[cell]++ === 0) touched.push(cell);
        cellOnly[2 * cell] = g;
        cellOnly[2 * cell + 1] = j;
        const list = cellLists[cell];
        for (const x of gc.ranges[j]) list.push(x);
        if (gc.full[j]) cellFull[cell] = 1;
      }
    }
    const row = rowScratch;
    row.fill(0);
    for (const cell of touched) {
      if (cellCount[cell] === 1) {
        const gc = gCells[cellOnly[2 * cell]];
        const j = cellOnly[2 * cell + 1];
        if (gc.ps[j] < 0) gc.ps[j] = psb.intern(gc.ranges[j], gc.full[j]);
        row[cell] = gc.ps[j];
      } else row[cell] = psb.intern(cellLists[cell], cellFull[cell] === 1);
      cellLists[cell].length = 0;
      cellFull[cell] = 0;
      cellCount[cell] = 0;
    }
    touched.length = 0;
    const key = row.join(',');
    let id = rowIds.get(key);
    if (id === undefined) {
      id = rows.length;
      rowIds.set(key, id);
      rows.push(row.slice());
    }
    return id;
  };
  const groupItems = groups.map((g, i) => ({ spans: g.spans, label: i }));
  const srcRoots: number[] = [];
  let src4Wide = -1;
  for (const fam of [4, 6] as const) {
    const part = partitionSpans(spansFor(groupItems, fam), familyMax(fam), rowOf);
    const root = tb.add(fam === 4 ? 4 : 16, part.starts, part.values);
    srcRoots.push(root);
    // The source lookup is on every new-flow packet; for large policies a 16-bit first level saves
    // the top trie steps. Small policies skip it: its worst case (256 KiB) would dwarf the rest of the filter.
    if (fam === 4 && root >= 0 && part.starts.length >= WIDE4_MIN_PIECES) src4Wide = tb.addWide4(root);
  }
  const cells = new Int32Array(rows.length * rowWidth);
  rows.forEach((r, i) => cells.set(r, i * rowWidth));
  const reach = new Uint8Array(rows.length * nDst);
  for (let r = 0; r < rows.length; r++) {
    for (let c = 0; c < nDst; c++) {
      for (let s = 0; s < nSlots; s++) if (cells[r * rowWidth + c * nSlots + s] !== 0) reach[r * nDst + c] = 1;
    }
  }

  // Capabilities: the same partition trick over CapGrant sources and Dsts.
  const capEntries: { rule: number; capMap: Record<string, unknown[]>; spans: AddrSpan[] }[] = [];
  for (const r of norm) for (const g of r.caps) capEntries.push({ rule: r.index, capMap: g.capMap, spans: g.spans });
  const capRules = norm.filter((r) => r.caps.length > 0);
  const capSrcClasses = new Interner();
  capSrcClasses.intern([]);
  const capDstClasses = new Interner();
  capDstClasses.intern([]);
  const capSrcItems = capRules.map((r) => ({ spans: r.srcs, label: r.index }));
  const capDstItems = capEntries.map((e, k) => ({ spans: e.spans, label: k }));
  const capRoots: number[] = [];
  for (const fam of [4, 6] as const) {
    const s = partitionSpans(spansFor(capSrcItems, fam), familyMax(fam), (l) => capSrcClasses.intern(l));
    const d = partitionSpans(spansFor(capDstItems, fam), familyMax(fam), (l) => capDstClasses.intern(l));
    capRoots.push(tb.add(fam === 4 ? 4 : 16, s.starts, s.values), tb.add(fam === 4 ? 4 : 16, d.starts, d.values));
  }
  const nCapSrc = capSrcClasses.items.length;
  const nCapDst = capDstClasses.items.length;
  const capTable = new Int32Array(nCapSrc * nCapDst);
  const capSetIds = new Map<string, number>([['', 0]]);
  const capSets: Readonly<Record<string, readonly unknown[]>>[] = [Object.freeze({})];
  for (let sc = 0; sc < nCapSrc; sc++) {
    const srcRules = new Set(capSrcClasses.items[sc]);
    if (srcRules.size === 0) continue;
    for (let dc = 0; dc < nCapDst; dc++) {
      const ks = capDstClasses.items[dc].filter((k) => srcRules.has(capEntries[k].rule));
      const key = ks.join(',');
      let id = capSetIds.get(key);
      if (id === undefined) {
        const merged: Record<string, unknown[]> = {};
        for (const k of ks) for (const [name, vals] of Object.entries(capEntries[k].capMap)) (merged[name] ??= []).push(...vals);
        for (const v of Object.values(merged)) Object.freeze(v);
        id = capSets.length;
        capSetIds.set(key, id);
        capSets.push(Object.freeze(merged));
      }
      capTable[sc * nCapDst + dc] = id;
    }
  }

  const trie = tb.finish();
  const ports = psb.finish();
  const bytes =
    trie.byteLength + cells.byteLength + reach.byteLength + dstLocal.byteLength + protoSlot.byteLength + capTable.byteLength +
    ports.kind.byteLength + ports.full.byteLength + ports.off.byteLength + ports.len.byteLength + ports.ranges.byteLength + ports.bits.byteLength;
  return new CompiledFilter({
    trie,
    src4Root: srcRoots[0],
    src4Wide,
    src6Root: srcRoots[1],
    dst4Root: dstRoots[0],
    dst6Root: dstRoots[1],
    nDst,
    nSlots,
    protoSlot,
    cells,
    reach,
    dstLocal,
    ports,
    capSrc4Root: capRoots[0],
    capDst4Root: capRoots[1],
    capSrc6Root: capRoots[2],
    capDst6Root: capRoots[3],
    nCapDst,
    capTable,
    capSets,
    rules: Object.freeze([...rules]),
    norm,
    origins: norm.map((r) => options?.origins?.[r.index]),
    localPrefixes: Object.freeze([...localPrefixes]),
    stats: {
      rules: rules.length,
      srcClasses,
      rows: rows.length,
      dstClasses: nDst,
      portSets: psb.count,
      protoSlots: nSlots,
      bytes,
      compileMs: performance.now() - t0,
    },
  });
}
