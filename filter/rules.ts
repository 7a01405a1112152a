// Filter rules in checked, numeric form: what the compiler partitions, and what the reference matcher
// and explain() scan linearly. Bad rule text is local misuse (control sent us garbage): it throws a
// GrantwireError naming the rule and the entry, instead of silently dropping part of a rule.
import { GrantwireError } from '../types/errors.js';
import { DEFAULT_IPPROTOS, type FilterRule } from '../types/filter-rule.js';
import { parseRuleAddr, type AddrSpan } from './addr-range.js';

export interface NormDst {
  text: string;
  spans: AddrSpan[];
  lo: number;
  hi: number;
}

export interface NormCapGrant {
  spans: AddrSpan[];
  capMap: Record<string, unknown[]>;
}

export interface NormRule {
  index: number;
  srcs: AddrSpan[];
  dsts: NormDst[];
  /** Effective protocol list (the default set when IPProto is absent or empty). */
  protos: number[];
  caps: NormCapGrant[];
}

function bad(i: number, what: string): never {
  throw new GrantwireError('ERR_FILTER_BAD_RULE', `filter rule ${i}: ${what}`);
}

/** Per-compile memo: compiled policies repeat the same address lists across many rules. */
type AddrCache = Map<string, AddrSpan[] | null>;

function spansOf(i: number, field: string, list: unknown, cache: AddrCache): AddrSpan[] {
  if (!Array.isArray(list)) bad(i, `${field} must be an array`);
  const out: AddrSpan[] = [];
  for (const s of list) {
    let spans = typeof s === 'string' ? cache.get(s) : null;
    if (spans === undefined) {
      spans = parseRuleAddr(s as string);
      cache.set(s as string, spans);
    }
    if (!spans) bad(i, `${field} entry ${JSON.stringify(s)} is not an IP, CIDR, range or *`);
    for (const x of spans) out.push(x);
  }
  return out;
}

function isPort(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 65535;
}

export function normalizeRules(rules: FilterRule[]): NormRule[] {
  if (!Array.isArray(rules)) throw new GrantwireError('ERR_FILTER_BAD_RULE', 'filter rules must be an array');
  const cache: AddrCache = new Map();
  const srcLists = new Map<string, AddrSpan[]>();
  return rules.map((r, i): NormRule => {
    if (r === null || typeof r !== 'object') bad(i, 'not an object');
    if (!Array.isArray(r.SrcIPs)) bad(i, 'SrcIPs must be an array');
    const srcKey = r.SrcIPs.join('\n');
    let srcs = srcLists.get(srcKey);
    if (!srcs) {
      srcs = spansOf(i, 'SrcIPs', r.SrcIPs, cache);
      srcLists.set(srcKey, srcs);
    }
    const dsts: NormDst[] = [];
    for (const d of r.DstPorts ?? []) {
      if (d === null || typeof d !== 'object' || typeof d.IP !== 'string') bad(i, 'DstPorts entry without IP');
      const ports = d.Ports;
      if (!ports || !isPort(ports.First) || !isPort(ports.Last) || ports.First > ports.Last) {
        bad(i, `DstPorts ${JSON.stringify(d.IP)}: bad port range ${JSON.stringify(ports)}`);
      }
      dsts.push({ text: d.IP, spans: spansOf(i, 'DstPorts IP', [d.IP], cache), lo: ports.First, hi: ports.Last });
    }
    let protos: number[] = [...DEFAULT_IPPROTOS];
    if (r.IPProto !== undefined && r.IPProto !== null) {
      if (!Array.isArray(r.IPProto)) bad(i, 'IPProto must be an array');
      for (const p of r.IPProto) {
        if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > 255) bad(i, `IPProto entry ${JSON.stringify(p)} is not 0-255`);
      }
      // An empty list means "not specified" on the wire (Go's nil vs empty slice is not preserved in JSON).
      if (r.IPProto.length > 0) protos = [...new Set(r.IPProto)];
    }
    const caps: NormCapGrant[] = [];
    for (const g of r.CapGrant ?? []) {
      if (g === null || typeof g !== 'object' || g.CapMap === null || typeof g.CapMap !== 'object') bad(i, 'CapGrant entry without CapMap');
      for (const [name, v] of Object.entries(g.CapMap)) if (!Array.isArray(v)) bad(i, `CapMap ${JSON.stringify(name)} is not an array`);
      caps.push({ spans: spansOf(i, 'CapGrant Dsts', g.Dsts, cache), capMap: g.CapMap });
    }
    return { index: i, srcs, dsts, protos, caps };
  });
}
