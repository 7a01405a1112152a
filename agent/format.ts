// Text renderings of LocalAPI answers for the CLI (localapi.md "CLI output conventions"). Pure, so the
// exact layouts are table-tested without a daemon.
import type { PeerStatus, StatusResponse, WhoIsResponse } from '../localapi/types.js';

/** `alice@` for a user's node, `tagged-devices` for a tagged one. */
export function ownerOf(p: PeerStatus, st: StatusResponse): string {
  if (p.Tags && p.Tags.length > 0) return 'tagged-devices';
  const login = st.User[String(p.UserID)]?.LoginName;
  if (!login) return `user-${p.UserID}`;
  const at = login.indexOf('@');
  return at === -1 ? login : login.slice(0, at + 1);
}

/** `-` for self, `offline`, `active; direct IP:PORT`, `active; relay NAME`, or `idle`. */
export function peerState(p: PeerStatus, isSelf: boolean): string {
  const extra = [p.ExitNode ? 'exit node' : p.ExitNodeOption ? 'offers exit node' : '', p.PrimaryRoutes ? `${isSelf ? 'serving' : 'routes'} ${p.PrimaryRoutes.join(',')}` : '']
    .filter((x) => x !== '')
    .map((x) => `; ${x}`)
    .join('');
  if (isSelf) return extra === '' ? '-' : extra.slice(2);
  if (!p.Online) return `offline${extra}`;
  if (p.Active && p.CurAddr) return `active; direct ${p.CurAddr}${extra}`;
  if (p.Active && p.Relay) return `active; relay ${p.Relay}${extra}`;
  return `idle${extra}`;
}

/** How traffic to a peer goes now: `direct IP:PORT`, `relay NAME`, or '' when unknown. */
export function peerPath(p: Pick<PeerStatus, 'CurAddr' | 'Relay'>): string {
  if (p.CurAddr) return `direct ${p.CurAddr}`;
  if (p.Relay) return `relay ${p.Relay}`;
  return '';
}

function alignRows(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()).join('\n') + '\n';
}

const STATE_MESSAGES: Record<string, string> = {
  NoState: 'The agent is starting.',
  NeedsLogin: 'Logged out. Log in with: agent up --login-server URL --auth-key KEY',
  Stopped: 'The agent is stopped. Start it with: agent up',
  Starting: 'Starting: waiting for the first network map from control.',
};

/**
 * One row per node: IP, hostname, owner, OS, state; self first, then peers by IP. With ShieldsUp, a
 * `# Shields up: …` line follows the table (as Tailscale marks it).
 */
export function formatStatus(st: StatusResponse): string {
  if (st.BackendState !== 'Running' || !st.Self) return `${STATE_MESSAGES[st.BackendState] ?? st.BackendState}\n`;
  const rows: string[][] = [];
  const row = (p: PeerStatus, self: boolean) => [p.TailscaleIPs[0] ?? '-', p.HostName, ownerOf(p, st), p.OS || '-', peerState(p, self)];
  rows.push(row(st.Self, true));
  const peers = Object.values(st.Peer ?? {}).sort((a, b) => ipSortKey(a.TailscaleIPs[0]) - ipSortKey(b.TailscaleIPs[0]));
  for (const p of peers) rows.push(row(p, false));
  const shields = st.ShieldsUp ? '# Shields up: this node accepts no new incoming connections.\n' : '';
  return alignRows(rows) + shields;
}

function ipSortKey(ip: string | undefined): number {
  if (!ip || ip.includes(':')) return Number.MAX_SAFE_INTEGER;
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

/** `Machine:` block, then `Tags:` (tagged) or `User:`, then `Capabilities:` with JSON values indented. */
export function formatWhois(w: WhoIsResponse): string {
  const out: string[] = [];
  out.push('Machine:');
  out.push(`  Name:          ${w.Node.Name}`);
  out.push(`  ID:            ${w.Node.ID}`);
  out.push(`  Addresses:     [${w.Node.Addresses.join(' ')}]`);
  if (w.Node.Tags.length > 0) {
    out.push('Tags:');
    for (const t of w.Node.Tags) out.push(`  ${t}`);
  } else {
    out.push('User:');
    out.push(`  Name:     ${w.UserProfile.LoginName}`);
    out.push(`  ID:       ${w.UserProfile.ID}`);
  }
  if (w.CapMap && Object.keys(w.CapMap).length > 0) {
    out.push('Capabilities:');
    for (const [name, values] of Object.entries(w.CapMap)) {
      out.push(`  - ${name}:`);
      for (const v of values) out.push(`    ${JSON.stringify(v)}`);
    }
  }
  return out.join('\n') + '\n';
}
