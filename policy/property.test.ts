// Properties over seeded random policies and tailnets, checked against a slow, obviously-correct
// reference (does some grant match this src node, dst node, protocol and port?):
// - the compiled rules of every node decide exactly like the reference, for every node pair;
// - compiling is deterministic (byte-identical JSON, whatever the order of nodes in the tailnet);
// - adding a grant never removes access;
// - a node's rules only name its own addresses or routes it serves;
// - incremental updates (upsert/remove/setNow) equal a fresh compile, and report every changed node.
import { describe, expect, it } from 'vitest';
import { DEFAULT_IPPROTOS, type FilterRule } from '../types/filter-rule.js';
import type { Tailnet, TailnetNode } from '../types/tailnet.js';
import { parseIP } from '../types/ip.js';
import { RuleMatcher } from '../types/rule-match.js';
import { bytesToBig, rangeSetOfStrings } from './ip-range.js';
import { parsePolicy, PolicyCompiler, type Policy, type Selector } from './index.js';
import { addrInRanges, postureValue } from './node-index.js';
import { evalCondition } from './posture.js';
import { rng } from './testdata/workload.js';

const LONG = process.env.GRANTWIRE_LONG === '1';
const SEEDS = LONG ? 400 : 60;

const USERS = ['u0@example.com', 'u1@example.com', 'u2@example.com', 'u3@example.com', 'u4@example.com'];
const TAGS = ['tag:t0', 'tag:t1', 'tag:t2', 'tag:t3'];
const GROUPS = ['group:g0', 'group:g1', 'group:g2'];

function randomCase(seed: number): { text: string; tailnet: Tailnet; extraGrant: string } {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const some = <T>(xs: readonly T[], max: number): T[] => [...new Set(Array.from({ length: 1 + Math.floor(r() * max) }, () => pick(xs)))];
  const nodes: TailnetNode[] = [];
  const n = 6 + Math.floor(r() * 14);
  for (let i = 0; i < n; i++) {
    const tagged = r() < 0.35;
    const node: TailnetNode = { name: `n${i}`, user: pick(USERS), tags: tagged ? some(TAGS, 2) : [], ips: [`100.64.0.${i + 1}`, `fd7a:115c:a1e0::${(i + 1).toString(16)}`] };
    node.posture = { 'node:os': pick(['linux', 'macos', 'ios']) };
    if (r() < 0.4) {
      node.posture['custom:jit'] = true;
      node.postureExpiry = { 'custom:jit': Math.floor(r() * 3000) };
    }
    if (r() < 0.15) node.routes = [pick(['10.0.0.0/24', '10.0.0.0/16', '192.168.0.0/24'])];
    nodes.push(node);
  }
  const groups = Object.fromEntries(GROUPS.map((g) => [g, some(USERS, 3)]));
  const srcSel = ['*', ...USERS, ...GROUPS, ...TAGS, 'autogroup:member', 'autogroup:tagged', 'autogroup:admin', 'h0', '100.64.0.0/29', 'ipset:s0'];
  const dstSel = ['*', ...USERS, ...GROUPS, ...TAGS, 'autogroup:member', 'h0', '10.0.0.128/25', '100.64.0.4/30', 'ipset:s0'];
  const personal = [...USERS, ...GROUPS, 'autogroup:member'];
  const ips = ['*', '22', 'tcp:80-90', 'udp:53', 'gre:*', 'tcp:*', 'icmp:*', '85-100'];
  const grant = (): string => {
    const selfy = r() < 0.2;
    const src = selfy ? some(personal, 2) : some(srcSel, 2);
    const dst = selfy ? ['autogroup:self', ...(r() < 0.5 ? [pick(dstSel)] : [])] : some(dstSel, 2);
    const g: Record<string, unknown> = { src, dst, ip: some(ips, 3) };
    if (r() < 0.25) g.srcPosture = [pick(['posture:jit', 'posture:linux'])];
    return JSON.stringify(g);
  };
  const grants = Array.from({ length: 1 + Math.floor(r() * 7) }, grant);
  const acls = Array.from({ length: Math.floor(r() * 3) }, () =>
    JSON.stringify({ action: 'accept', src: some(srcSel, 2), ...(r() < 0.4 ? { proto: pick(['tcp', 'udp']) } : {}), dst: some(dstSel, 3).map((d) => `${d}:${pick(['22', '80-85', '*', '53,90'])}`) }),
  );
  const text = `{
  "groups": ${JSON.stringify(groups)},
  "tagOwners": ${JSON.stringify(Object.fromEntries(TAGS.map((t) => [t, []])))},
  "hosts": {"h0": "${pick(['100.64.0.2', '10.0.0.0/24', '100.64.0.8/29'])}"},
  "ipsets": {"ipset:s0": ["100.64.0.0/28", "remove 100.64.0.3", "10.0.0.0/23"]},
  "postures": {"posture:jit": ["custom:jit == true"], "posture:linux": ["node:os == 'linux'"]},
  "grants": [${grants.join(',\n')}],
  "acls": [${acls.join(',\n')}],
}`;
  return { text, tailnet: { users: USERS.map((login, i) => ({ login, role: i === 0 ? 'admin' : 'member' })), nodes }, extraGrant: grant() };
}

