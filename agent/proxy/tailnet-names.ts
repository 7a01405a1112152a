// Tailnet names for the proxies and embedded nodes: a peer's host name (`prod`), its MagicDNS-style name
// with or without the final dot (`prod.example.grantwire.`), or an IP literal inside the tailnet (a node's
// address or a route a peer serves). Answers from a status snapshot (the netmap as the LocalAPI shows
// it), so it is pure and the same for the daemon and embedded nodes. IPv4 is preferred, as with dial.
import { TAILNET_ROUTES } from '../netmap-apply.js';
import type { PeerStatus, StatusResponse } from '../../localapi/types.js';
import { formatIP, parseIP, parsePrefix, prefixContains, type IPPrefix } from '../../types/ip.js';

const TAILNET_PREFIXES: IPPrefix[] = TAILNET_ROUTES.map((r) => parsePrefix(r)).filter((p): p is IPPrefix => p !== null);

function nodes(st: StatusResponse): PeerStatus[] {
  return [...(st.Self ? [st.Self] : []), ...Object.values(st.Peer ?? {})];
}

function firstAddress(n: PeerStatus): string | null {
  return n.TailscaleIPs.find((a) => !a.includes(':')) ?? n.TailscaleIPs[0] ?? null;
}

function matches(n: PeerStatus, name: string): boolean {
  const dns = n.DNSName.toLowerCase();
  const bare = dns.endsWith('.') ? dns.slice(0, -1) : dns;
  return n.HostName.toLowerCase() === name || dns === name || bare === name || bare.split('.')[0] === name;
}

/** `name` to an IP address on the tailnet, or null when it names nothing there. */
export function resolveTailnetName(name: string, st: StatusResponse): string | null {
  const text = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
  const ip = parseIP(text);
  if (ip) {
    if (TAILNET_PREFIXES.some((p) => prefixContains(p, ip.bytes))) return formatIP(ip.bytes);
    for (const n of nodes(st)) {
      for (const a of n.AllowedIPs) {
        const p = parsePrefix(a);
        if (p && prefixContains(p, ip.bytes)) return formatIP(ip.bytes);
      }
    }
    return null;
  }
  const lower = text.toLowerCase();
  if (lower === '' || lower.length > 254) return null;
  for (const n of nodes(st)) if (matches(n, lower)) return firstAddress(n);
  return null;
}
