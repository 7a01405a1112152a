// npm run bench:filter [-- --json FILE] [--quick] [--sizes 10000,100000]
// Packet filter throughput: rules {10, 1k, 10k, 100k} × {IPv4 TCP SYN accept, IPv4 no-match drop, IPv6
// TCP SYN accept, established-flow hit}, in million packets/s on one core, for the compiled filter
// (FilterEngine.inbound: parse + decide + flow bookkeeping) and for the linear reference matcher on the
// same packets in the same run; plus compile time and compiled bytes per rule.
// The engine is given one timestamp per 1024-packet batch (as the data plane does per batch), so the
// figures do not include a clock read per packet.
import { writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { FilterRule } from '../../types/filter-rule.js';
import { compileFilter, FilterEngine, isAccept, ParsedPacket, ReferenceMatcher, verdictReason, type CompiledFilter } from '../../filter/index.js';
import { buildPacket } from '../../packet/build.js';
import { TCP_ACK, TCP_SYN } from '../../packet/headers.js';
import { seededRng } from '../../types/seeded-rng.js';

const { values: args } = parseArgs({ options: { json: { type: 'string' }, quick: { type: 'boolean' }, sizes: { type: 'string' } } });
const SIZES = args.sizes ? args.sizes.split(',').map(Number) : args.quick ? [10, 1000, 10_000] : [10, 1000, 10_000, 100_000];
const MEASURE_MS = args.quick ? 250 : 750;
const REF_MEASURE_MS = args.quick ? 100 : 300;
const RING = 1024;
const SLICES = 5;

const LOCAL4 = '100.64.0.1';
const LOCAL6 = 'fd7a:115c:a1e0:ab12:4843:cd96:6240:1';

// Deterministic PRNG so every run benchmarks the same policy.
const rng = seededRng;

interface Host {
  v4: string;
  v6: string;
}

function host(n: number): Host {
  // Tailnet addresses as control assigns them: 100.64.0.0/10, and the IPv6 twin carrying the same 32 bits.
  const v = (0x64400000 + 2 + n) >>> 0;
  const a = [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
  return { v4: a.join('.'), v6: `fd7a:115c:a1e0:ab12:4843:cd96:${((v >>> 16) & 0xffff).toString(16)}:${(v & 0xffff).toString(16)}` };
}

interface Policy {
  rules: FilterRule[];
  groups: Host[][];
  ruleGroup: number[];
}

/** A large node filter shaped like a compiled grants policy: many groups of devices, each granted some ports. */
function makePolicy(n: number, seed: number): Policy {
  const r = rng(seed);
  const nGroups = Math.max(2, Math.ceil(n / 10));
  const hostSpace = Math.max(64, nGroups * 3);
  const groups: Host[][] = [];
  const groupSrcs: string[][] = [];
  for (let g = 0; g < nGroups; g++) {
    const size = 1 + Math.floor(r() * 8);
    const hs: Host[] = [];
    for (let i = 0; i < size; i++) hs.push(host(Math.floor(r() * hostSpace)));
    groups.push(hs);
    const srcs = hs.flatMap((h) => [h.v4, h.v6]);
    if (r() < 0.1) srcs.push(`100.${64 + Math.floor(r() * 64)}.${Math.floor(r() * 256)}.0/24`);
    groupSrcs.push(srcs);
  }
  const rules: FilterRule[] = [];
  const ruleGroup: number[] = [];
  const wide = Math.min(5, Math.floor(n / 10));
  for (let i = 0; i < n; i++) {
    const isWide = i < wide;
    const g = Math.floor(r() * nGroups);
    const x = r();
    let first: number;
    let last: number;
    if (x < 0.8) first = last = 1 + Math.floor(r() * 65535);
    else if (x < 0.95) {
      first = 1 + Math.floor(r() * 65000);
      last = first + Math.floor(r() * 100);
    } else {
      first = 0;
      last = 65535;
    }
    const y = r();
    const rule: FilterRule = {
      SrcIPs: isWide ? ['100.64.0.0/10', 'fd7a:115c:a1e0::/48'] : groupSrcs[g],
      DstPorts: [
        { IP: LOCAL4, Ports: { First: first, Last: last } },
        { IP: LOCAL6, Ports: { First: first, Last: last } },
      ],
    };
    if (y < 0.3) rule.IPProto = [6];
    else if (y >= 0.9) rule.IPProto = [17];
    rules.push(rule);
    ruleGroup.push(isWide ? -1 : g);
  }
  return { rules, groups, ruleGroup };
}

interface Ring {
  buf: Uint8Array;
  off: Int32Array;
  len: Int32Array;
}

function ring(packets: Uint8Array[]): Ring {
  const total = packets.reduce((s, p) => s + p.length, 0);
  const buf = new Uint8Array(total);
  const off = new Int32Array(packets.length);
  const len = new Int32Array(packets.length);
  let o = 0;
  packets.forEach((p, i) => {
    buf.set(p, o);
    off[i] = o;
    len[i] = p.length;
    o += p.length;
  });
  return { buf, off, len };
}

function synPackets(pol: Policy, family: 4 | 6, seed: number): Uint8Array[] {
  const r = rng(seed);
  const out: Uint8Array[] = [];
  while (out.length < RING) {
    const i = Math.floor(r() * pol.rules.length);
    const rule = pol.rules[i];
    if (rule.IPProto && !rule.IPProto.includes(6)) continue;
    const g = pol.ruleGroup[i];
    const h = g < 0 ? host(Math.floor(r() * 1000)) : pol.groups[g][Math.floor(r() * pol.groups[g].length)];
    const ports = rule.DstPorts![0].Ports;
    out.push(
      buildPacket({
        src: family === 4 ? h.v4 : h.v6,
        dst: family === 4 ? LOCAL4 : LOCAL6,
        proto: 'tcp',
        sport: 1024 + Math.floor(r() * 60000),
        dport: ports.First + Math.floor(r() * (ports.Last - ports.First + 1)),
        tcpFlags: TCP_SYN,
      }),
    );
  }
  return out;
}

function dropPackets(pol: Policy, engine: FilterEngine, seed: number): Uint8Array[] {
  const r = rng(seed);
  const out: Uint8Array[] = [];
  const probe = new FilterEngine(engine.current, { maxFlows: 16 });
  while (out.length < RING) {
    const g = pol.groups[Math.floor(r() * pol.groups.length)];
    const h = g[Math.floor(r() * g.length)];
    const pkt = buildPacket({ src: h.v4, dst: LOCAL4, proto: 'tcp', sport: 1024 + Math.floor(r() * 60000), dport: 1 + Math.floor(r() * 65535), tcpFlags: TCP_SYN });
    if (verdictReason(probe.inbound(pkt, 0, pkt.length, 0)) === 'no_rule') out.push(pkt);
  }
  return out;
}

/** Established flows opened by this node (outbound SYN), and the peers' ACKs coming back. */
function flowPackets(pol: Policy, engine: FilterEngine, seed: number): Uint8Array[] {
  const r = rng(seed);
  const out: Uint8Array[] = [];
  for (let i = 0; i < RING; i++) {
    const g = pol.groups[Math.floor(r() * pol.groups.length)];
    const h = g[Math.floor(r() * g.length)];
    const lport = 32768 + i;
    const syn = buildPacket({ src: LOCAL4, dst: h.v4, proto: 'tcp', sport: lport, dport: 443, tcpFlags: TCP_SYN, seq: 1000 });
    engine.outbound(syn, 0, syn.length, 0);
    out.push(buildPacket({ src: h.v4, dst: LOCAL4, proto: 'tcp', sport: 443, dport: lport, tcpFlags: TCP_ACK, seq: 5000, ack: 1001 }));
  }
  return out;
}

let sink = 0;

/**
 * Mpps of `fn` over the packet ring: the best of SLICES slices, each timed by this process's CPU time
 * (user + system). The machine is shared, so wall time mostly measures other processes; the best slice
 * by CPU time is the closest estimate of what one dedicated core does.
 */
function measure(fn: (rg: Ring, n: number) => number, rg: Ring, budgetMs: number, chunk: number): number {
  sink += fn(rg, Math.min(chunk * 2, 200_000)); // warm up: JIT, caches, flow table steady state
  let best = 0;
  for (let s = 0; s < SLICES; s++) {
    let n = 0;
    const c0 = process.cpuUsage();
    let cpuMs = 0;
    while (cpuMs < budgetMs / SLICES) {
      sink += fn(rg, chunk);
      n += chunk;
      const c = process.cpuUsage(c0);
      cpuMs = (c.user + c.system) / 1000;
    }
    best = Math.max(best, n / cpuMs / 1000);
  }
  return best;
}

function runEngine(engine: FilterEngine): (rg: Ring, n: number) => number {
  let now = 1;
  return (rg, n) => {
    let acc = 0;
    const { buf, off, len } = rg;
    for (let i = 0; i < n; i++) {
      const k = i & (RING - 1);
      if (k === 0) now += 0.01;
      if (isAccept(engine.inbound(buf, off[k], len[k], now))) acc++;
    }
    return acc;
  };
}

/** The rules alone (CompiledFilter.decide: parse + dst/src tries + port set, no flow table). */
function runDecide(filter: CompiledFilter): (rg: Ring, n: number) => number {
  const p = new ParsedPacket();
  return (rg, n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const k = i & (RING - 1);
      if (isAccept(filter.decide(rg.buf, rg.off[k], rg.len[k], p))) acc++;
    }
    return acc;
  };
}

function runReference(ref: ReferenceMatcher): (rg: Ring, n: number) => number {
  return (rg, n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const k = i & (RING - 1);
      if (isAccept(ref.decide(rg.buf, rg.off[k], rg.len[k]))) acc++;
    }
    return acc;
  };
}

