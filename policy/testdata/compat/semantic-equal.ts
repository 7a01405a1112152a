// Semantic equality of two FilterRule lists for one node, judged as Tailscale's client filter
// (wgengine/filter) judges them: would a client receiving either list admit exactly the same packets and
// see the same capabilities? Used by the compatibility test against recorded Tailscale output.
//
// The rules of that judgement (issue 11):
// - only destinations inside the node's own addresses and the routes it serves count (the client drops
//   anything else before the filter), so destinations are clipped to `served` first;
// - ICMP and ICMPv6 match on addresses alone: any rule, of any protocol and port, covering src → dst;
// - TCP, UDP and SCTP match protocol, addresses and port;
// - any other protocol matches only rules that name it and open every port;
// - capabilities compare per (src, dst) pair: for each name, whether it is granted and which values
//   (order-insensitive, duplicates irrelevant);
// - how address sets are spelled (CIDR, range, single IP, `*`), split, merged or ordered does not matter.
//
// Method: each list becomes, per class (icmp, tcp, udp, sctp, proto N, cap name, cap name=value), a set
// of boxes src-range × dst-range × port-range. Both sides' boxes of a class are laid on one grid made of
// every box edge on the src and dst axes (a sweep partition), so each grid cell is either fully inside
// or fully outside every box; the cells are then compared by their merged port lists. No address is
// enumerated, so /8 and /48 ranges cost the same as single hosts. Test-only; not for hot paths.
import { parseIP, parsePrefix } from '../../../types/ip.js';
import type { FilterRule, PortRange } from '../../../types/filter-rule.js';
import { bytesToBig, normalize, prefixRange, type Range } from '../../ip-range.js';

const TCP = 6;
const UDP = 17;
const SCTP = 132;
const ICMP = 1;
const ICMPV6 = 58;
const DEFAULT_PROTOS = [TCP, UDP, ICMP, ICMPV6];
const NO_PORT: PortRange = { First: 0, Last: 0 };

interface FamRange extends Range {
  family: 4 | 6;
}

interface Box {
  family: 4 | 6;
  src: Range;
  dst: Range;
  port: PortRange;
}

/** Parses one address-set spelling: `*`, a single IP, a CIDR, or `A-B`. Throws on anything else. */
export function parseAddrSet(text: string): FamRange[] {
  if (text === '*') {
    return [
      { family: 4, start: 0n, end: (1n << 32n) - 1n },
      { family: 6, start: 0n, end: (1n << 128n) - 1n },
    ];
  }
  const dash = text.indexOf('-');
  if (dash > 0) {
    const a = parseIP(text.slice(0, dash));
    const b = parseIP(text.slice(dash + 1));
    if (!a || !b || a.family !== b.family) throw new Error(`bad address range ${JSON.stringify(text)}`);
    return [{ family: a.family, start: bytesToBig(a.bytes), end: bytesToBig(b.bytes) }];
  }
  if (text.includes('/')) {
    const p = parsePrefix(text);
    if (!p) throw new Error(`bad prefix ${JSON.stringify(text)}`);
    return [{ family: p.family, ...prefixRange(p) }];
  }
  const ip = parseIP(text);
  if (!ip) throw new Error(`bad address ${JSON.stringify(text)}`);
  const v = bytesToBig(ip.bytes);
  return [{ family: ip.family, start: v, end: v }];
}

function parseAll(list: readonly string[]): FamRange[] {
  return list.flatMap(parseAddrSet);
}

/** `ranges` clipped to `served` (same family only). */
function clip(ranges: FamRange[], served: FamRange[]): FamRange[] {
  const out: FamRange[] = [];
  for (const r of ranges) {
    for (const s of served) {
      if (s.family !== r.family) continue;
      const start = r.start > s.start ? r.start : s.start;
      const end = r.end < s.end ? r.end : s.end;
      if (start <= end) out.push({ family: r.family, start, end });
    }
  }
  return out;
}

/** Class name → boxes. */
type Classes = Map<string, Box[]>;

function add(classes: Classes, key: string, srcs: FamRange[], dsts: FamRange[], port: PortRange): void {
  let list = classes.get(key);
  if (!list) classes.set(key, (list = []));
  // A packet has one family on both sides: a v4 source never meets a v6 destination.
  for (const s of srcs) for (const d of dsts) if (s.family === d.family) list.push({ family: s.family, src: s, dst: d, port });
}

