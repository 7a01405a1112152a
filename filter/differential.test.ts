// Differential test: the compiled filter vs the one linear rule matcher (types/rule-match.ts), on random
// policies (seeded) and random packets drawn from the same small address/port pools so that hits,
// near-misses and every drop reason all occur; the same for packet-free queries (allowsTuple, capsFor);
// and large tables whose IPv4 source trie takes the 16-bit first level. ≥ 1,000,000 packets under
// GRANTWIRE_LONG; a shorter run by default.
import { describe, expect, it } from 'vitest';
import { buildPacket } from '../packet/build.js';
import type { FilterRule } from '../types/filter-rule.js';
import { compareIP, formatIP, parseIP } from '../types/ip.js';
import { ipProtoHasPorts } from '../types/ipproto.js';
import { RuleMatcher } from '../types/rule-match.js';
import { compileFilter } from './compile.js';
import { FilterEngine } from './engine.js';
import { ParsedPacket } from './packet.js';
import { parsePacket } from './packet-parser.js';
import { ReferenceMatcher } from './reference.js';
import { rng } from './test-helpers.js';
import { isAccept, verdictReason } from './verdict.js';

const LONG = !!process.env.GRANTWIRE_LONG;
const POLICIES = LONG ? 500 : 60;
const PACKETS_PER_POLICY = LONG ? 2_500 : 1_000;

const V4 = ['100.64.0.1', '100.64.0.2', '100.64.0.3', '100.64.1.7', '100.127.255.254', '10.1.0.5', '10.1.0.200', '192.0.2.9', '224.0.0.251', '169.254.3.3', '255.255.255.255', '0.0.0.0'];
const V6 = ['fd7a:115c:a1e0::1', 'fd7a:115c:a1e0::2', 'fd7a:115c:a1e0::3', 'fd7a:115c:a1e0:1::7', 'fd00:1::5', 'fd00:1::8000:0:0:1', '2001:db8::9', 'ff02::fb', 'fe80::1', '::'];
const PROTOS = [6, 17, 1, 58, 132, 47, 50, 33, 136, 2];
const PORTS = [0, 1, 21, 22, 23, 53, 79, 80, 443, 444, 1024, 5432, 65535];

function pick<T>(r: () => number, a: readonly T[]): T {
  return a[Math.floor(r() * a.length)];
}

function addrText(r: () => number): string {
  const v6 = r() < 0.5;
  const a = pick(r, v6 ? V6 : V4);
  const x = r();
  if (x < 0.08) return '*';
  if (x < 0.5) return a;
  if (x < 0.85) {
    const max = v6 ? 128 : 32;
    const bits = Math.max(0, max - Math.floor(r() * (v6 ? 80 : 24)));
    return `${a}/${bits}`; // host bits allowed: masked by both sides
  }
  const b = pick(r, v6 ? V6 : V4);
  return compareIP(parseIP(a)!.bytes, parseIP(b)!.bytes) <= 0 ? `${a}-${b}` : `${b}-${a}`;
}

function validRange(s: string): boolean {
  if (!s.includes('-')) return true;
  const [a, b] = s.split('-');
  return a.includes(':') === b.includes(':');
}

function randomRules(r: () => number): { rules: FilterRule[]; local: string[] } {
  const n = Math.floor(r() * (r() < 0.1 ? 200 : 12));
  const rules: FilterRule[] = [];
  for (let i = 0; i < n; i++) {
    const srcs = Array.from({ length: 1 + Math.floor(r() * 3) }, () => addrText(r)).filter(validRange);
    if (r() < 0.1) {
      rules.push({ SrcIPs: srcs, CapGrant: [{ Dsts: [pick(r, V4)], CapMap: { 'x.com/c': [{ i }] } }] });
      continue;
    }
    const dsts = Array.from({ length: 1 + Math.floor(r() * 3) }, () => {
      const y = r();
      const first = y < 0.3 ? 0 : pick(r, PORTS);
      const last = y < 0.3 ? 65535 : Math.min(65535, first + (r() < 0.5 ? 0 : Math.floor(r() * 500)));
      return { IP: addrText(r), Ports: { First: first, Last: last } };
    }).filter((d) => validRange(d.IP));
    const rule: FilterRule = { SrcIPs: srcs, DstPorts: dsts };
    const z = r();
    if (z < 0.5) rule.IPProto = Array.from({ length: 1 + Math.floor(r() * 3) }, () => pick(r, PROTOS));
    else if (z < 0.55) rule.IPProto = [];
    rules.push(rule);
  }
  const local = Array.from({ length: 1 + Math.floor(r() * 3) }, () => {
    const v6 = r() < 0.5;
    const a = pick(r, v6 ? V6 : V4);
    return r() < 0.7 ? a : `${a}/${v6 ? 64 + Math.floor(r() * 64) : 16 + Math.floor(r() * 16)}`;
  });
  return { rules, local };
}

