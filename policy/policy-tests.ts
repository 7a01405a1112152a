// The `tests` section (policy.md, "tests section"): each test is evaluated against compiled rules, the
// same rules nodes enforce, by the rule matcher the compiled filter is differential-tested against
// (types/rule-match.ts), so a passing test is evidence about the real filter. Identities a test names
// but the tailnet lacks get synthetic devices (no posture, fresh addresses; unrouted addresses get a
// synthetic owner or subnet router), so tests also run without a tailnet file; `srcPostureAttrs` gives a
// test its own source device with exactly those attributes. A failing test yields a diagnostic at the
// failing target naming the test, the destination and what happened.
import type { Diagnostic } from '../types/errors.js';
import { TAILNET_V4_RANGE, TAILNET_V6_RANGE, type FilterRule } from '../types/filter-rule.js';
import { formatIP, parseIP } from '../types/ip.js';
import { RuleMatcher } from '../types/rule-match.js';
import type { Tailnet, TailnetNode } from '../types/tailnet.js';
import { ERR } from './diagnostics.js';
import { bigToBytes, bytesToBig, rangeSetOfStrings, type RangeSet } from './ip-range.js';
import type { Policy, Selector, TestCase, TestTarget } from './model.js';
import { addrInRanges, type NodeAddr } from './node-index.js';

/** What tests need from a compiler (kept narrow: PolicyCompiler passes itself, see runTests). */
export interface TestHost {
  readonly policy: Policy;
  nodesMatching(sel: Selector): string[];
  nodeAddresses(name: string): string[];
  nodesForAddress(addr: string): string[];
  compileNode(name: string): { rules: FilterRule[] };
  tailnet(): Tailnet;
  /** The same policy and clock over another tailnet (this one plus synthetic devices). */
  withTailnet(tailnet: Tailnet): TestHost;
}

/** Hands out addresses no node uses, from the top of the tailnet ranges downward. */
class AddressAllocator {
  private used = new Set<string>();
  private v4 = bytesToBig(new Uint8Array([100, 127, 255, 254]));
  private v6 = bytesToBig((parseIP('fd7a:115c:a1e0:ffff::fffe') as { bytes: Uint8Array }).bytes);
  constructor(tailnet: Tailnet) {
    for (const n of tailnet.nodes) for (const ip of n.ips) {
      const p = parseIP(ip);
      if (p) this.used.add(formatIP(p.bytes));
    }
  }
  next(): string[] {
    let a4: string;
    do a4 = formatIP(bigToBytes(this.v4--, 4));
    while (this.used.has(a4));
    let a6: string;
    do a6 = formatIP(bigToBytes(this.v6--, 16));
    while (this.used.has(a6));
    this.used.add(a4);
    this.used.add(a6);
    return [a4, a6];
  }
}

/** A device for a selector that names an identity with no device in the tailnet, or null. */
function syntheticFor(policy: Policy, sel: Selector, alloc: AddressAllocator, seq: number): TailnetNode | null {
  const name = `${SYNTHETIC_PREFIX}test-${seq}`;
  if (sel.kind === 'user') return { name, user: sel.login, tags: [], ips: alloc.next() };
  if (sel.kind === 'tag') return { name, tags: [sel.name], ips: alloc.next() };
  if (sel.kind === 'group') {
    const first = policy.groups.get(sel.name)?.[0];
    return first ? { name, user: first, tags: [], ips: alloc.next() } : null;
  }
  return null;
}

/** A tailnet with a device for every user the policy names and every tag it declares (no --tailnet). */
export function synthesizeTailnet(policy: Policy): Tailnet {
  const logins = new Set<string>();
  const add = (sels: Selector[]) => {
    for (const s of sels) if (s.kind === 'user') logins.add(s.login);
  };
  for (const members of policy.groups.values()) for (const m of members) logins.add(m);
  for (const owners of policy.tagOwners.values()) for (const o of owners) if (o.includes('@')) logins.add(o);
  for (const g of policy.grants) {
    add(g.src);
    for (const l of g.legs) add(l.dst);
  }
  for (const t of policy.tests) {
    add([t.src]);
    add(t.accept.map((x) => x.target));
    add(t.deny.map((x) => x.target));
  }
  const alloc = new AddressAllocator({ users: [], nodes: [] });
  const nodes: TailnetNode[] = [];
  let i = 0;
  for (const login of [...logins].sort()) nodes.push({ name: `${SYNTHETIC_PREFIX}user-${++i}`, user: login, tags: [], ips: alloc.next() });
  i = 0;
  for (const tag of [...policy.tagOwners.keys()].sort()) nodes.push({ name: `${SYNTHETIC_PREFIX}tag-${++i}`, tags: [tag], ips: alloc.next() });
  return { users: [...logins].sort().map((login) => ({ login, role: 'member' as const })), nodes };
}

