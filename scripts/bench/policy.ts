// npm run bench:policy — compile a synthetic tailnet (default 10,000 nodes, 500 users, 200 tags, 1,000
// grants) for every node, against a naive baseline measured in the same run: per destination node, every
// grant's selectors are re-evaluated against every node (no precomputed selector sets, no shared SrcIPs).
// The baseline is far too slow for all nodes, so it runs on a sample and is extrapolated per node.
// Also measures the incremental path control uses: a node joining (upsertNode) and a posture expiry (setNow).
//
//   npm run bench:policy [-- --nodes 10000 --users 500 --tags 200 --grants 1000 --runs 3 --sample 5 --json out.json]
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { FilterRule, NetPortRange } from '../../types/filter-rule.js';
import { parsePolicy, PolicyCompiler, type Policy } from '../../policy/index.js';
import { addrInRanges, adminsOf, makeNodeRec, nodeMatches, satisfiesAny, type NodeRec } from '../../policy/node-index.js';
import { workload } from '../../policy/testdata/workload.js';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '10000' },
    users: { type: 'string', default: '500' },
    tags: { type: 'string', default: '200' },
    grants: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '3' },
    sample: { type: 'string', default: '5' },
    seed: { type: 'string', default: '1' },
    json: { type: 'string' },
  },
});
const size = { nodes: Number(values.nodes), users: Number(values.users), tags: Number(values.tags), grants: Number(values.grants) };
const runs = Number(values.runs);
const sample = Number(values.sample);
const NOW = 1_000;

/** The naive reference compiler: correct, but re-resolves every selector for every destination. */
function naiveCompileNode(policy: Policy, recs: NodeRec[], d: NodeRec): FilterRule[] {
  const groupSets = new Map([...policy.groups].map(([k, v]) => [k, new Set(v)]));
  const rules: FilterRule[] = [];
  for (const g of policy.grants) {
    for (const leg of g.legs) {
      const hit = leg.dst.some((sel) =>
        sel.kind === 'prefix'
          ? d.addrs.some((a) => addrInRanges(a, sel.ranges))
          : sel.kind === 'autogroup' && sel.name === 'self'
            ? d.user !== null
            : nodeMatches(sel, d, groupSets),
      );
      if (!hit) continue;
      const self = leg.dst.every((sel) => sel.kind === 'autogroup' && sel.name === 'self');
      const src: string[] = [];
      for (const s of recs) {
        if (self && s.user !== d.user) continue;
        if (!g.src.some((sel) => nodeMatches(sel, s, groupSets) || (sel.kind === 'prefix' && s.addrs.some((a) => addrInRanges(a, sel.ranges))))) continue;
        if (!satisfiesAny(policy, s, g.srcPosture, NOW)) continue;
        for (const a of s.addrs) src.push(a.text);
      }
      if (src.length === 0) continue;
      src.sort();
      for (const spec of leg.ip) {
        const dstPorts: NetPortRange[] = [];
        for (const a of d.addrs) for (const p of spec.ports) dstPorts.push({ IP: a.text, Ports: p });
        rules.push(spec.protos ? { SrcIPs: src, DstPorts: dstPorts, IPProto: spec.protos } : { SrcIPs: src, DstPorts: dstPorts });
      }
    }
  }
  return rules;
}

