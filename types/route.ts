// Subnet routes as nodes advertise them (`agent up --advertise-routes`, exit nodes) and control approves
// them: one check shared by the agent's CLI, control's wire parser and its admin commands, so every door
// refuses the same things. A route is a CIDR without host bits, outside the tailnet's own ranges (a node
// must not claim 100.64.0.0/10 or fd7a:115c:a1e0::/48 space, nor anything inside it); the exit routes
// 0.0.0.0/0 and ::/0 are the only routes allowed to contain them. Pure.
import { TAILNET_V4_RANGE, TAILNET_V6_RANGE } from './filter-rule.js';
import { formatPrefix, hasHostBits, maskPrefix, parsePrefix, prefixContains, type IPPrefix } from './ip.js';

/** What `--advertise-exit-node` advertises (Tailscale's exit routes). */
export const EXIT_ROUTES: readonly string[] = ['0.0.0.0/0', '::/0'];
/** Implementation limit on the routes one node may advertise. */
export const MAX_ROUTES = 256;

const TAILNET: IPPrefix[] = [parsePrefix(TAILNET_V4_RANGE)!, parsePrefix(TAILNET_V6_RANGE)!];

export function isExitRoute(route: string): boolean {
  return route === '0.0.0.0/0' || route === '::/0';
}

/** Two prefixes of one family share an address (one contains the other's network address). */
export function prefixesOverlap(a: IPPrefix, b: IPPrefix): boolean {
  if (a.family !== b.family) return false;
  return a.bits <= b.bits ? prefixContains(a, b.bytes) : prefixContains(b, a.bytes);
}

/** The canonical text of a valid route, or why `text` is not one. */
export function checkRoute(text: string): { route: string } | { problem: string } {
  const p = typeof text === 'string' && text.includes('/') ? parsePrefix(text) : null;
  if (!p) return { problem: `route ${JSON.stringify(text)} is not a CIDR prefix (e.g. 10.0.0.0/24)` };
  if (hasHostBits(p)) return { problem: `route ${JSON.stringify(text)} has host bits set; expected ${formatPrefix(maskPrefix(p))}` };
  if (p.bits > 0 && TAILNET.some((t) => prefixesOverlap(t, p))) {
    return { problem: `route ${JSON.stringify(text)} overlaps the tailnet range ${p.family === 4 ? TAILNET_V4_RANGE : TAILNET_V6_RANGE}` };
  }
  return { route: formatPrefix(p) };
}

/** Sorted, deduplicated canonical routes (IPv4 first), or the problems of every bad entry. */
export function checkRoutes(list: readonly string[]): { routes: string[]; problems: string[] } {
  const problems: string[] = [];
  const routes = new Set<string>();
  if (list.length > MAX_ROUTES) problems.push(`too many routes: ${list.length} (at most ${MAX_ROUTES})`);
  for (const t of list.slice(0, MAX_ROUTES)) {
    const r = checkRoute(t);
    if ('problem' in r) problems.push(r.problem);
    else routes.add(r.route);
  }
  return { routes: sortRoutes([...routes]), problems };
}

/** IPv4 before IPv6, then by text (deterministic netmaps). */
export function sortRoutes(routes: string[]): string[] {
  return routes.sort((a, b) => Number(a.includes(':')) - Number(b.includes(':')) || (a < b ? -1 : a > b ? 1 : 0));
}
