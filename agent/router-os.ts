// The host side of serving routes (issue 14): a subnet router or exit node forwards between the tunnel and
// its other interfaces, so IPv4 and IPv6 forwarding are switched on (and left on: other software may rely
// on them, and Tailscale does not switch them back either), and traffic from the tailnet is masqueraded
// behind the router's own address on the way out (nftables), so LAN hosts and the Internet answer without
// a route back to 100.64.0.0/10. `--snat-subnet-routes=false` drops the masquerade for subnet routes (the
// LAN then needs a route to the tailnet via this host); an exit node always masquerades (the Internet has
// no route back at all).
//
// Everything goes through a small command runner, so tests check the exact nft script without root.
// Idempotent: apply() with the same wish does nothing; the table is replaced as a whole, never patched.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { TAILNET_V4_RANGE, TAILNET_V6_RANGE } from '../types/filter-rule.js';
import { lanBlockScript, type LanBlockWish } from './exit-lan-block.js';

export const NFT_TABLE = 'grantwire_routes';

export interface RouterWish {
  /** The node serves subnet or exit routes. */
  serving: boolean;
  /** Masquerade traffic from the tailnet leaving through another interface. */
  masquerade: boolean;
  /** The TUN's name (traffic leaving through it is never masqueraded). */
  tun: string;
}

export interface RouterHost {
  /** Runs `nft -f -` with the script on stdin. */
  nft(script: string): void;
  setSysctl(path: string, value: string): void;
}

export const realRouterHost: RouterHost = {
  nft(script) {
    execFileSync('nft', ['-f', '-'], { input: script, stdio: ['pipe', 'ignore', 'pipe'], timeout: 10_000 });
  },
  setSysctl(path, value) {
    writeFileSync(path, value);
  },
};

/** The nft script that installs (or, with masquerade off, removes) the table. */
export function nftScript(w: RouterWish): string {
  // `add` then `delete` makes the delete safe when the table does not exist yet.
  const lines = [`add table inet ${NFT_TABLE}`, `delete table inet ${NFT_TABLE}`];
  if (w.serving && w.masquerade) {
    const tun = JSON.stringify(w.tun);
    lines.push(
      `table inet ${NFT_TABLE} {`,
      `  chain postrouting {`,
      `    type nat hook postrouting priority srcnat; policy accept;`,
      `    ip saddr ${TAILNET_V4_RANGE} oifname != ${tun} masquerade`,
      `    ip6 saddr ${TAILNET_V6_RANGE} oifname != ${tun} masquerade`,
      `  }`,
      `}`,
    );
  }
  return lines.join('\n') + '\n';
}

export class RouterOs {
  private current = '';
  private forwarding = false;

  constructor(
    private readonly host: RouterHost = realRouterHost,
    private readonly log: (msg: string) => void = () => undefined,
  ) {}

  apply(w: RouterWish): void {
    if (w.serving && !this.forwarding) {
      for (const p of ['/proc/sys/net/ipv4/ip_forward', '/proc/sys/net/ipv6/conf/all/forwarding']) {
        try {
          this.host.setSysctl(p, '1');
        } catch (err) {
          this.log(`routes: cannot enable forwarding (${p}): ${(err as Error).message}`);
        }
      }
      this.forwarding = true;
    }
    const script = nftScript(w);
    if (script === this.current) return;
    try {
      this.host.nft(script);
      this.current = script;
    } catch (err) {
      this.log(`routes: nft failed (masquerade for routed traffic not ${w.serving && w.masquerade ? 'installed' : 'removed'}): ${(err as Error).message}`);
    }
  }

  private currentLan = '';

  /** The exit-node LAN block (exit-lan-block.ts), replaced as a whole when it changes. */
  applyLanBlock(w: LanBlockWish): void {
    const script = lanBlockScript(w);
    if (script === this.currentLan || (this.currentLan === '' && !w.block)) return;
    try {
      this.host.nft(script);
      this.currentLan = w.block ? script : '';
    } catch (err) {
      this.log(`routes: nft failed (LAN block for the exit node not ${w.block ? 'installed' : 'removed'}): ${(err as Error).message}`);
    }
  }

  /** Removes the tables (daemon shutdown). */
  close(tun: string): void {
    this.applyLanBlock({ block: false, lans: [], exempt: [] });
    if (this.current === '') return;
    this.apply({ serving: false, masquerade: false, tun });
  }
}
