// `--exit-node-allow-lan-access=false` (the default while an exit node is in use, as in Tailscale): the
// directly connected networks stop being reachable directly. Our exit routes are the two halves of each
// address family (route-select.ts), so connected networks, being more specific, would otherwise stay
// direct. Rather than route them into the tunnel (which would also capture WireGuard's own datagrams and
// the control connection: there is no fwmark policy routing here), an nftables output chain rejects new
// traffic to them, exempting the addresses this node must keep reaching over the LAN: its peers'
// endpoints and control. The exit node cannot reach this LAN anyway, so the effect is Tailscale's: no LAN.
//
// Limitation: a control server named by a host name (not an IP literal) is not exempted by address; its
// already-open connection keeps working (established traffic passes), a reconnect would need the LAN.
import { parseAddrPort, parseIP, parsePrefix } from '../types/ip.js';

export const NFT_LAN_TABLE = 'grantwire_exit_lan';

export interface LanBlockWish {
  /** Block the LAN (exit node in use and LAN access not allowed). */
  block: boolean;
  /** Connected networks (CIDRs of this host's interfaces, the TUN excluded). */
  lans: readonly string[];
  /** Addresses to keep reaching directly: peers' endpoints (`ip:port`) and control (an IP or a URL). */
  exempt: readonly string[];
}

function addrOf(text: string): string | null {
  const ap = parseAddrPort(text);
  if (ap) return text.startsWith('[') ? text.slice(1, text.indexOf(']')) : text.slice(0, text.lastIndexOf(':'));
  if (parseIP(text)) return text;
  try {
    const host = new URL(text).hostname.replace(/^\[|\]$/g, '');
    return parseIP(host) ? host : null;
  } catch {
    return null;
  }
}

function set(items: string[]): string {
  return `{ ${items.join(', ')} }`;
}

/** The nft script installing (or, with block off, removing) the LAN block. */
export function lanBlockScript(w: LanBlockWish): string {
  const lines = [`add table inet ${NFT_LAN_TABLE}`, `delete table inet ${NFT_LAN_TABLE}`];
  // Link-local networks stay: IPv6 neighbour discovery and DHCP live there.
  const nets = [...new Set(w.lans.filter((l) => parsePrefix(l) !== null && !/^fe[89ab]/i.test(l) && !l.startsWith('169.254.')))].sort();
  if (!w.block || nets.length === 0) return lines.join('\n') + '\n';
  const exempt = [...new Set(w.exempt.map(addrOf).filter((a): a is string => a !== null))].sort();
  const body: string[] = ['    ct state established,related accept'];
  for (const fam of ['ip', 'ip6'] as const) {
    const v6 = fam === 'ip6';
    const ex = exempt.filter((a) => a.includes(':') === v6);
    const ln = nets.filter((n) => n.includes(':') === v6);
    if (ln.length === 0) continue;
    if (ex.length > 0) body.push(`    ${fam} daddr ${set(ex)} accept`);
    body.push(`    ${fam} daddr ${set(ln)} reject with icmpx type admin-prohibited`);
  }
  lines.push(`table inet ${NFT_LAN_TABLE} {`, '  chain output {', '    type filter hook output priority filter; policy accept;', ...body, '  }', '}');
  return lines.join('\n') + '\n';
}
