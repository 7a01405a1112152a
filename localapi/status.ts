// Builds the status answer (Tailscale's ipnstate.Status shape, the parts that apply) from the netmap and
// the data plane's per-peer counters. Pure: the agent passes the numbers in.
import { isExitRoute } from '../types/route.js';
import { TAGGED_DEVICES_USER, type Netmap, type NetmapNode } from '../types/netmap.js';
import type { BackendState, PeerStatus, StatusResponse, WhoIsUserProfile } from './types.js';
import { addrOfPrefix } from './whois.js';

/** A session whose last handshake is younger than this counts as active (WireGuard's REJECT_AFTER_TIME). */
export const ACTIVE_WINDOW_MS = 180_000;

export interface PeerStats {
  /** The endpoint in use, `ip:port`, or '' when none. */
  curAddr: string;
  /** The relay carrying this peer's traffic when it has no direct path ('' when direct or unknown). */
  relay?: string;
  /** Wall-clock ms of the last handshake, 0 when never. */
  lastHandshakeMs: number;
  rxBytes: number;
  txBytes: number;
}

export interface StatusInput {
  state: BackendState;
  netmap: Netmap | null;
  /** Keyed by node key (`nodekey:HEX`). */
  peerStats: Map<string, PeerStats>;
  nowMs: number;
  includePeers: boolean;
  version: string;
  health?: string[];
  /** The ShieldsUp pref (new inbound connections are dropped). */
  shieldsUp?: boolean;
  /** Node key of the exit node in use, if any. */
  exitNodeKey?: string;
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

function peerStatus(node: NetmapNode, stats: PeerStats | undefined, nowMs: number): PeerStatus {
  const ips = node.addresses.map(addrOfPrefix).filter((x): x is string => x !== null);
  const last = stats?.lastHandshakeMs ?? 0;
  const out: PeerStatus = {
    ID: node.stableId,
    PublicKey: node.nodeKey,
    HostName: node.hostinfo.hostname || node.name.split('.')[0],
    DNSName: node.name.endsWith('.') ? node.name : `${node.name}.`,
    OS: node.hostinfo.os,
    UserID: node.tags.length > 0 ? TAGGED_DEVICES_USER.id : node.user,
    TailscaleIPs: ips,
    AllowedIPs: [...node.allowedIPs],
    Addrs: [...node.endpoints],
    CurAddr: stats?.curAddr ?? '',
    Relay: stats?.curAddr ? '' : (stats?.relay ?? ''),
    RxBytes: stats?.rxBytes ?? 0,
    TxBytes: stats?.txBytes ?? 0,
    LastHandshake: last > 0 ? new Date(last).toISOString() : ZERO_TIME,
    Online: node.online,
    Active: last > 0 && nowMs - last < ACTIVE_WINDOW_MS,
  };
  if (node.tags.length > 0) out.Tags = [...node.tags];
  const routes = node.routes ?? [];
  if (routes.length > 0) {
    const used = node.allowedIPs.filter((a) => routes.includes(a) && !isExitRoute(a));
    if (used.length > 0) out.PrimaryRoutes = used;
    if (routes.some(isExitRoute)) out.ExitNodeOption = true;
  }
  return out;
}

export function buildStatus(input: StatusInput): StatusResponse {
  const nm = input.netmap;
  const users: Record<string, WhoIsUserProfile> = {};
  if (nm) {
    for (const u of nm.userProfiles) users[String(u.id)] = { ID: u.id, LoginName: u.loginName, DisplayName: u.displayName };
    const anyTagged = nm.self.tags.length > 0 || nm.peers.some((p) => p.tags.length > 0);
    if (anyTagged) {
      users[String(TAGGED_DEVICES_USER.id)] = { ID: TAGGED_DEVICES_USER.id, LoginName: TAGGED_DEVICES_USER.loginName, DisplayName: TAGGED_DEVICES_USER.displayName };
    }
  }
  const self = nm ? peerStatus(nm.self, undefined, input.nowMs) : null;
  if (self) {
    self.Online = input.state === 'Running';
    self.Active = false;
    const served = (nm?.self.routes ?? []).filter((r) => !isExitRoute(r));
    if (served.length > 0) self.PrimaryRoutes = served;
    else delete self.PrimaryRoutes;
  }
  const out: StatusResponse = {
    Version: input.version,
    BackendState: input.state,
    TailscaleIPs: self ? self.TailscaleIPs : [],
    Self: self,
    User: users,
    PolicyVersion: nm?.policyVersion ?? 0,
    Health: input.health ?? [],
    ShieldsUp: input.shieldsUp ?? false,
  };
  if (input.includePeers) {
    const peers: Record<string, PeerStatus> = {};
    if (nm) {
      for (const p of nm.peers) {
        const ps = peerStatus(p, input.peerStats.get(p.nodeKey), input.nowMs);
        if (input.exitNodeKey !== undefined && p.nodeKey === input.exitNodeKey) ps.ExitNode = true;
        peers[p.nodeKey] = ps;
      }
    }
    out.Peer = peers;
  }
  return out;
}
