// Control is trusted to say who is in the tailnet, not to reconfigure this host: a netmap is checked
// before anything of it reaches the TUN, WireGuard's cryptokey routing, whois or status (issue 10, item
// 10). Rejected, each logged and counted by the caller:
// - self addresses that are not host prefixes inside 100.64.0.0/10 or fd7a:115c:a1e0::/48 (the TUN
//   would otherwise carry, say, 0.0.0.0/0 or a LAN address);
// - peer addresses outside those ranges, and peer allowed IPs outside them unless the prefix is one of
//   that peer's approved routes (NetmapNode.routes): a peer must not capture traffic for the Internet or
//   the LAN by being handed a prefix;
// - an address claimed by two peers (both claims go: which one is lying cannot be told, and cryptokey
//   routing would silently pick by update order) or by a peer and this node (the peer's claim goes);
// - routes (this node's own or a peer's) that are not valid routes (types/route.ts), in particular any
//   route overlapping the tailnet ranges other than the exit routes: a "subnet" such as 100.64.0.0/16
//   would hand one peer other peers' addresses, or make this node treat tailnet traffic as its own;
// - endpoints in loopback, multicast, link-local or unspecified space (WireGuard would send handshakes
//   to local services or onto the local link).
// Pure; returns a cleaned copy (prefixes in canonical text) and leaves the input as it was.
import { TAILNET_V4_RANGE, TAILNET_V6_RANGE } from '../types/filter-rule.js';
import { formatPrefix, hasHostBits, parseAddrPort, parsePrefix, prefixContains, type IPPrefix } from '../types/ip.js';
import type { Netmap, NetmapNode } from '../types/netmap.js';
import { checkRoute } from '../types/route.js';

export type RejectReason = 'self_address' | 'self_route' | 'peer_address' | 'peer_route' | 'peer_allowed_ip' | 'duplicate_address' | 'endpoint';

export interface Rejection {
  reason: RejectReason;
  /** The node's name (or its key when it has none). */
  node: string;
  /** The rejected prefix or endpoint, as control sent it (duplicates: in canonical form). */
  value: string;
}

const TAILNET: IPPrefix[] = [parsePrefix(TAILNET_V4_RANGE)!, parsePrefix(TAILNET_V6_RANGE)!];

/** A host prefix (/32, /128) inside the tailnet ranges: canonical text, or null. */
function tailnetHost(text: string): string | null {
  const p = parsePrefix(text);
  if (!p || p.bits !== p.bytes.length * 8 || !TAILNET.some((t) => prefixContains(t, p.bytes))) return null;
  return formatPrefix(p);
}

/** A prefix without host bits: canonical text, or null. */
function canonicalRoute(text: string): string | null {
  const p = parsePrefix(text);
  return p && !hasHostBits(p) ? formatPrefix(p) : null;
}

/** Loopback, multicast, link-local, unspecified (IPv4-mapped IPv6 judged as IPv4). */
function unusableEndpointAddr(bytes: Uint8Array): boolean {
  let b = bytes;
  if (b.length === 16 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) b = b.subarray(12);
  if (b.length === 4) return b[0] === 127 || b[0] === 0 || b[0] >= 224 || (b[0] === 169 && b[1] === 254);
  const zeroUpTo15 = b.subarray(0, 15).every((x) => x === 0);
  if (zeroUpTo15 && (b[15] === 0 || b[15] === 1)) return true; // :: and ::1
  return b[0] === 0xff || (b[0] === 0xfe && (b[1] & 0xc0) === 0x80);
}

function label(n: NetmapNode): string {
  return n.name || n.nodeKey;
}

/** The netmap without hostile entries, and what was rejected (in netmap order). */
export function sanitizeNetmap(nm: Netmap): { netmap: Netmap; rejections: Rejection[] } {
  const rejections: Rejection[] = [];
  const reject = (reason: RejectReason, n: NetmapNode, value: string) => rejections.push({ reason, node: label(n), value });

  const self: string[] = [];
  for (const a of nm.self.addresses) {
    const c = tailnetHost(a);
    if (c === null) reject('self_address', nm.self, a);
    else if (!self.includes(c)) self.push(c);
  }

  const validRoutes = (n: NetmapNode, reason: RejectReason): string[] => {
    const out: string[] = [];
    for (const r of n.routes ?? []) {
      const c = checkRoute(r);
      if ('problem' in c) reject(reason, n, r);
      else if (!out.includes(c.route)) out.push(c.route);
    }
    return out;
  };
  const selfRoutes = validRoutes(nm.self, 'self_route');

  // Per peer: valid addresses and allowed IPs (canonical, deduplicated), before the cross-peer check.
  const peers = nm.peers.map((n) => {
    const addresses: string[] = [];
    for (const a of n.addresses) {
      const c = tailnetHost(a);
      if (c === null) reject('peer_address', n, a);
      else if (!addresses.includes(c)) addresses.push(c);
    }
    const routes = new Set(validRoutes(n, 'peer_route'));
    const allowedIPs: string[] = [];
    for (const a of n.allowedIPs) {
      const c = tailnetHost(a) ?? canonicalRoute(a);
      if (c === null || (tailnetHost(a) === null && !routes.has(c))) reject('peer_allowed_ip', n, a);
      else if (!allowedIPs.includes(c)) allowedIPs.push(c);
    }
    return { node: n, addresses, allowedIPs, routes: [...routes] };
  });

  const claims = new Map<string, number>();
  for (const p of peers) for (const c of new Set([...p.addresses, ...p.allowedIPs])) claims.set(c, (claims.get(c) ?? 0) + 1);
  const contested = (c: string) => (claims.get(c) ?? 0) > 1 || self.includes(c);

  const cleanPeers = peers.map(({ node, addresses, allowedIPs, routes }) => {
    for (const c of new Set([...addresses, ...allowedIPs])) if (contested(c)) reject('duplicate_address', node, c);
    const endpoints: string[] = [];
    for (const e of node.endpoints) {
      const ap = parseAddrPort(e);
      if (!ap || unusableEndpointAddr(ap.addr.bytes)) reject('endpoint', node, e);
      else endpoints.push(e);
    }
    const out: NetmapNode = { ...node, addresses: addresses.filter((c) => !contested(c)), allowedIPs: allowedIPs.filter((c) => !contested(c)), endpoints };
    if (node.routes !== undefined) out.routes = routes;
    return out;
  });

  const cleanSelf: NetmapNode = { ...nm.self, addresses: self };
  if (nm.self.routes !== undefined) cleanSelf.routes = selfRoutes;
  return { netmap: { ...nm, self: cleanSelf, peers: cleanPeers }, rejections };
}