function randomPacket(r: () => number): Uint8Array {
  const v6 = r() < 0.5;
  const pool = v6 ? V6 : V4;
  const proto = r() < 0.9 ? pick(r, PROTOS) : Math.floor(r() * 256);
  const spec: Parameters<typeof buildPacket>[0] = { src: pick(r, pool), dst: pick(r, pool), proto, sport: pick(r, PORTS), dport: pick(r, PORTS) };
  if (proto === 1 || proto === 58) spec.icmpType = pick(r, [0, 3, 8, 11, 13, 1, 2, 128, 129, 135]);
  if (proto === 6) spec.tcpFlags = pick(r, [2, 16, 18, 1, 4]);
  const f = r();
  if (f < 0.05) spec.moreFragments = true;
  else if (f < 0.08) spec.fragOffset = 8 * Math.floor(1 + r() * 100);
  spec.payload = new Uint8Array(Math.floor(r() * 12));
  const b = buildPacket(spec);
  if (r() < 0.03) return b.slice(0, Math.floor(r() * b.length)); // truncated → malformed
  return b;
}

/** The long (GRANTWIRE_LONG) variant runs for minutes on a shared machine. */
const LONG_TIMEOUT = process.env.GRANTWIRE_LONG ? 900_000 : 120_000;

describe('compiled filter vs reference matcher', () => {
  it(`${POLICIES} random policies × ${PACKETS_PER_POLICY} random packets agree exactly`, () => {
    const r = rng(0x5eed);
    const p = new ParsedPacket();
    const seen = new Map<string, number>();
    let disagreements = 0;
    const examples: string[] = [];
    for (let k = 0; k < POLICIES; k++) {
      const { rules, local } = randomRules(r);
      const filter = compileFilter(rules, { localPrefixes: local });
      const ref = new ReferenceMatcher(rules, { localPrefixes: local });
      for (let i = 0; i < PACKETS_PER_POLICY; i++) {
        const b = randomPacket(r);
        const got = filter.decide(b, 0, b.length, p);
        const want = ref.decide(b, 0, b.length);
        const reason = verdictReason(want);
        seen.set(reason, (seen.get(reason) ?? 0) + 1);
        if (got !== want) {
          disagreements++;
          if (examples.length < 5) examples.push(`${verdictReason(got)} vs ${reason}: ${JSON.stringify({ rules, local, pkt: Array.from(b) })}`);
        }
      }
    }
    expect(examples).toEqual([]);
    expect(disagreements).toBe(0);
    // the generator must exercise every verdict the stateless path can give
    for (const reason of ['rule', 'no_rule', 'malformed', 'not_local', 'multicast', 'link_local', 'fragment']) expect(seen.get(reason) ?? 0, reason).toBeGreaterThan(0);
  }, LONG_TIMEOUT);

  it('the engine never accepts what the reference drops, except through state it created', () => {
    // A fresh engine per policy: inbound-only traffic can only create flows for tuples the rules accepted,
    // so every engine accept must be a reference accept (flows, fragments) or a flow/fragment verdict.
    const r = rng(7);
    let checked = 0;
    for (let k = 0; k < 20; k++) {
      const { rules, local } = randomRules(r);
      const e = new FilterEngine(compileFilter(rules, { localPrefixes: local }), { now: () => 0 });
      const ref = new ReferenceMatcher(rules, { localPrefixes: local });
      for (let i = 0; i < 500; i++) {
        const b = randomPacket(r);
        const v = e.inbound(b, 0, b.length);
        const want = ref.decide(b, 0, b.length);
        if (verdictReason(v) === 'rule') expect(want).toBe(v);
        if (!isAccept(want) && isAccept(v)) expect(['flow', 'fragment']).toContain(verdictReason(v));
        checked++;
      }
    }
    expect(checked).toBe(10_000);
  });
});

