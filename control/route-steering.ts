// `via` on the sending side (issue 14, policy.md): when several routers serve the same subnet route, a
// node is normally sent to the elected primary (route-primary.ts); but a grant with `via: [tag:x]` is
// compiled only into the filters of routers carrying tag:x (policy/compiler.ts), so the primary may drop
// what this node is allowed to send. Steering hands the route, for this viewer only, to a router whose
// compiled filter admits some traffic from the viewer into the route: the primary when it does, else the
// lowest-id online such router. Without via every router of a route has the same rules and nothing moves.
//
// The check reads the routers' compiled FilterRules (what they will enforce), not the policy: control
// never re-derives policy semantics outside policy/. Pure; allocates per call (netmap build, not packets).
import type { FilterRule } from '../types/filter-rule.js';
import { compareIP, parseIP, parsePrefix, prefixContains, type IPPrefix } from '../types/ip.js';
import { prefixesOverlap } from '../types/route.js';

export interface SteeringRouter {
  id: number;
  online: boolean;
  rules: readonly FilterRule[];
}

function containsAddr(text: string, addr: Uint8Array): boolean {
  if (text === '*') return true;
  const dash = text.indexOf('-');
  if (dash > 0) {
    const lo = parseIP(text.slice(0, dash));
    const hi = parseIP(text.slice(dash + 1));
    return !!lo && !!hi && lo.bytes.length === addr.length && compareIP(lo.bytes, addr) <= 0 && compareIP(addr, hi.bytes) <= 0;
  }
  const p = parsePrefix(text);
  return p !== null && prefixContains(p, addr);
}

function overlapsRoute(text: string, route: IPPrefix): boolean {
  if (text === '*') return true;
  const dash = text.indexOf('-');
  if (dash > 0) {
    const lo = parseIP(text.slice(0, dash));
    const hi = parseIP(text.slice(dash + 1));
    if (!lo || !hi || lo.family !== route.family) return false;
    return prefixContains(route, lo.bytes) || prefixContains(route, hi.bytes) || (compareIP(lo.bytes, route.bytes) <= 0 && compareIP(route.bytes, hi.bytes) <= 0);
  }
  const p = parsePrefix(text);
  return p !== null && prefixesOverlap(p, route);
}

/** Does any rule let one of `viewer`'s addresses send into `route`? */
export function admits(rules: readonly FilterRule[], viewer: readonly Uint8Array[], route: IPPrefix): boolean {
  for (const r of rules) {
    if (!r.DstPorts || !r.DstPorts.some((d) => overlapsRoute(d.IP, route))) continue;
    if (r.SrcIPs.some((s) => viewer.some((a) => a.length === route.bytes.length && containsAddr(s, a)))) return true;
  }
  return false;
}

/** The router that should carry `route` for the viewer: the primary unless only others admit the viewer. */
export function steer(route: string, primary: number, routers: readonly SteeringRouter[], viewer: readonly Uint8Array[]): number {
  const p = parsePrefix(route);
  if (!p || routers.length < 2) return primary;
  const ok = routers.filter((r) => admits(r.rules, viewer, p));
  if (ok.length === 0 || ok.some((r) => r.id === primary)) return primary;
  ok.sort((a, b) => Number(b.online) - Number(a.online) || a.id - b.id);
  return ok[0].id;
}