interface Endpoint {
  label: string;
  node: string | null;
  addrs: string[];
}

/** The address a host/IP/CIDR test endpoint stands for: its first address. */
function firstAddress(r: RangeSet): string | null {
  return r.v4.length > 0 ? formatIP(bigToBytes(r.v4[0].start, 4)) : r.v6.length > 0 ? formatIP(bigToBytes(r.v6[0].start, 16)) : null;
}

/** Synthetic devices are named with this prefix so failures can say the result rests on one. */
export const SYNTHETIC_PREFIX = 'synthetic-';
/** Devices made for one test's srcPostureAttrs; no other test sees them. */
const POSTURE_PREFIX = `${SYNTHETIC_PREFIX}posture-`;

function endpoints(host: TestHost, sel: Selector, asDst: boolean): Endpoint[] {
  if (sel.kind === 'prefix') {
    const addr = firstAddress(sel.ranges);
    if (!addr) return [];
    if (!asDst) return [{ label: addr, node: null, addrs: [addr] }];
    return host.nodesForAddress(addr).map((n) => ({ label: `${n} ${addr}`, node: n, addrs: [addr] }));
  }
  return host
    .nodesMatching(sel)
    .filter((n) => !n.startsWith(POSTURE_PREFIX))
    .map((n) => ({ label: n, node: n, addrs: host.nodeAddresses(n) }));
}

const TAILNET_RANGES = rangeSetOfStrings([TAILNET_V4_RANGE, TAILNET_V6_RANGE]);

function addrOf(text: string): NodeAddr | null {
  const p = parseIP(text);
  return p ? { family: p.family, big: bytesToBig(p.bytes), text, cidr: text } : null;
}

/**
 * Does the filter let the first packet of one of `protos` to `port` from `src` to `dst` through? Asked of
 * types/rule-match.ts, the reference the compiled filter is tested against, so a test result is what
 * nodes enforce (ICMP: echo requests, which any open port lets through; GRE and other port-less
 * protocols: only rules covering every port).
 */
function allows(rules: RuleMatcher, src: string, dst: string, protos: number[], port: number): boolean {
  const s = parseIP(src);
  const d = parseIP(dst);
  if (!s || !d || s.family !== d.family) return false;
  return protos.some((p) => rules.allowsNew(s.bytes, d.bytes, p, port) >= 0);
}

/** Synthetic devices lack posture and admin roles: only then can a result hinge on them. */
function dependsOnRealDevices(policy: Policy): boolean {
  const admin = (sels: Selector[]) => sels.some((s) => s.kind === 'autogroup' && s.name === 'admin');
  return policy.grants.some((g) => g.srcPosture.length > 0 || admin(g.src) || g.legs.some((l) => admin(l.dst)));
}

