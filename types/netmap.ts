// The network map control streams to each node (control.md), and the node/user shapes that LocalAPI's
// whois and status reuse. Field names follow control.md; LocalAPI maps them to Tailscale's shapes.
import type { FilterRule, RuleOrigin } from './filter-rule.js';

export interface Hostinfo {
  hostname: string;
  os: string;
  osVersion?: string;
  agentVersion?: string;
  /** Subnet routes the node advertises (`agent up --advertise-routes`; exit nodes 0.0.0.0/0 and ::/0). */
  routableIPs?: string[];
  /** The node's disco public key (`discokey:` + hex): peers seal path probes to it (magicsock/disco.ts). */
  discoKey?: string;
  /** Name of the relay (in the netmap's relayMap) this node is connected to: send it relayed traffic there. */
  homeRelay?: string;
}

/** One relay of the relay map. */
export interface RelayNode {
  name: string;
  /** Base URL of the relay's HTTP server; '' means control's own URL (the relay inside control). */
  url: string;
  /** STUN server on UDP: host ('' = the host of `url`, or of control's URL) and port (0 = none). */
  stunHost: string;
  stunPort: number;
  /**
   * The relay's public key, `relaykey:` + hex: agents connect only to a relay that proves it (relay/auth.ts).
   * Absent only on a STUN-only entry (url '-'); an agent ignores any other entry without a valid key.
   */
  publicKey?: string;
}

export interface RelayMap {
  relays: RelayNode[];
}

export interface NetmapNode {
  id: number;
  stableId: string;
  name: string;
  /** WireGuard public key, `nodekey:` + hex. */
  nodeKey: string;
  machineKey?: string;
  /** Tailnet addresses as CIDRs (`100.64.0.2/32`, `fd7a:115c:a1e0::2/128`). */
  addresses: string[];
  /** Prefixes routed to this peer (its addresses plus approved routes). */
  allowedIPs: string[];
  /**
   * Approved subnet routes this node serves (also in allowedIPs). The agent accepts an allowed IP
   * outside the tailnet ranges only when it is listed here; without the field, only tailnet addresses.
   */
  routes?: string[];
  /** UDP `ip:port` / `[v6]:port` candidates. */
  endpoints: string[];
  tags: string[];
  /** Owning user id (for tagged nodes, the tagged-devices pseudo-user). */
  user: number;
  hostinfo: Hostinfo;
  online: boolean;
  keyExpiry?: number;
}

export interface UserProfile {
  id: number;
  loginName: string;
  displayName: string;
}

export interface Netmap {
  self: NetmapNode;
  peers: NetmapNode[];
  userProfiles: UserProfile[];
  packetFilter: FilterRule[];
  /** Beside packetFilter, index for index; optional, for explain. */
  packetFilterOrigins?: RuleOrigin[];
  /** The node's own attributes (nodeAttrs). */
  capMap: Record<string, unknown[]>;
  policyVersion: number;
  /** Relays and STUN servers for NAT traversal (sent in full netmaps only; static while control runs). */
  relayMap?: RelayMap;
}

/** Pseudo-user for tagged nodes (whois shows it). */
export const TAGGED_DEVICES_USER: UserProfile = {
  id: 2147483647,
  loginName: 'tagged-devices',
  displayName: 'Tagged Devices',
};
