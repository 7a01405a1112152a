// autoApprovers (policy.md): which advertised routes a node gets approved without an admin. A route is
// auto-approved when an entry of `routes` covers it (the entry's prefix equals or contains the advertised
// one) and lists the node; the exit routes 0.0.0.0/0 and ::/0 are approved when `exitNode` lists the
// node. "Lists the node" is the same identity match grants use (node-index.ts nodeMatches): a user
// login, a group the owner is in, a tag the node carries, autogroup:member / tagged / admin. A tagged node
// is matched by its tags only, never by the user who tagged it (Tailscale's reading). Pure.
import { parsePrefix, prefixContains, type IPPrefix } from '../types/ip.js';
import type { Tailnet, TailnetNode } from '../types/tailnet.js';
import type { Policy, Selector } from './model.js';
import { adminsOf, makeNodeRec, nodeMatches, type NodeRec } from './node-index.js';

/** True when `outer` contains every address of `inner` (same family). */
export function prefixCovers(outer: IPPrefix, inner: IPPrefix): boolean {
  return outer.family === inner.family && outer.bits <= inner.bits && prefixContains(outer, inner.bytes);
}

export class AutoApprover {
  private readonly routes: { prefix: IPPrefix; who: Selector[] }[] = [];
  private readonly groupSets = new Map<string, Set<string>>();
  private readonly admins: Set<string>;

  constructor(
    private readonly policy: Policy,
    users: Tailnet['users'],
  ) {
    for (const [g, members] of policy.groups) this.groupSets.set(g, new Set(members));
    this.admins = adminsOf({ users, nodes: [] });
    for (const [cidr, who] of policy.autoApprovers.routes) {
      const p = parsePrefix(cidr);
      if (p) this.routes.push({ prefix: p, who });
    }
  }

  private matches(who: readonly Selector[], rec: NodeRec): boolean {
    return who.some((s) => nodeMatches(s, rec, this.groupSets));
  }

  /** The advertised routes (canonical CIDRs) that the policy approves for `node`, in input order. */
  approve(node: TailnetNode, advertised: readonly string[]): string[] {
    const rec = makeNodeRec({ ...node, routes: [] }, this.admins);
    const out: string[] = [];
    for (const r of advertised) {
      const p = parsePrefix(r);
      if (!p) continue;
      const ok = p.bits === 0 ? this.matches(this.policy.autoApprovers.exitNode, rec) : this.routes.some((e) => prefixCovers(e.prefix, p) && this.matches(e.who, rec));
      if (ok) out.push(r);
    }
    return out;
  }
}
