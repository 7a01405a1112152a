// The compiled, immutable form of one node's filter rules. A decision is:
//   dst trie → destination class (which DstPorts entries cover the address; whether it is local)
//   src trie → row (the permissions of the source's class, de-duplicated across classes)
//   cells[row, dst class, protocol slot] → port set → one range scan or bit test
// so the cost does not depend on the number of rules. Built by compileFilter (compile.ts); a new policy
// builds a new one and the engine swaps the reference (flow state is handed over by FilterEngine).
import type { FilterRule, RuleOrigin } from '../types/filter-rule.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6 } from '../types/ipproto.js';
import { parsePacket } from './packet-parser.js';
import { FRAG_LATER, ICMP_ECHO_REQUEST, ICMP_OTHER, type ParsedPacket, PKT_FRAGMENT_SHORT, PKT_MALFORMED } from './packet.js';
import { portSetHas, type PortSets } from './port-set.js';
import { trieLookup, trieLookup4, trieLookup4w } from './prefix-trie.js';
import type { NormRule } from './rules.js';
import {
  VERDICT_ACCEPT_RULE,
  VERDICT_DROP_FRAGMENT,
  VERDICT_DROP_MALFORMED,
  VERDICT_DROP_LINK_LOCAL,
  VERDICT_DROP_MULTICAST,
  VERDICT_DROP_NO_RULE,
  VERDICT_DROP_NOT_LOCAL,
} from './verdict.js';

export interface CompiledFilterData {
  trie: Int32Array;
  src4Root: number;
  /** Offset of the IPv4 source trie's 16-bit first level in `trie`, or -1 (see TrieBuilder.addWide4). */
  src4Wide: number;
  src6Root: number;
  dst4Root: number;
  dst6Root: number;
  nDst: number;
  nSlots: number;
  protoSlot: Int16Array;
  cells: Int32Array;
  reach: Uint8Array;
  dstLocal: Uint8Array;
  ports: PortSets;
  capSrc4Root: number;
  capSrc6Root: number;
  capDst4Root: number;
  capDst6Root: number;
  nCapDst: number;
  capTable: Int32Array;
  capSets: Readonly<Record<string, readonly unknown[]>>[];
  rules: readonly FilterRule[];
  norm: readonly NormRule[];
  origins: readonly (RuleOrigin | undefined)[];
  localPrefixes: readonly string[];
  stats: CompileStats;
}

export interface CompileStats {
  rules: number;
  srcClasses: number;
  rows: number;
  dstClasses: number;
  portSets: number;
  protoSlots: number;
  /** Bytes held by the compiled typed arrays (the per-packet working set). */
  bytes: number;
  compileMs: number;
}

export class CompiledFilter {
  readonly trie: Int32Array;
  readonly src4Root: number;
  readonly src4Wide: number;
  readonly src6Root: number;
  readonly dst4Root: number;
  readonly dst6Root: number;
  readonly nDst: number;
  readonly nSlots: number;
  readonly protoSlot: Int16Array;
  readonly cells: Int32Array;
  readonly reach: Uint8Array;
  readonly dstLocal: Uint8Array;
  readonly ports: PortSets;
  readonly capSrc4Root: number;
  readonly capSrc6Root: number;
  readonly capDst4Root: number;
  readonly capDst6Root: number;
  readonly nCapDst: number;
  readonly capTable: Int32Array;
  readonly capSets: Readonly<Record<string, readonly unknown[]>>[];
  /** The rules as given (explain shows them). */
  readonly rules: readonly FilterRule[];
  readonly norm: readonly NormRule[];
  readonly origins: readonly (RuleOrigin | undefined)[];
  readonly localPrefixes: readonly string[];
  readonly stats: CompileStats;

  constructor(d: CompiledFilterData) {
    this.trie = d.trie;
    this.src4Root = d.src4Root;
    this.src4Wide = d.src4Wide;
    this.src6Root = d.src6Root;
    this.dst4Root = d.dst4Root;
    this.dst6Root = d.dst6Root;
    this.nDst = d.nDst;
    this.nSlots = d.nSlots;
    this.protoSlot = d.protoSlot;
    this.cells = d.cells;
    this.reach = d.reach;
    this.dstLocal = d.dstLocal;
    this.ports = d.ports;
    this.capSrc4Root = d.capSrc4Root;
    this.capSrc6Root = d.capSrc6Root;
    this.capDst4Root = d.capDst4Root;
    this.capDst6Root = d.capDst6Root;
    this.nCapDst = d.nCapDst;
    this.capTable = d.capTable;
    this.capSets = d.capSets;
    this.rules = d.rules;
    this.norm = d.norm;
    this.origins = d.origins;
    this.localPrefixes = d.localPrefixes;
    this.stats = d.stats;
    Object.freeze(this);
  }

