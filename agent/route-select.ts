// What this node does with the routes in a netmap, by its prefs (issue 14). Pure.
// - Subnet routes of peers are used only with RouteAll (`--accept-routes`): otherwise they leave the peers'
//   allowed IPs, so nothing is routed to them and cryptokey routing never sends there.
// - Exit routes (0.0.0.0/0, ::/0) stay only on the chosen exit node (ExitNode: a peer's name or tailnet
//   IP); every other exit node's are dropped before the netmap is sanitized (two peers claiming 0.0.0.0/0
//   would otherwise both be refused as duplicates). A chosen exit node that is missing or offers no exit
//   routes still gets default traffic routed into the tunnel, where it is dropped: fail closed, as
//   Tailscale does, rather than leak to the local network.
// - The OS routes (into the TUN) are the accepted subnet routes plus, with an exit node, the two halves of
//   each address family (0.0.0.0/1 + 128.0.0.0/1, ::/1 + 8000::/1), which win over a default route
//   without replacing it; connected networks (more specific) stay direct, so the underlay keeps working.
import type { RoutePrefs } from '../localapi/route-prefs.js';
import { TAILNET_V4_RANGE, TAILNET_V6_RANGE } from '../types/filter-rule.js';
import { parsePrefix, prefixContains, type IPPrefix } from '../types/ip.js';
import type { Netmap, NetmapNode } from '../types/netmap.js';
import { isExitRoute } from '../types/route.js';

/** What replaces the exit routes in the OS routing table. */
export const EXIT_ROUTE_HALVES: readonly string[] = ['0.0.0.0/1', '128.0.0.0/1', '::/1', '8000::/1'];

const TAILNET: IPPrefix[] = [parsePrefix(TAILNET_V4_RANGE)!, parsePrefix(TAILNET_V6_RANGE)!];

export interface RouteSelection {
  netmap: Netmap;
  /** The chosen exit node as found in the netmap (null: none chosen, or not found). */
  exitNode: NetmapNode | null;
  /** Why the chosen exit node is not usable (shown in status health), or null. */
  problem: string | null;
}

function isTailnetPrefix(text: string): boolean {
  const p = parsePrefix(text);
  return p !== null && TAILNET.some((t) => t.family === p.family && t.bits <= p.bits && prefixContains(t, p.bytes));
}

/** A peer by name (netmap name or hostname, case-insensitive) or by one of its tailnet IPs. */
export function findPeer(nm: Netmap, ref: string): NetmapNode | null {
  const want = ref.trim().toLowerCase();
  if (want === '') return null;
  for (const p of nm.peers) {
    if (p.name.toLowerCase() === want || p.name.toLowerCase().split('.')[0] === want || p.hostinfo.hostname.toLowerCase() === want) return p;
    if (p.addresses.some((a) => a.split('/')[0].toLowerCase() === want)) return p;
  }
  return null;
}

export function selectRoutes(nm: Netmap, prefs: RoutePrefs): RouteSelection {
  const ref = prefs.ExitNode ?? '';
  const exit = ref === '' ? null : findPeer(nm, ref);
  let problem: string | null = null;
  if (ref !== '' && !exit) problem = `exit node ${JSON.stringify(ref)} is not a peer in the netmap (default traffic is dropped)`;
  else if (exit && !(exit.routes ?? []).some(isExitRoute)) problem = `${exit.name} is not an approved exit node (default traffic is dropped)`;
  else if (exit && !exit.online) problem = `exit node ${exit.name} is offline`;
  const peers = nm.peers.map((p) => {
    // Only the peer's own approved routes are chosen here; anything else stays for the sanitizer to refuse
    // and count (a hostile 0.0.0.0/0 must not vanish silently).
    const routes = p.routes ?? [];
    const keep = p.allowedIPs.filter((a) => !routes.includes(a) || (isExitRoute(a) ? p === exit : isTailnetPrefix(a) || prefs.RouteAll === true));
    return keep.length === p.allowedIPs.length ? p : { ...p, allowedIPs: keep };
  });
  return { netmap: { ...nm, peers }, exitNode: exit, problem };
}

/** The prefixes to route into the TUN (beyond the tailnet ranges) for a sanitized, selected netmap. */
export function osRoutesOf(nm: Netmap, prefs: RoutePrefs): string[] {
  const out = new Set<string>();
  for (const p of nm.peers) for (const a of p.allowedIPs) if (!isTailnetPrefix(a) && !isExitRoute(a)) out.add(a);
  if ((prefs.ExitNode ?? '') !== '') for (const h of EXIT_ROUTE_HALVES) out.add(h);
  return [...out].sort();
}

/** The subnet and exit routes this node itself serves (its approved routes, from its own netmap entry). */
export function servedRoutes(nm: Netmap): string[] {
  return [...(nm.self.routes ?? [])];
}