describe('compiled filter vs rule matcher on packet-free queries', () => {
  it('the packet parser reads ports for exactly the protocols ipProtoHasPorts names', () => {
    const p = new ParsedPacket();
    const withPorts: number[] = [];
    for (let proto = 0; proto < 256; proto++) {
      if (proto === 1) continue; // ICMP is neither: echo requests are judged by reach
      // 20 bytes after the IP header: enough for any transport header the parser knows
      const b = buildPacket({ src: '100.64.0.2', dst: '100.64.0.1', proto, sport: 1, dport: 2, payload: new Uint8Array(20) });
      parsePacket(b, 0, b.length, p);
      if (p.hasPorts) withPorts.push(proto);
    }
    expect(withPorts).toEqual(Array.from({ length: 256 }, (_, i) => i).filter((i) => i !== 1 && ipProtoHasPorts(i)));
  });

  it('allowsTuple and capsFor agree with RuleMatcher.match and .caps', () => {
    const r = rng(0xcafe);
    const kinds = new Map<string, number>();
    for (let k = 0; k < POLICIES; k++) {
      const { rules, local } = randomRules(r);
      const filter = compileFilter(rules, { localPrefixes: local });
      const m = new RuleMatcher(rules);
      const isLocal = new RuleMatcher([{ SrcIPs: ['*'], DstPorts: local.map((ip) => ({ IP: ip, Ports: { First: 0, Last: 65535 } })) }]);
      for (let i = 0; i < PACKETS_PER_POLICY; i++) {
        const v6 = r() < 0.5;
        const src = parseIP(pick(r, v6 ? V6 : V4))!.bytes;
        const dst = parseIP(pick(r, v6 ? V6 : V4))!.bytes;
        const proto = pick(r, PROTOS);
        const dport = r() < 0.2 ? null : pick(r, PORTS);
        const want = isLocal.reach(src, dst) >= 0 && m.match({ src, dst, proto, dport }) >= 0;
        const got = filter.allowsTuple(v6 ? 6 : 4, proto, src, dst, dport ?? 0, dport === null);
        const caps = m.caps(src, dst);
        const gotCaps = filter.capsFor(src, dst);
        if (got !== want || JSON.stringify(gotCaps) !== JSON.stringify(caps)) {
          const what = `${formatIP(src)} → ${formatIP(dst)} proto ${proto} port ${dport}`;
          throw new Error(`${what}: allowsTuple ${got} caps ${JSON.stringify(gotCaps)}, matcher ${want} caps ${JSON.stringify(caps)}\n${JSON.stringify({ rules, local })}`);
        }
        kinds.set(`${want}`, (kinds.get(`${want}`) ?? 0) + 1);
        if (caps) kinds.set('caps', (kinds.get('caps') ?? 0) + 1);
      }
    }
    for (const k of ['true', 'false', 'caps']) expect(kinds.get(k) ?? 0, k).toBeGreaterThan(0);
  });
});

// ---- large tables: enough IPv4 source pieces for the 16-bit first level (compile.ts WIDE4_MIN_PIECES) ----

/** Sources cluster in 100.64.0.0-100.71.255.255 (8 /16s) so the first level spans several keys. */
const WIDE_BASE = (100 << 24) | (64 << 16);
const WIDE_SPAN = 8 << 16;
const v4Text = (n: number) => formatIP(new Uint8Array([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]));
const WIDE_LOCAL = ['100.64.0.1', 'fd7a:115c:a1e0::1', '10.9.0.0/16'];