/** Canonical JSON (sorted keys) so that equal capability values compare equal however they are spelled. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Splits a rule list into per-class boxes, destinations clipped to what the node serves. */
export function classify(rules: readonly FilterRule[], served: readonly string[]): Classes {
  const own = parseAll(served);
  const classes: Classes = new Map();
  for (const r of rules) {
    const srcs = parseAll(r.SrcIPs);
    for (const dp of r.DstPorts ?? []) {
      const dsts = clip(parseAddrSet(dp.IP), own);
      if (dsts.length === 0) continue;
      const protos = r.IPProto && r.IPProto.length > 0 ? r.IPProto : DEFAULT_PROTOS;
      add(classes, 'icmp', srcs, dsts, NO_PORT); // any rule admits ICMP/ICMPv6 between its addresses
      for (const p of new Set(protos)) {
        if (p === TCP || p === UDP || p === SCTP) add(classes, `proto ${p}`, srcs, dsts, dp.Ports);
        else if (p !== ICMP && p !== ICMPV6 && dp.Ports.First === 0 && dp.Ports.Last === 65535) add(classes, `proto ${p}`, srcs, dsts, NO_PORT);
      }
    }
    for (const cg of r.CapGrant ?? []) {
      const dsts = clip(parseAll(cg.Dsts), own);
      if (dsts.length === 0) continue;
      for (const [name, values] of Object.entries(cg.CapMap)) {
        add(classes, `cap ${name}`, srcs, dsts, NO_PORT);
        for (const v of values ?? []) add(classes, `cap ${name} = ${canonicalJson(v)}`, srcs, dsts, NO_PORT);
      }
    }
  }
  return classes;
}

function formatRange(family: 4 | 6, r: Range): string {
  const fmt = (v: bigint): string => {
    if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
    const parts: string[] = [];
    for (let i = 7; i >= 0; i--) parts.push(((v >> BigInt(i * 16)) & 0xffffn).toString(16));
    return parts.join(':');
  };
  return r.start === r.end ? fmt(r.start) : `${fmt(r.start)}-${fmt(r.end)}`;
}

/** Elementary intervals between sorted edges: [e_i, e_{i+1} - 1]. */
function edgesOf(ranges: Range[]): bigint[] {
  const set = new Set<bigint>();
  for (const r of ranges) {
    set.add(r.start);
    set.add(r.end + 1n);
  }
  return [...set].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function indexOf(edges: bigint[], v: bigint): number {
  let lo = 0;
  let hi = edges.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (edges[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function mergedPorts(ports: PortRange[]): string {
  const r = normalize(ports.map((p) => ({ start: BigInt(p.First), end: BigInt(p.Last) })));
  return r.map((x) => (x.start === x.end ? `${x.start}` : `${x.start}-${x.end}`)).join(',');
}

/** First difference between two box sets of one class and family, or null when they cover the same space. */
function diffBoxes(family: 4 | 6, a: Box[], b: Box[]): string | null {
  const all = [...a, ...b];
  if (all.length === 0) return null;
  const sEdges = edgesOf(all.map((x) => x.src));
  const dEdges = edgesOf(all.map((x) => x.dst));
  const cols = dEdges.length;
  const fill = (boxes: Box[]): Map<number, PortRange[]> => {
    const grid = new Map<number, PortRange[]>();
    for (const x of boxes) {
      const s0 = indexOf(sEdges, x.src.start);
      const s1 = indexOf(sEdges, x.src.end + 1n);
      const d0 = indexOf(dEdges, x.dst.start);
      const d1 = indexOf(dEdges, x.dst.end + 1n);
      for (let i = s0; i < s1; i++) {
        for (let j = d0; j < d1; j++) {
          const k = i * cols + j;
          const l = grid.get(k);
          if (l) l.push(x.port);
          else grid.set(k, [x.port]);
        }
      }
    }
    return grid;
  };
  const ga = fill(a);
  const gb = fill(b);
  const keys = [...new Set([...ga.keys(), ...gb.keys()])].sort((x, y) => x - y);
  for (const k of keys) {
    const pa = mergedPorts(ga.get(k) ?? []);
    const pb = mergedPorts(gb.get(k) ?? []);
    if (pa === pb) continue;
    const i = Math.floor(k / cols);
    const j = k % cols;
    const src = formatRange(family, { start: sEdges[i], end: sEdges[i + 1] - 1n });
    const dst = formatRange(family, { start: dEdges[j], end: dEdges[j + 1] - 1n });
    return `src ${src} → dst ${dst}: ours [${pa}] vs theirs [${pb}]`;
  }
  return null;
}

/**
 * Every semantic difference between `ours` and `theirs` on a node serving `served` (its own addresses and
 * approved routes, as CIDRs or IPs); an empty list means a client could not tell them apart.
 */
export function semanticDiff(ours: readonly FilterRule[], theirs: readonly FilterRule[], served: readonly string[]): string[] {
  const a = classify(ours, served);
  const b = classify(theirs, served);
  const out: string[] = [];
  for (const key of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    for (const family of [4, 6] as const) {
      const d = diffBoxes(
        family,
        (a.get(key) ?? []).filter((x) => x.family === family),
        (b.get(key) ?? []).filter((x) => x.family === family),
      );
      if (d) out.push(`${key}: ${d}`);
    }
  }
  return out;
}

export function semanticEqual(ours: readonly FilterRule[], theirs: readonly FilterRule[], served: readonly string[]): boolean {
  return semanticDiff(ours, theirs, served).length === 0;
}