type Case = 'v4-syn' | 'v4-drop' | 'v6-syn' | 'flow';
const results: { case: Case; rules: number; mpps: number; referenceMpps: number }[] = [];
/** Printed only (the --json shape is fixed by issue 3): rules-only Mpps per result row. */
const rulesOnly: number[] = [];
const setups: { row: number; engine: FilterEngine; filter: CompiledFilter; rg: Ring }[] = [];
const ROUNDS = 3;
const compileMs: Record<string, number> = {};
const bytesPerRule: Record<string, number> = {};
const compileRows: string[] = [];

for (const n of SIZES) {
  const pol = makePolicy(n, 1000 + n);
  const opts = { localPrefixes: [`${LOCAL4}/32`, `${LOCAL6}/128`] };
  // Compile time is CPU time (the machine is shared; wall time is also shown), median of 3 (1 at 100k).
  const times: number[] = [];
  const walls: number[] = [];
  let filter = compileFilter(pol.rules, opts);
  for (let k = 0; k < (n >= 100_000 ? 1 : 3); k++) {
    const c0 = process.cpuUsage();
    filter = compileFilter(pol.rules, opts);
    const c = process.cpuUsage(c0);
    times.push((c.user + c.system) / 1000);
    walls.push(filter.stats.compileMs);
  }
  times.sort((a, b) => a - b);
  walls.sort((a, b) => a - b);
  compileMs[String(n)] = Math.round(times[Math.floor(times.length / 2)] * 10) / 10;
  const wallMs = walls[Math.floor(walls.length / 2)];
  bytesPerRule[String(n)] = Math.round(filter.stats.bytes / n);
  const s = filter.stats;
  compileRows.push(
    `${String(n).padStart(7)}  ${compileMs[String(n)].toFixed(1).padStart(10)}  ${wallMs.toFixed(1).padStart(9)}  ${String(bytesPerRule[String(n)]).padStart(10)}  ${String(s.srcClasses).padStart(10)}  ${String(s.rows).padStart(7)}  ${String(s.portSets).padStart(9)}`,
  );
  const ref = new ReferenceMatcher(pol.rules, opts);
  const engine = new FilterEngine(filter, { maxFlows: 65536 });
  const cases: [Case, Ring][] = [
    ['v4-syn', ring(synPackets(pol, 4, 7))],
    ['v4-drop', ring(dropPackets(pol, engine, 8))],
    ['v6-syn', ring(synPackets(pol, 6, 9))],
    ['flow', ring(flowPackets(pol, engine, 10))],
  ];
  for (const [name, rg] of cases) {
    const referenceMpps = measure(runReference(ref), rg, REF_MEASURE_MS, n >= 10_000 ? 4 : n >= 1000 ? 64 : 1024);
    results.push({ case: name, rules: n, mpps: 0, referenceMpps: Math.round(referenceMpps * 1e6) / 1e6 });
    rulesOnly.push(0);
    setups.push({ row: results.length - 1, engine, filter, rg });
  }
}

