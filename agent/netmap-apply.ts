// Turning a netmap into data-plane changes: which WireGuard peers to add, change or remove (with the
// endpoint to use and the allowed IPs), which addresses the TUN interface should carry, and the new packet
// filter. The decisions are pure (planNetmap); NetmapApplier applies a plan through small ports so tests
// drive it with fakes and the daemon with the real Device, TUN and FilterEngine.
//
// Only peers whose configuration changed are touched, so a peer's roamed endpoint and its session survive
// netmap updates that do not concern it. The backend hands netmaps over already checked by
// netmap-sanitize.ts (hostile addresses, routes, duplicate claims and endpoints removed); the checks here
// only keep malformed input from throwing.
import { parseAddrPort, parsePrefix, prefixContains, type IPPrefix } from '../types/ip.js';
import type { Netmap, NetmapNode } from '../types/netmap.js';
import { TAILNET_V4_RANGE, TAILNET_V6_RANGE, type FilterRule, type RuleOrigin } from '../types/filter-rule.js';
import { NodePublic } from '../crypto/key.js';

/** Routes the TUN carries whatever the netmap says: the whole tailnet goes through the tunnel. */
export const TAILNET_ROUTES: readonly string[] = [TAILNET_V4_RANGE, TAILNET_V6_RANGE];

/**
 * WireGuard persistent keepalive for tailnet peers: off. Turning it on makes both peers of a new pair
 * initiate a handshake at the same moment (both apply the netmap that introduces them), and with
 * crossing initiations the Device currently leaves the first side's queued packets waiting for its 5 s
 * retry (measured: 5.1 s for the first packet vs 56 ms with keepalive off). Handshakes on demand are what
 * the first packet needs anyway; NAT keepalive can come back with endpoint discovery.
 */
export const PERSISTENT_KEEPALIVE_SEC = 0;

export interface PeerConfig {
  /** `nodekey:HEX`. */
  nodeKey: string;
  publicKey: Uint8Array;
  endpoint: string | null;
  allowedIPs: string[];
}

export interface NetmapPlan {
  upserts: PeerConfig[];
  removals: { nodeKey: string; publicKey: Uint8Array; allowedIPs: string[] }[];
  addAddresses: string[];
  removeAddresses: string[];
  /** null when the rules did not change (no filter swap needed). */
  filter: { rules: FilterRule[]; origins: RuleOrigin[] | undefined; localPrefixes: string[] } | null;
}

/** What the applier remembers from the last netmap to diff the next one. */
export interface AppliedState {
  peers: Map<string, { signature: string; publicKey: Uint8Array; allowedIPs: string[] }>;
  addresses: string[];
  filterSignature: string;
}

export function emptyApplied(): AppliedState {
  return { peers: new Map(), addresses: [], filterSignature: '' };
}

/**
 * Picks the endpoint to hand WireGuard: one inside a subnet this host is on (reachable directly), else
 * the first IPv4, else the first one that parses; null when none parses.
 */
export function chooseEndpoint(endpoints: string[], localNets: IPPrefix[]): string | null {
  const parsed = endpoints.map((e) => ({ text: e, ap: parseAddrPort(e) })).filter((e) => e.ap !== null);
  const direct = parsed.find((e) => localNets.some((n) => prefixContains(n, e.ap!.addr.bytes)));
  if (direct) return direct.text;
  const v4 = parsed.find((e) => e.ap!.addr.family === 4);
  return (v4 ?? parsed[0])?.text ?? null;
}

function peerSignature(p: PeerConfig): string {
  return `${p.endpoint ?? ''}|${p.allowedIPs.join(',')}`;
}

/** Valid CIDRs only (control input is checked, not trusted). */
function cleanPrefixes(list: string[]): string[] {
  return list.filter((c) => parsePrefix(c) !== null);
}

export function peerConfigOf(node: NetmapNode, localNets: IPPrefix[]): PeerConfig | null {
  const publicKey = NodePublic.tryParse(node.nodeKey); // control input: null if malformed, never throws
  if (!publicKey) return null;
  const allowed = cleanPrefixes(node.allowedIPs.length > 0 ? node.allowedIPs : node.addresses);
  return { nodeKey: node.nodeKey.toLowerCase(), publicKey, endpoint: chooseEndpoint(node.endpoints, localNets), allowedIPs: allowed };
}

