// "Who can reach what" for one node under a policy, for the console's policy editor: before a draft is
// saved, the admin picks a node and sees, per other node, what the compiled filters would let through in
// each direction (inbound: the node's own filter with each peer as source; outbound: each peer's filter
// with the node as source), next to the same answer for the active policy.
//
// Decided by types/rule-match.ts (the obviously-correct linear matcher the filter is tested against),
// one rule destination at a time, so the answer lists ports and protocols, not just yes/no. Allocates per
// call; for the console, not for the packet path.
import { DEFAULT_IPPROTOS, type FilterRule } from '../types/filter-rule.js';
import { parseIP } from '../types/ip.js';
import { ipProtoHasPorts, ipProtoName } from '../types/ipproto.js';
import { RuleMatcher } from '../types/rule-match.js';
import type { Tailnet, TailnetNode } from '../types/tailnet.js';
import type { NodeCompiler } from './policy-engine.js';

export interface ReachEntry {
  peer: string;
  /** The peer's owner, or its tags for a tagged node. */
  owner: string;
  /** e.g. ["tcp:22", "tcp:5432", "icmp"], sorted; capabilities as "cap:NAME". */
  access: string[];
}

export interface ReachPreview {
  node: string;
  /** Peers that may open connections to the node. */
  inbound: ReachEntry[];
  /** Peers the node may open connections to. */
  outbound: ReachEntry[];
}

interface DstCheck {
  matcher: RuleMatcher;
  labels: string[];
}

function portText(first: number, last: number): string {
  if (first === 0 && last === 65535) return '*';
  return first === last ? String(first) : `${first}-${last}`;
}

/** One matcher per (rule, destination), with the access it stands for. */
function dstChecks(rules: readonly FilterRule[]): DstCheck[] {
  const out: DstCheck[] = [];
  for (const r of rules) {
    const protos = r.IPProto && r.IPProto.length > 0 ? r.IPProto : DEFAULT_IPPROTOS;
    for (const d of r.DstPorts ?? []) {
      const port = portText(d.Ports.First, d.Ports.Last);
      const labels = protos.map((p) => (ipProtoHasPorts(p) ? `${ipProtoName(p)}:${port}` : ipProtoName(p)));
      out.push({ matcher: new RuleMatcher([{ SrcIPs: r.SrcIPs, DstPorts: [d] }]), labels });
    }
  }
  return out;
}

function addrs(n: TailnetNode): Uint8Array[] {
  return n.ips.map((ip) => parseIP(ip)?.bytes).filter((b): b is Uint8Array => b !== undefined);
}

/** What `rules` (the filter on `dst`) let `src` open, as sorted labels; [] for nothing. */
function accessFrom(checks: readonly DstCheck[], capMatcher: RuleMatcher, src: TailnetNode, dst: TailnetNode): string[] {
  const got = new Set<string>();
  for (const s of addrs(src)) {
    for (const d of addrs(dst)) {
      if (s.length !== d.length) continue;
      for (const c of checks) if (c.matcher.reach(s, d) >= 0) for (const l of c.labels) got.add(l);
      for (const name of Object.keys(capMatcher.caps(s, d) ?? {})) got.add(`cap:${name}`);
    }
  }
  return [...got].sort();
}

function owner(n: TailnetNode): string {
  return n.tags.length > 0 ? n.tags.join(',') : (n.user ?? '?');
}

/** The preview for `nodeName`; null when the tailnet has no such node. */
export function reachPreview(compiler: NodeCompiler, tailnet: Tailnet, nodeName: string): ReachPreview | null {
  const self = tailnet.nodes.find((n) => n.name === nodeName);
  if (!self) return null;
  const compiled = new Map<string, { checks: DstCheck[]; caps: RuleMatcher }>();
  const filterOf = (name: string) => {
    let f = compiled.get(name);
    if (!f) {
      const rules = compiler.compileNode(name).rules;
      f = { checks: dstChecks(rules), caps: new RuleMatcher(rules) };
      compiled.set(name, f);
    }
    return f;
  };
  const inbound: ReachEntry[] = [];
  const outbound: ReachEntry[] = [];
  const mine = filterOf(self.name);
  for (const peer of tailnet.nodes) {
    if (peer.name === self.name) continue;
    const inAccess = accessFrom(mine.checks, mine.caps, peer, self);
    if (inAccess.length > 0) inbound.push({ peer: peer.name, owner: owner(peer), access: inAccess });
    const theirs = filterOf(peer.name);
    const outAccess = accessFrom(theirs.checks, theirs.caps, self, peer);
    if (outAccess.length > 0) outbound.push({ peer: peer.name, owner: owner(peer), access: outAccess });
  }
  return { node: self.name, inbound, outbound };
}