// The fast paths are measured in ROUNDS passes over every (size, case), keeping each one's best: a burst
// of load from other processes then cannot single out one table size (the flatness ratio stays fair).
for (let round = 0; round < ROUNDS; round++) {
  for (const st of setups) {
    const m = measure(runEngine(st.engine), st.rg, MEASURE_MS / ROUNDS, 1 << 18);
    results[st.row].mpps = Math.max(results[st.row].mpps, Math.round(m * 1000) / 1000);
    rulesOnly[st.row] = Math.max(rulesOnly[st.row], measure(runDecide(st.filter), st.rg, MEASURE_MS / ROUNDS / 2, 1 << 18));
  }
}

const fmt = (x: number): string => (x >= 0.01 ? x.toFixed(2) : x.toExponential(2));
console.log(`packet filter: million packets/s per core (best of ${ROUNDS} rounds × ${SLICES} CPU-time slices; load average now ${loadavg()[0].toFixed(2)} on ${availableParallelism()} cores)`);
console.log('filter = compiled FilterEngine.inbound (parse + decide + flow bookkeeping); reference = linear rule scan, same packets');
console.log('rules-only = CompiledFilter.decide on the same packets (no flow table), for comparison');
console.log('case      rules     filter Mpps   reference Mpps     ratio   rules-only Mpps');
results.forEach((r, i) => {
  console.log(
    `${r.case.padEnd(8)} ${String(r.rules).padStart(7)}  ${fmt(r.mpps).padStart(12)}  ${fmt(r.referenceMpps).padStart(15)}  ${(r.mpps / r.referenceMpps).toFixed(0).padStart(8)}x  ${fmt(rulesOnly[i]).padStart(15)}`,
  );
});
console.log('\ncompile: rules  cpu ms (p50)  wall ms  bytes/rule  src classes     rows  port sets');
for (const row of compileRows) console.log(row);
const flat = (c: Case): string => {
  const a = results.find((r) => r.case === c && r.rules === SIZES[0]);
  const b = results.find((r) => r.case === c && r.rules === SIZES[SIZES.length - 1]);
  return a && b ? (a.mpps / b.mpps).toFixed(2) : 'n/a';
};
console.log(`\nflatness (${SIZES[0]} rules Mpps / ${SIZES[SIZES.length - 1]} rules Mpps; target ≤ 1.5): v4-syn ${flat('v4-syn')}, v4-drop ${flat('v4-drop')}, v6-syn ${flat('v6-syn')}, flow ${flat('flow')}`);
if (sink === -1) console.log(sink);
if (args.json) {
  writeFileSync(args.json, JSON.stringify({ results, compileMs, bytesPerRule }, null, 2) + '\n');
  console.log(`wrote ${args.json}`);
}
