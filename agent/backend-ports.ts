// What the agent backend needs from control and from the data plane, as small interfaces: the daemon
// binds them to control/client.ts (agent/control-session.ts) and to the WireGuard Device, TUN and filter
// (agent/dataplane.ts); tests bind them to fakes.
import type { MetricFamily } from '../localapi/metrics.js';
import type { PeerStats } from '../localapi/status.js';
import type { ExplainQuery, ExplainResponse, NetcheckResponse } from '../localapi/types.js';
import type { CapsFor } from '../localapi/whois.js';
import type { Hostinfo, Netmap } from '../types/netmap.js';

/** Control as the backend needs it (agent/control-session.ts adapts control/client.ts). */
export interface ControlSession {
  /** Rejects with an Error whose message is control's reason when control refuses. */
  /** `controlKey`: control's static key (hex) as this session saw it, for pinning. */
  register(req: { authKey: string; hostname: string; hostinfo: Hostinfo; requestTags: string[] }): Promise<{ nodeId: number | null; controlKey?: string | null }>;
  /** Streams netmaps (reconnecting on its own) until `signal` aborts; rejects on a permanent failure. */
  streamMap(req: { endpoints: string[]; hostinfo: Hostinfo }, onNetmap: (nm: Netmap) => void, signal: AbortSignal): Promise<void>;
  logout(): Promise<void>;
  /** Reports new local endpoints on the live stream (and with every reconnect). */
  updateEndpoints?(endpoints: string[]): void;
  /** Reports changed hostinfo (a new hostname) on the live stream. */
  updateHostinfo?(hostinfo: Hostinfo): void;
  /** Re-opens the live stream from the host's current addresses (after a network change). */
  reconnect?(): void;
}

export interface ControlRefusal extends Error {
  /** True when control answered and refused (bad key, tags not permitted) rather than being unreachable. */
  refused?: boolean;
}

/** A session to `controlURL`; with `pinnedKey` (hex) it accepts only that control key. */
export type ControlFactory = (controlURL: string, pinnedKey: string | null) => ControlSession;

/** The data plane as the backend needs it (agent/dataplane.ts binds Device, TUN, filter). */
export interface Dataplane {
  apply(nm: Netmap): void;
  /** Forgets peers and rules (down, logout). */
  clear(): void;
  capsFor: CapsFor;
  explain(q: ExplainQuery): ExplainResponse;
  /** One echo: its round-trip time and the path its reply came on; rejects on timeout, or at once when `signal` aborts. */
  ping(ip: string, timeoutMs: number, signal?: AbortSignal): Promise<PingResult>;
  /** Keyed by node key. */
  peerStats(): Map<string, PeerStats>;
  metricFamilies(): MetricFamily[];
  /** Local UDP endpoints (`ip:port`) to report to control. */
  endpoints(): string[];
  /** NAT traversal: control's URL (the relay inside control), and what hostinfo carries for peers. */
  setControlURL?(url: string): void;
  hostinfoExtra?(): { discoKey?: string; homeRelay?: string };
  netcheck?(): Promise<NetcheckResponse>;
  /** ShieldsUp (prefs): no new inbound connections; raising it cuts the ones peers opened. */
  setShieldsUp(on: boolean): void;
  /** Subnet routes and exit node (agent/route-select.ts): OS routes, forwarding and masquerade. */
  setRouting?(r: RoutingPlan): void;
  /** `fn` runs after the host's addresses changed and endpoints were re-discovered (roaming). */
  onNetworkChange?(fn: () => void): void;
  /** `fn` runs when discovery found a different set of reflexive endpoints (first STUN answer included). */
  onEndpointsChange?(fn: () => void): void;
}

/** One echo through the tunnel, as the data plane measured it. */
export interface PingResult {
  rttMs: number;
  /** The direct `ip:port` the reply's WireGuard datagram came from, or '' (via a relay, or unknown). */
  endpoint: string;
  /** The relay that carried the reply's datagram, or ''. */
  relay: string;
}

export interface RoutingPlan {
  /** Prefixes routed into the TUN beyond the tailnet ranges (accepted subnet routes, exit halves). */
  osRoutes: string[];
  /** This node serves subnet or exit routes: forward between the TUN and its other interfaces. */
  serving: boolean;
  /** Masquerade tailnet traffic leaving through other interfaces. */
  masquerade: boolean;
  /** Block the directly connected networks (exit node without LAN access), except these addresses. */
  lanBlock?: { block: boolean; exempt: string[] };
}