// ---- reference: direct evaluation of the policy model, one node pair at a time ----

function identityMatch(policy: Policy, sel: Selector, node: TailnetNode, admins: Set<string>): boolean {
  const tagged = node.tags.length > 0;
  const user = tagged ? null : (node.user ?? null);
  switch (sel.kind) {
    case 'all':
      return true;
    case 'user':
      return user === sel.login;
    case 'group':
      return user !== null && (policy.groups.get(sel.name) ?? []).includes(user);
    case 'tag':
      return node.tags.includes(sel.name);
    case 'autogroup':
      return sel.name === 'member' ? user !== null : sel.name === 'tagged' ? tagged : sel.name === 'admin' ? user !== null && admins.has(user) : sel.name === 'danger-all';
    case 'prefix':
      return false;
  }
}

const addrOf = (s: string) => {
  const p = parseIP(s)!;
  return { family: p.family, big: bytesToBig(p.bytes), text: s, cidr: s };
};

function referenceAllows(policy: Policy, tailnet: Tailnet, now: number, s: TailnetNode, sa: string, d: TailnetNode, da: string, proto: number, port: number): boolean {
  const admins = new Set(tailnet.users.filter((u) => u.role === 'admin').map((u) => u.login));
  const sAddr = addrOf(sa);
  const dAddr = addrOf(da);
  const postureOk = (names: string[]) => names.length === 0 || names.some((p) => (policy.postures.get(p) ?? []).every((c) => evalCondition(c, postureValue(s, c.attr, now))));
  for (const g of policy.grants) {
    const identitySrc = g.src.some((sel) => identityMatch(policy, sel, s, admins));
    const addressSrc = g.src.some((sel) => sel.kind === 'prefix' && addrInRanges(sAddr, sel.ranges));
    const srcOk = g.srcPosture.length > 0 ? identitySrc && postureOk(g.srcPosture) : identitySrc || addressSrc;
    if (!srcOk) continue;
    for (const leg of g.legs) {
      const dstOk = leg.dst.some((sel) => {
        if (sel.kind === 'prefix') return addrInRanges(dAddr, sel.ranges);
        if (sel.kind === 'autogroup' && sel.name === 'self') {
          return d.tags.length === 0 && s.tags.length === 0 && s.user === d.user && identitySrc;
        }
        return identityMatch(policy, sel, d, admins);
      });
      if (!dstOk) continue;
      for (const spec of leg.ip) {
        const protos = spec.protos ?? DEFAULT_IPPROTOS;
        if (protos.includes(proto) && spec.ports.some((p) => p.First <= port && port <= p.Last)) return true;
      }
    }
  }
  return false;
}

// ---- the compiled side: the rules as the filter's reference matcher reads them ----

const matchers = new WeakMap<FilterRule[], RuleMatcher>();
function compiledAllows(rules: FilterRule[], sa: string, da: string, proto: number, port: number): boolean {
  let m = matchers.get(rules);
  if (!m) matchers.set(rules, (m = new RuleMatcher(rules)));
  return m.match({ src: parseIP(sa)!.bytes, dst: parseIP(da)!.bytes, proto, dport: port }) >= 0;
}

const PROBES: Array<[number, number]> = [
  [6, 22],
  [6, 80],
  [6, 91],
  [6, 100],
  [17, 53],
  [17, 90],
  [47, 0],
  [1, 0],
];

function parse(text: string): Policy {
  const { policy, diagnostics } = parsePolicy(text, 'random.hujson');
  expect(diagnostics).toEqual([]);
  return policy!;
}

describe('compiled rules decide exactly like the reference', () => {
  it.each(Array.from({ length: SEEDS }, (_, i) => i + 1))('seed %i', (seed) => {
    const { text, tailnet } = randomCase(seed);
    const policy = parse(text);
    const now = 1500;
    const c = new PolicyCompiler(policy, tailnet, { now });
    for (const d of tailnet.nodes) {
      const rules = c.compileNode(d.name).rules;
      for (const s of tailnet.nodes) {
        for (const fam of [0, 1]) {
          for (const [proto, port] of PROBES) {
            const want = referenceAllows(policy, tailnet, now, s, s.ips[fam], d, d.ips[fam], proto, port);
            const got = compiledAllows(rules, s.ips[fam], d.ips[fam], proto, port);
            if (got !== want) throw new Error(`seed ${seed}: ${s.name}→${d.name} proto ${proto} port ${port}: compiled ${got}, reference ${want}\n${text}`);
          }
        }
      }
    }
  });
});