function ms(t0: number): number {
  return performance.now() - t0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const fmtMs = (x: number) => `${x.toFixed(x < 10 ? 2 : 0)} ms`;
const fmtUs = (x: number) => `${(x * 1000).toFixed(1)} µs`;

const gen = performance.now();
const { policyText, tailnet } = workload(size, Number(values.seed));
const genMs = ms(gen);

let t = performance.now();
const parsed = parsePolicy(policyText, 'bench.hujson');
const parseMs = ms(t);
if (!parsed.policy) {
  process.stderr.write(`workload policy is invalid: ${JSON.stringify(parsed.diagnostics.slice(0, 3))}\n`);
  process.exit(1);
}
const policy = parsed.policy;

// ---- grantwire: build (resolve selector sets) + compile every node ----
const builds: number[] = [];
const compiles: number[] = [];
let ruleCount = 0;
let compiler: PolicyCompiler | null = null;
const cpus: number[] = [];
for (let i = 0; i < runs; i++) {
  const cpu0 = process.cpuUsage();
  t = performance.now();
  const c = new PolicyCompiler(policy, tailnet, { now: NOW });
  builds.push(ms(t));
  t = performance.now();
  const all = c.compileAll();
  compiles.push(ms(t));
  const cpu = process.cpuUsage(cpu0);
  cpus.push((cpu.user + cpu.system) / 1000);
  ruleCount = 0;
  for (const f of all.values()) ruleCount += f.rules.length;
  compiler = c;
}
const totals = builds.map((b, i) => b + compiles[i]);
const oursTotal = Math.min(...totals);
const oursPerNode = oursTotal / size.nodes;

// ---- baseline: naive per-node recompute on a sample ----
const admins = adminsOf(tailnet);
const recs = tailnet.nodes.map((n) => makeNodeRec(n, admins));
const step = Math.max(1, Math.floor(recs.length / sample));
const picked = recs.filter((_, i) => i % step === 0).slice(0, sample);
t = performance.now();
let baseRules = 0;
for (const d of picked) baseRules += naiveCompileNode(policy, recs, d).length;
const basePerNode = ms(t) / picked.length;
const baseTotal = basePerNode * size.nodes;

// ---- incremental: joins and a posture expiry ----
const c = compiler as PolicyCompiler;
const joins: number[] = [];
const recompiles: number[] = [];
const affectedCounts: number[] = [];
for (let j = 0; j < 20; j++) {
  const user = tailnet.users[(j * 37) % tailnet.users.length].login;
  t = performance.now();
  const affected = c.upsertNode({ name: `joiner-${j}`, user, tags: j % 4 === 0 ? ['tag:t1'] : [], ips: [`100.127.0.${j + 1}`, `fd7a:115c:a1e0::ff:${j + 1}`] });
  joins.push(ms(t));
  affectedCounts.push(affected.length);
  t = performance.now();
  for (const n of affected) c.compileNode(n);
  recompiles.push(ms(t));
}
const expiring = tailnet.nodes.find((n) => n.posture?.['custom:jit'] !== undefined);
let setNowMs = 0;
let setNowAffected = 0;
if (expiring) {
  c.upsertNode({ ...expiring, postureExpiry: { 'custom:jit': NOW + 10 } });
  t = performance.now();
  setNowAffected = c.setNow(NOW + 10).length;
  setNowMs = ms(t);
}

const rows: Array<[string, string, string, string]> = [
  ['case', 'total', 'per node', 'notes'],
  ['workload generation', fmtMs(genMs), '', `${size.nodes} nodes, ${size.users} users, ${size.tags} tags, ${size.grants} grants`],
  ['parse + validate policy', fmtMs(parseMs), '', `${policyText.length} bytes`],
  ['grantwire: build selector sets', fmtMs(Math.min(...builds)), '', `best of ${runs}; median ${fmtMs(median(builds))}`],
  ['grantwire: compile every node', fmtMs(Math.min(...compiles)), fmtUs(Math.min(...compiles) / size.nodes), `${ruleCount} rules; median ${fmtMs(median(compiles))}`],
  ['grantwire: build + compile all', fmtMs(oursTotal), fmtUs(oursPerNode), `target < 2000 ms: ${oursTotal < 2000 ? 'PASS' : 'FAIL'}; CPU time ${fmtMs(Math.min(...cpus))} (all threads, incl. GC)`],
  ['baseline: naive per-node recompute', `${(baseTotal / 1000).toFixed(1)} s (extrapolated)`, fmtMs(basePerNode), `measured on ${picked.length} nodes (${baseRules} rules)`],
  ['ratio (baseline / grantwire per node)', `x${(basePerNode / oursPerNode).toFixed(0)}`, '', ''],
  ['upsertNode (a node joins)', `p50 ${fmtMs(median(joins))}`, `max ${fmtMs(Math.max(...joins))}`, `target < 50 ms; ${Math.round(median(affectedCounts))} nodes affected (median)`],
  ['  recompile the affected nodes', `p50 ${fmtMs(median(recompiles))}`, '', 'what control then does per join'],
  ['setNow (one posture expiry)', fmtMs(setNowMs), '', `${setNowAffected} nodes affected`],
];
const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length)));
const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
process.stdout.write(`policy compile benchmark (node ${process.version}, seed ${values.seed}, load average ${loadavg()[0].toFixed(1)})\n`);
process.stdout.write(line(rows[0]) + '\n' + widths.map((w) => '-'.repeat(w)).join('  ') + '\n');
for (const r of rows.slice(1)) process.stdout.write(line(r) + '\n');

if (values.json) {
  const out = {
    size,
    parseMs,
    buildMs: Math.min(...builds),
    compileAllMs: Math.min(...compiles),
    totalMs: oursTotal,
    totalCpuMs: Math.min(...cpus),
    perNodeUs: oursPerNode * 1000,
    rules: ruleCount,
    baselinePerNodeMs: basePerNode,
    baselineSampledNodes: picked.length,
    ratio: basePerNode / oursPerNode,
    upsertP50Ms: median(joins),
    upsertMaxMs: Math.max(...joins),
    affectedMedian: median(affectedCounts),
    recompileAffectedP50Ms: median(recompiles),
    setNowMs,
    setNowAffected,
  };
  writeFileSync(values.json, JSON.stringify(out, null, 2) + '\n');
}