function largeRules(r: () => number): { rules: FilterRule[]; hosts: number[] } {
  const hosts: number[] = [];
  const rules: FilterRule[] = [];
  const n = 1200 + Math.floor(r() * 600);
  for (let i = 0; i < n; i++) {
    const srcs = Array.from({ length: 1 + Math.floor(r() * 2) }, () => {
      const h = (WIDE_BASE + Math.floor(r() * WIDE_SPAN)) >>> 0;
      hosts.push(h);
      const x = r();
      if (x < 0.8) return v4Text(h);
      if (x < 0.9) return `${v4Text(h)}/${20 + Math.floor(r() * 12)}`;
      return `${v4Text(h)}-${v4Text(h + Math.floor(r() * 300))}`;
    });
    // A few wide sources, on one port only: a wide source with every port would make most rows equal.
    const wide = r() < 0.01;
    if (wide) srcs.push(pick(r, ['*', '100.64.0.0/10', 'fd7a:115c:a1e0::/48']));
    // Few destination classes keep compile fast; distinct ports keep the sources' permission rows
    // distinct, so the source partition's pieces do not merge.
    const dst = pick(r, ['100.64.0.1', '*', '10.9.0.0/24', '10.9.1.7']);
    const first = r() < 0.3 ? pick(r, PORTS) : Math.floor(r() * 65536);
    const ports = wide ? { First: 7, Last: 7 } : r() < 0.2 ? { First: 0, Last: 65535 } : { First: first, Last: Math.min(65535, first + Math.floor(r() * 100)) };
    const rule: FilterRule = { SrcIPs: srcs, DstPorts: [{ IP: dst, Ports: ports }] };
    if (r() < 0.5) rule.IPProto = [pick(r, [6, 17, 47, 132])];
    rules.push(rule);
  }
  return { rules, hosts };
}

function largePacket(r: () => number, hosts: number[]): Uint8Array {
  const x = r();
  let src: number;
  if (x < 0.6) src = (pick(r, hosts) + (r() < 0.7 ? 0 : Math.floor(r() * 5) - 2)) >>> 0; // hits and neighbours
  else if (x < 0.85) src = (WIDE_BASE + Math.floor(r() * WIDE_SPAN)) >>> 0; // inside the first level's span
  else src = Math.floor(r() * 2 ** 32) >>> 0; // anywhere, mostly outside it
  const dst = pick(r, ['100.64.0.1', '10.9.0.7', '10.9.1.7', '10.9.2.7', '100.64.0.2']);
  const proto = pick(r, [6, 6, 17, 1, 47, 132]);
  return buildPacket({ src: v4Text(src), dst, proto, sport: 40000, dport: r() < 0.5 ? pick(r, PORTS) : Math.floor(r() * 65536), icmpType: 8, tcpFlags: 2 });
}

describe('compiled filter vs reference on large tables (16-bit first level)', () => {
  it.each([1, 2, 3])('seed %i', (seed) => {
    const r = rng(0x1000 + seed);
    const { rules, hosts } = largeRules(r);
    const filter = compileFilter(rules, { localPrefixes: WIDE_LOCAL });
    expect(filter.src4Wide, 'the table must be large enough for the 16-bit first level').toBeGreaterThanOrEqual(0);
    const ref = new ReferenceMatcher(rules, { localPrefixes: WIDE_LOCAL });
    const p = new ParsedPacket();
    const seen = new Map<string, number>();
    for (let i = 0; i < (LONG ? 20_000 : 2_000); i++) {
      const b = largePacket(r, hosts);
      const want = ref.decide(b, 0, b.length);
      const got = filter.decide(b, 0, b.length, p);
      if (got !== want) throw new Error(`seed ${seed}: ${verdictReason(got)} vs reference ${verdictReason(want)} for packet ${Array.from(b)}`);
      seen.set(verdictReason(want), (seen.get(verdictReason(want)) ?? 0) + 1);
    }
    for (const reason of ['rule', 'no_rule', 'not_local']) expect(seen.get(reason) ?? 0, reason).toBeGreaterThan(0);
  }, LONG_TIMEOUT);
});