describe('structural properties', () => {
  it.each(Array.from({ length: SEEDS }, (_, i) => i + 1))('seed %i: deterministic, monotone, own destinations only', (seed) => {
    const { text, tailnet, extraGrant } = randomCase(seed);
    const policy = parse(text);
    const a = JSON.stringify([...new PolicyCompiler(policy, tailnet, { now: 1500 }).compileAll()]);
    const shuffled = { ...tailnet, nodes: [...tailnet.nodes].reverse() };
    const b = JSON.stringify([...new PolicyCompiler(parse(text), shuffled, { now: 1500 }).compileAll()]);
    expect(b).toBe(a);

    // adding a grant never removes access
    const more = parse(text.replace('"grants": [', `"grants": [${extraGrant},\n`));
    const before = new PolicyCompiler(policy, tailnet, { now: 1500 });
    const after = new PolicyCompiler(more, tailnet, { now: 1500 });
    for (const d of tailnet.nodes) {
      const rb = before.compileNode(d.name).rules;
      const ra = after.compileNode(d.name).rules;
      for (const s of tailnet.nodes) {
        for (const [proto, port] of PROBES) {
          if (compiledAllows(rb, s.ips[0], d.ips[0], proto, port)) expect(compiledAllows(ra, s.ips[0], d.ips[0], proto, port)).toBe(true);
        }
      }
      // every destination is one of d's addresses or inside a route d serves
      const own = rangeSetOfStrings([...d.ips, ...(d.routes ?? [])]);
      for (const r of [...rb, ...ra]) {
        for (const dp of r.DstPorts ?? []) {
          const inside = rangeSetOfStrings([dp.IP]);
          const ok = [...inside.v4.map((x) => ({ x, list: own.v4 })), ...inside.v6.map((x) => ({ x, list: own.v6 }))].every(({ x, list }) => list.some((o) => o.start <= x.start && x.end <= o.end));
          expect(ok, `${d.name} got ${dp.IP}`).toBe(true);
        }
        for (const cg of r.CapGrant ?? []) for (const dst of cg.Dsts) expect(d.ips.map((ip) => `${ip}/${ip.includes(':') ? 128 : 32}`)).toContain(dst);
      }
    }
  });
});

describe('incremental updates equal a fresh compile', () => {
  it.each(Array.from({ length: Math.ceil(SEEDS / 2) }, (_, i) => i + 1))('seed %i', (seed) => {
    const { text, tailnet } = randomCase(seed);
    const policy = parse(text);
    const r = rng(seed * 7919);
    let now = 500;
    const c = new PolicyCompiler(policy, tailnet, { now });
    const current = new Map(tailnet.nodes.map((n) => [n.name, n]));
    let snapshot = new Map([...c.compileAll()].map(([k, v]) => [k, JSON.stringify(v)]));
    for (let step = 0; step < 12; step++) {
      let affected: string[];
      const x = r();
      const names = [...current.keys()];
      if (x < 0.25 && names.length > 2) {
        const victim = names[Math.floor(r() * names.length)];
        current.delete(victim);
        affected = c.removeNode(victim);
        snapshot.delete(victim);
      } else if (x < 0.7) {
        // new node or changed node: tags, user, posture, routes
        const base = tailnet.nodes[Math.floor(r() * tailnet.nodes.length)];
        const name = r() < 0.5 ? base.name : `new${step}`;
        const idx = 200 + step;
        const node: TailnetNode = {
          name,
          user: USERS[Math.floor(r() * USERS.length)],
          tags: r() < 0.3 ? [TAGS[Math.floor(r() * TAGS.length)]] : [],
          ips: current.has(name) ? current.get(name)!.ips : [`100.64.0.${idx}`, `fd7a:115c:a1e0::${idx.toString(16)}`],
          posture: { 'node:os': r() < 0.5 ? 'linux' : 'ios', ...(r() < 0.5 ? { 'custom:jit': true } : {}) },
          postureExpiry: { 'custom:jit': now + Math.floor(r() * 2000) },
          ...(r() < 0.2 ? { routes: ['10.0.0.0/24'] } : {}),
        };
        current.set(name, node);
        affected = c.upsertNode(node);
      } else {
        now += Math.floor(r() * 1500);
        affected = c.setNow(now);
      }
      const fresh = new PolicyCompiler(policy, { users: tailnet.users, nodes: [...current.values()] }, { now });
      const next = new Map<string, string>();
      for (const name of current.keys()) {
        const inc = JSON.stringify(c.compileNode(name));
        expect(inc, `step ${step} node ${name}`).toBe(JSON.stringify(fresh.compileNode(name)));
        next.set(name, inc);
        if (snapshot.get(name) !== inc) expect(affected, `step ${step}: ${name} changed but was not reported`).toContain(name);
      }
      snapshot = next;
    }
  });
});