function evaluate(host: TestHost, t: TestCase, target: TestTarget, expect: 'accept' | 'deny', srcDevice: string | undefined): string | null {
  const what = `${t.protoName}/${target.port} from ${t.srcText} to ${target.text.slice(0, target.text.lastIndexOf(':'))}`;
  const srcs = srcDevice ? [{ label: srcDevice, node: srcDevice, addrs: host.nodeAddresses(srcDevice) }] : endpoints(host, t.src, false);
  const dsts = endpoints(host, target.target, true);
  if (srcs.length === 0 || dsts.length === 0) {
    return expect === 'accept' ? `expected accept, got deny: no device for ${srcs.length === 0 ? t.srcText : target.text}` : null;
  }
  const compiled = new Map<string, RuleMatcher>();
  const denied: string[] = [];
  const allowed: string[] = [];
  for (const d of dsts) {
    if (!d.node) continue;
    let rules = compiled.get(d.node);
    if (!rules) compiled.set(d.node, (rules = new RuleMatcher(host.compileNode(d.node).rules)));
    for (const s of srcs) {
      let pairTested = false;
      let ok = false;
      for (const sa of s.addrs) for (const da of d.addrs) {
        if (addrOf(sa)?.family !== addrOf(da)?.family) continue;
        pairTested = true;
        if (allows(rules, sa, da, t.protos, target.port)) ok = true;
      }
      if (!pairTested) continue;
      (ok ? allowed : denied).push(`${s.label} → ${d.label}`);
    }
  }
  const hint = (pairs: string[]) =>
    !srcDevice && dependsOnRealDevices(host.policy) && pairs.some((p) => p.includes(SYNTHETIC_PREFIX)) ? ' [on a synthetic device: no posture, member role; use a tailnet file or srcPostureAttrs]' : '';
  if (expect === 'accept' && denied.length > 0) {
    const all = allowed.length === 0;
    return `expected accept, got deny: no grant allows ${what}${all ? '' : ` (denied for ${denied.slice(0, 3).join(', ')}${denied.length > 3 ? ', …' : ''})`}${hint(denied)}`;
  }
  if (expect === 'accept' && allowed.length === 0) return `expected accept, got deny: no grant allows ${what}`;
  if (expect === 'deny' && allowed.length > 0) {
    return `expected deny, got accept: ${what} is allowed (${allowed.slice(0, 3).join(', ')}${allowed.length > 3 ? ', …' : ''})${hint(allowed)}`;
  }
  return null;
}

/** Runs every test; failing ones become diagnostics positioned at the failing target. */
export function runPolicyTests(policy: Policy, host: TestHost): Diagnostic[] {
  if (policy.tests.length === 0) return [];
  // Give identities without devices a synthetic device, in a copy of the tailnet.
  const base = host.tailnet();
  const alloc = new AddressAllocator(base);
  const extra: TailnetNode[] = [];
  const users = [...base.users];
  const viaTags = [...new Set(policy.grants.flatMap((g) => g.via))].sort();
  const need = (sel: Selector, asDst: boolean) => {
    if (sel.kind === 'prefix') {
      // An address no device owns or routes: a synthetic owner (tailnet range) or subnet router serving
      // exactly that address (carrying the policy's via tags, so via grants can be tested too).
      const addr = firstAddress(sel.ranges);
      if (!asDst || !addr || host.nodesForAddress(addr).length > 0) return;
      if (extra.some((n) => n.ips.includes(addr) || (n.routes ?? []).some((r) => r.startsWith(`${addr}/`)))) return;
      const name = `${SYNTHETIC_PREFIX}test-${extra.length + 1}`;
      const a = addrOf(addr) as NodeAddr;
      const inTailnet = addrInRanges(a, TAILNET_RANGES);
      extra.push(inTailnet ? { name, tags: [], ips: [addr] } : { name, tags: viaTags, ips: alloc.next(), routes: [`${addr}/${a.family === 4 ? 32 : 128}`] });
      return;
    }
    if (host.nodesMatching(sel).length > 0) return;
    if (extra.some((n) => (sel.kind === 'tag' ? n.tags.includes(sel.name) : sel.kind === 'user' ? n.user === sel.login : false))) return;
    const node = syntheticFor(policy, sel, alloc, extra.length + 1);
    if (node) extra.push(node);
  };
  const srcDevices = new Map<number, string>();
  for (const t of policy.tests) {
    if (t.srcPosture) {
      const node = syntheticFor(policy, t.src, alloc, extra.length + 1);
      if (node) {
        node.name = `${POSTURE_PREFIX}${t.index}`;
        node.posture = { ...t.srcPosture };
        extra.push(node);
        srcDevices.set(t.index, node.name);
      }
    } else need(t.src, false);
    for (const x of [...t.accept, ...t.deny]) need(x.target, true);
  }
  let evalHost: TestHost = host;
  if (extra.length > 0) evalHost = host.withTailnet({ users, nodes: [...base.nodes, ...extra] });
  const out: Diagnostic[] = [];
  for (const t of policy.tests) {
    for (const [list, expect] of [
      [t.accept, 'accept'],
      [t.deny, 'deny'],
    ] as const) {
      for (const target of list) {
        const failure = evaluate(evalHost, t, target, expect, srcDevices.get(t.index));
        if (failure) {
          out.push({ file: policy.file, line: target.pos.line, col: target.pos.col, code: ERR.TEST_FAILED, message: `test ${t.index} (src ${t.srcText}, ${expect} ${JSON.stringify(target.text)}): test(s) failed: ${failure}` });
        }
      }
    }
  }
  return out;
}