export function planNetmap(prev: AppliedState, nm: Netmap, localNets: IPPrefix[]): { plan: NetmapPlan; next: AppliedState } {
  const next: AppliedState = { peers: new Map(), addresses: cleanPrefixes(nm.self.addresses), filterSignature: '' };
  const upserts: PeerConfig[] = [];
  const selfKey = nm.self.nodeKey.toLowerCase();
  for (const node of nm.peers) {
    const cfg = peerConfigOf(node, localNets);
    if (!cfg || cfg.nodeKey === selfKey || next.peers.has(cfg.nodeKey)) continue;
    const signature = peerSignature(cfg);
    next.peers.set(cfg.nodeKey, { signature, publicKey: cfg.publicKey, allowedIPs: cfg.allowedIPs });
    if (prev.peers.get(cfg.nodeKey)?.signature !== signature) upserts.push(cfg);
  }
  const removals: NetmapPlan['removals'] = [];
  for (const [nodeKey, old] of prev.peers) if (!next.peers.has(nodeKey)) removals.push({ nodeKey, publicKey: old.publicKey, allowedIPs: old.allowedIPs });
  const addAddresses = next.addresses.filter((a) => !prev.addresses.includes(a));
  const removeAddresses = prev.addresses.filter((a) => !next.addresses.includes(a));
  // A subnet router or exit node owns what it routes: the filter judges those destinations by the rules
  // instead of dropping them as not_local (issue 14).
  const localPrefixes = [...next.addresses, ...cleanPrefixes(nm.self.routes ?? [])];
  next.filterSignature = JSON.stringify([nm.packetFilter, localPrefixes]);
  const filter = next.filterSignature === prev.filterSignature ? null : { rules: nm.packetFilter, origins: nm.packetFilterOrigins, localPrefixes };
  return { plan: { upserts, removals, addAddresses, removeAddresses, filter }, next };
}

/** The data-plane operations a plan needs; the daemon binds them to Device, TunDevice and FilterEngine. */
export interface DataplanePorts {
  upsertPeer(p: PeerConfig): void;
  /** Removes a peer; `allowedIPs` (what it was routed) lets the data plane reset local sockets talking to it. */
  removePeer(publicKey: Uint8Array, allowedIPs?: readonly string[]): void;
  addAddress(prefix: string): void;
  removeAddress(prefix: string): void;
  /** Compiles and swaps in the new filter; returns how many flows it revoked. */
  replaceFilter(rules: FilterRule[], origins: RuleOrigin[] | undefined, localPrefixes: string[]): number;
}

export interface ApplyResult {
  plan: NetmapPlan;
  revokedFlows: number;
}

export class NetmapApplier {
  private state: AppliedState = emptyApplied();

  constructor(
    private readonly ports: DataplanePorts,
    private readonly localNets: () => IPPrefix[],
  ) {}

  apply(nm: Netmap): ApplyResult {
    const { plan, next } = planNetmap(this.state, nm, this.localNets());
    // Filter first: a revoked grant must stop packets before anything else changes.
    const revokedFlows = plan.filter ? this.ports.replaceFilter(plan.filter.rules, plan.filter.origins, plan.filter.localPrefixes) : 0;
    for (const a of plan.addAddresses) this.ports.addAddress(a);
    for (const a of plan.removeAddresses) this.ports.removeAddress(a);
    for (const r of plan.removals) this.ports.removePeer(r.publicKey, r.allowedIPs);
    for (const u of plan.upserts) this.ports.upsertPeer(u);
    this.state = next;
    return { plan, revokedFlows };
  }

  /** Forgets every peer (down/logout): removes them from the device and closes the filter. */
  clear(): void {
    for (const [, p] of this.state.peers) this.ports.removePeer(p.publicKey, p.allowedIPs);
    this.ports.replaceFilter([], undefined, this.state.addresses);
    this.state = { ...emptyApplied(), addresses: this.state.addresses };
  }
}