  /**
   * Steps 3–4 of filter.md: multicast / link-local / not-local destinations. Stores the destination
   * class in p.dstClass; returns 0 to continue or a drop verdict.
   */
  classifyDst(buf: Uint8Array, p: ParsedPacket): number {
    let dc: number;
    if (p.family === 4) {
      const d = p.dst0;
      if (d >>> 28 === 0xe) return VERDICT_DROP_MULTICAST; // 224.0.0.0/4
      if (d === -1) return VERDICT_DROP_MULTICAST; // 255.255.255.255, limited broadcast
      if (d >>> 16 === 0xa9fe) return VERDICT_DROP_LINK_LOCAL; // 169.254.0.0/16
      dc = trieLookup4(this.trie, this.dst4Root, d);
    } else {
      const d = p.dst0;
      if (d >>> 24 === 0xff) return VERDICT_DROP_MULTICAST; // ff00::/8
      if (d >>> 22 === 0x3fa) return VERDICT_DROP_LINK_LOCAL; // fe80::/10
      dc = trieLookup(this.trie, this.dst6Root, buf, p.dstOff);
    }
    p.dstClass = dc;
    return this.dstLocal[dc] === 1 ? 0 : VERDICT_DROP_NOT_LOCAL;
  }

  /** The permission row of the packet's source address. */
  srcRow(buf: Uint8Array, p: ParsedPacket): number {
    return trieLookup(this.trie, p.family === 4 ? this.src4Root : this.src6Root, buf, p.srcOff);
  }

  /** Step 8: the rules alone (no flow state). Needs classifyDst first. */
  ruleVerdict(buf: Uint8Array, p: ParsedPacket): number {
    return p.hasPorts ? this.portVerdict(buf, p) : this.portlessVerdict(buf, p);
  }

  /** ruleVerdict for a packet with ports (the hot path; small enough for V8 to inline). */
  portVerdict(buf: Uint8Array, p: ParsedPacket): number {
    const row = p.family === 4 ? trieLookup4w(this.trie, this.src4Wide, this.src4Root, p.src0) : trieLookup(this.trie, this.src6Root, buf, p.srcOff);
    const slot = this.protoSlot[p.proto];
    if (slot < 0) return VERDICT_DROP_NO_RULE;
    const id = this.cells[(row * this.nDst + p.dstClass) * this.nSlots + slot];
    return portSetHas(this.ports, id, p.dport) ? VERDICT_ACCEPT_RULE : VERDICT_DROP_NO_RULE;
  }

  private portlessVerdict(buf: Uint8Array, p: ParsedPacket): number {
    const row = p.family === 4 ? trieLookup4w(this.trie, this.src4Wide, this.src4Root, p.src0) : trieLookup(this.trie, this.src6Root, buf, p.srcOff);
    const base = (row * this.nDst + p.dstClass) * this.nSlots;
    const proto = p.proto;
    if ((proto === IPPROTO_ICMP && p.family === 4) || (proto === IPPROTO_ICMPV6 && p.family === 6)) {
      // Echo requests pass when any rule lets the source reach this destination (so ping works when any
      // port is open); echo replies and errors need a flow (engine); other types are a port-less protocol.
      if (p.icmpKind === ICMP_ECHO_REQUEST) return this.reach[row * this.nDst + p.dstClass] === 1 ? VERDICT_ACCEPT_RULE : VERDICT_DROP_NO_RULE;
      if (p.icmpKind !== ICMP_OTHER) return VERDICT_DROP_NO_RULE;
    }
    const slot = this.protoSlot[proto];
    if (slot < 0) return VERDICT_DROP_NO_RULE;
    return this.ports.full[this.cells[base + slot]] === 1 ? VERDICT_ACCEPT_RULE : VERDICT_DROP_NO_RULE;
  }

  /**
   * The stateless verdict (no flows, no fragment memory): what the rules alone say about an inbound
   * packet. The differential tests compare this with the reference matcher.
   */
  decide(buf: Uint8Array, off: number, len: number, p: ParsedPacket): number {
    const st = parsePacket(buf, off, len, p);
    if (st === PKT_MALFORMED) return VERDICT_DROP_MALFORMED;
    const pre = this.classifyDst(buf, p);
    if (pre !== 0) return pre;
    if (st === PKT_FRAGMENT_SHORT || p.frag === FRAG_LATER) return VERDICT_DROP_FRAGMENT;
    return this.ruleVerdict(buf, p);
  }

  /**
   * Would the rules accept a new `proto` connection from `src` to `dst`:`dport`? Addresses are 4/16-byte
   * arrays. Used to re-judge flows when the filter is replaced; not on the packet path.
   */
  allowsTuple(family: number, proto: number, src: Uint8Array, dst: Uint8Array, dport: number, portless: boolean): boolean {
    const dc = trieLookup(this.trie, family === 4 ? this.dst4Root : this.dst6Root, dst, 0);
    if (this.dstLocal[dc] !== 1) return false;
    const row = trieLookup(this.trie, family === 4 ? this.src4Root : this.src6Root, src, 0);
    const slot = this.protoSlot[proto];
    if (slot < 0) return false;
    const ps = this.cells[(row * this.nDst + dc) * this.nSlots + slot];
    return portless ? this.ports.full[ps] === 1 : portSetHas(this.ports, ps, dport);
  }

  /** Application capabilities `src` has at `dst` (4/16-byte arrays), or null. */
  capsFor(src: Uint8Array, dst: Uint8Array): Readonly<Record<string, readonly unknown[]>> | null {
    if (src.length !== dst.length || (src.length !== 4 && src.length !== 16)) return null;
    const v4 = src.length === 4;
    const sc = trieLookup(this.trie, v4 ? this.capSrc4Root : this.capSrc6Root, src, 0);
    const dc = trieLookup(this.trie, v4 ? this.capDst4Root : this.capDst6Root, dst, 0);
    const id = this.capTable[sc * this.nCapDst + dc];
    return id === 0 ? null : this.capSets[id];
  }
}
