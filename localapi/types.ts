// The LocalAPI's JSON shapes (what apps and the CLI read) and the backend interface the server calls.
// Field names follow Tailscale's LocalAPI (ipnstate.Status, apitype.WhoIsResponse, ipn.Prefs) where they
// apply, so tools that know those shapes can read ours. The server only translates HTTP to these calls;
// the agent implements LocalBackend (agent/backend.ts), tests implement it with a fake.

import type { RoutePrefs } from './route-prefs.js';

/** Tailscale's backend states, in the order a node normally walks through them. */
export type BackendState = 'NoState' | 'NeedsLogin' | 'Stopped' | 'Starting' | 'Running';

export interface WhoIsNode {
  ID: number;
  StableID: string;
  /** FQDN with a trailing dot. */
  Name: string;
  User: number;
  Key: string;
  Addresses: string[];
  Tags: string[];
  Hostinfo: { Hostname: string; OS: string; OSVersion?: string };
  Online: boolean;
  ComputedName: string;
}

export interface WhoIsUserProfile {
  ID: number;
  LoginName: string;
  DisplayName: string;
}

export interface WhoIsResponse {
  Node: WhoIsNode;
  UserProfile: WhoIsUserProfile;
  /** Capability name → values granted to the peer toward this node; null when it has none. */
  CapMap: Record<string, unknown[]> | null;
}

export interface PeerStatus {
  ID: string;
  PublicKey: string;
  HostName: string;
  DNSName: string;
  OS: string;
  UserID: number;
  TailscaleIPs: string[];
  AllowedIPs: string[];
  Tags?: string[];
  /** Candidate UDP endpoints control told us about. */
  Addrs: string[];
  /** The endpoint the data plane currently uses ('' when none). */
  CurAddr: string;
  /** Relay name when the peer is reached through a relay ('' when direct). */
  Relay: string;
  RxBytes: number;
  TxBytes: number;
  /** ISO time of the last completed handshake, or the zero time. */
  LastHandshake: string;
  Online: boolean;
  /** A handshake completed recently enough that the session is live. */
  Active: boolean;
  /** Subnet routes this node uses the peer for (for Self: the routes it serves); absent when none. */
  PrimaryRoutes?: string[];
  /** The peer offers exit routes (an approved exit node). */
  ExitNodeOption?: boolean;
  /** This node sends its default traffic through the peer. */
  ExitNode?: boolean;
}

export interface StatusResponse {
  Version: string;
  BackendState: BackendState;
  TailscaleIPs: string[];
  Self: PeerStatus | null;
  /** Keyed by node key (`nodekey:HEX`); absent with `?peers=false`. */
  Peer?: Record<string, PeerStatus>;
  /** Keyed by user id. */
  User: Record<string, WhoIsUserProfile>;
  PolicyVersion: number;
  Health: string[];
  /** ShieldsUp is on: the filter drops every new inbound connection (replies to our own still pass). */
  ShieldsUp: boolean;
}

export interface Prefs extends RoutePrefs {
  ControlURL: string;
  Hostname: string;
  AdvertiseTags: string[];
  WantRunning: boolean;
  ShieldsUp: boolean;
  LoggedOut: boolean;
}

/** PATCH body: any subset of the writable prefs. */
export type PrefsPatch = Partial<Pick<Prefs, 'ControlURL' | 'Hostname' | 'AdvertiseTags' | 'WantRunning' | 'ShieldsUp'>> & RoutePrefs;

export interface UpRequest extends RoutePrefs {
  ControlURL?: string;
  AuthKey?: string;
  Hostname?: string;
  AdvertiseTags?: string[];
  /** How long `up` waits for the first netmap before answering (ms). */
  TimeoutMs?: number;
}

export interface ExplainQuery {
  src: string;
  dst: string;
  /** Protocol number (6, 17, 1, 58, …). */
  proto: number;
  sport?: number;
  dport?: number;
}

/** Whatever filter/'s explain returns, plus the probe we asked about. */
export interface ExplainResponse {
  Query: ExplainQuery;
  Verdict: 'accept' | 'drop';
  Reason: string;
  Detail: unknown;
}

/** One echo through the tunnel (`agent ping`). */
export interface PingResponse {
  IP: string;
  NodeName: string;
  /** 'ICMP': an ICMP echo request the daemon sent through the WireGuard tunnel, answered by the peer's kernel. */
  Type: 'ICMP';
  LatencySeconds: number;
  /** The direct `ip:port` the reply came from (Tailscale's PingResult.Endpoint); absent when relayed. */
  Endpoint?: string;
  /** The relay (by name) the reply came through; absent when direct. */
  Relay?: string;
}

export type WatchEvent =
  | { Type: 'state'; BackendState: BackendState; Error?: string }
  | { Type: 'netmap'; PolicyVersion: number; Self: string; Peers: number }
  | { Type: 'peer'; Key: string; HostName: string; Online: boolean }
  | { Type: 'peer-removed'; Key: string; HostName: string };

/** The typed parse of whois' `addr` parameter. */
export type WhoisAddr = { kind: 'ip'; ip: string; port: number | null } | { kind: 'nodekey'; key: string };

// An expected failure that the server turns into a JSON error with this status and code.
export { LocalApiFailure } from '../types/errors.js';

/** What the server asks of the agent. Read calls are synchronous: they answer from memory. */
export interface LocalBackend {
  whois(addr: WhoisAddr): WhoIsResponse | null;
  status(opts: { peers: boolean }): StatusResponse;
  getPrefs(): Prefs;
  patchPrefs(patch: PrefsPatch): Promise<Prefs>;
  /** Resolves once the node runs; rejects with LocalApiFailure carrying control's reason. */
  up(req: UpRequest): Promise<StatusResponse>;
  down(): Promise<void>;
  logout(): Promise<void>;
  explain(q: ExplainQuery): ExplainResponse;
  /** NAT report: reflexive addresses, mapping variance, relay latencies (agent/nat.ts). */
  netcheck?(): Promise<NetcheckResponse>;
  /** Sends one ICMP echo to the peer owning `ip` through the tunnel; rejects on timeout, or at once when `signal` aborts (the client went away). */
  ping(ip: string, timeoutMs: number, signal?: AbortSignal): Promise<PingResponse>;
  /** Prometheus text exposition. */
  metrics(): string;
  /** Subscribes to state changes; returns the unsubscribe function. */
  watch(onEvent: (ev: WatchEvent) => void): () => void;
}

/** `agent netcheck`: what STUN and the relays answered from this node's WireGuard socket. */
export interface NetcheckResponse {
  reflexive: { server: string; endpoint: string | null; error?: string }[];
  /** True when STUN servers saw different mappings (an endpoint-dependent NAT); null with fewer than two answers. */
  mappingVariesByDest: boolean | null;
  relays: { name: string; url: string; latencyMs: number | null; error?: string }[];
  homeRelay: string | null;
}

/** Wire code of the 503 a daemon answers between claiming its socket and loading its state; clients retry. */
export const LOCALAPI_STARTING = 'starting';
