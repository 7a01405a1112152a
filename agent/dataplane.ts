// The node's data plane as the backend sees it: a WireGuard Device over a packet device (the TUN, or a
// fake in tests) and a UDP bind, with the FilterEngine judging every packet through FilterHook. Netmaps
// arrive through NetmapApplier (peers, addresses, the new filter); when a new filter revokes TCP flows,
// RSTs go both ways (into the TUN toward the local socket, through the tunnel toward the peer) so both
// ends learn at once that the connection is gone, not at their next timeout; a local socket that keeps
// talking on a revoked tuple is answered with an RST at its own ACK number (revoked-reset.ts). ShieldsUp
// is the engine's switch; raising it cuts the connections peers opened the same way.
import { networkInterfaces } from 'node:os';
import { debuglog } from 'node:util';
import { compileFilter } from '../filter/compile.js';
import { FilterEngine, type RevokedFlow } from '../filter/engine.js';
import type { DropReason } from '../filter/verdict.js';
import type { MetricFamily } from '../localapi/metrics.js';
import type { PeerStats } from '../localapi/status.js';
import { LocalApiFailure, type ExplainQuery, type ExplainResponse } from '../localapi/types.js';
import type { CapsFor } from '../localapi/whois.js';
import { buildEchoRequest } from '../packet/icmp-echo.js';
import { buildProbe } from '../packet/probe.js';
import { buildResetToLocal, buildResetToRemote } from '../packet/tcp-reset.js';
import type { FilterRule, RuleOrigin } from '../types/filter-rule.js';
import { formatPrefix, maskPrefix, parseIP, parsePrefix, type IPPrefix } from '../types/ip.js';
import type { Netmap } from '../types/netmap.js';
import { Device } from '../wireguard/device.js';
import { hasIoCounters, type PacketDevice, type UdpBind } from '../net/io.js';
import { NodePrivate, NodePublic } from '../crypto/key.js';
import type { Dataplane } from './backend.js';
import { FilterHook } from './filter-hook.js';
import { InjectableTun } from './injectable-tun.js';
import { chooseEndpoint, NetmapApplier, PERSISTENT_KEEPALIVE_SEC, TAILNET_ROUTES } from './netmap-apply.js';
import { AgentNat, type NetcheckReport } from './nat.js';
import type { RxPath } from '../magicsock/magic-bind.js';
import { PeerRoutes } from './peer-routes.js';
import { resetForLocalSegment } from './revoked-reset.js';
import { RouterOs, realRouterHost, type RouterHost } from './router-os.js';
import type { PingResult, RoutingPlan } from './backend-ports.js';

const log = debuglog('grantwire:dataplane');

/** Interface configuration the TUN offers (TunDevice has these; fakes may not). */
export interface TunControl {
  addAddress(prefix: string): void;
  removeAddress(prefix: string): void;
  addRoute(prefix: string): void;
  removeRoute?(prefix: string): void;
}

/** A host interface address as os.networkInterfaces() reports it. */
export interface HostAddress {
  ifname: string;
  address: string;
  cidr: string | null;
  internal: boolean;
}

export function hostAddresses(): HostAddress[] {
  const out: HostAddress[] = [];
  for (const [ifname, list] of Object.entries(networkInterfaces())) {
    for (const a of list ?? []) out.push({ ifname, address: a.address, cidr: a.cidr, internal: a.internal });
  }
  return out;
}

export interface DataplaneOptions {
  privateKey: Uint8Array;
  tun: PacketDevice;
  tunControl: TunControl | null;
  bind: UdpBind;
  /** Host addresses (for endpoints to report and direct-path choice); default os.networkInterfaces(). */
  hostAddresses?: () => HostAddress[];
  logger?: (msg: string) => void;
  /** Forwarding and masquerade for a subnet router (default: the real host when tunControl is given). */
  routerHost?: RouterHost | null;
  /** NAT traversal timings (tests shorten them): disco probe and STUN intervals, the active window. */
  nat?: { probeIntervalMs?: number; stunIntervalMs?: number; activeWindowMs?: number };
}

export class AgentDataplane implements Dataplane {
  readonly engine: FilterEngine;
  readonly device: Device;
  private readonly hook: FilterHook;
  private readonly tun: InjectableTun;
  private readonly applier: NetmapApplier;
  private readonly hostAddrs: () => HostAddress[];
  private addresses: string[] = [];
  private routesAdded = false;
  private pingSeq = 0;
  private readonly pingId = (Math.random() * 0xffff) | 0;
  private spoofedSynced = 0;
  private rstsSent = 0;
  private peerNames = new Map<string, string>();
  private readonly routes = new PeerRoutes();
  /** Subnet and exit routes currently routed into the TUN (route-select.ts). */
  private osRoutes: string[] = [];
  private readonly routerOs: RouterOs | null;
  readonly nat: AgentNat;

  constructor(private readonly opts: DataplaneOptions) {
    this.engine = new FilterEngine(compileFilter([], { localPrefixes: [] }), { icmpErrorRelay: this.routes.relays });
    this.hook = new FilterHook(this.engine);
    this.hook.onRevokedTuple = (buf, off, len) => this.resetLocalSegment(buf, off, len);
    this.tun = new InjectableTun(opts.tun);
    this.hostAddrs = opts.hostAddresses ?? hostAddresses;
    const rh = opts.routerHost === undefined ? (opts.tunControl ? realRouterHost : null) : opts.routerHost;
    this.routerOs = rh ? new RouterOs(rh, (m) => log('%s', m)) : null;
    // WireGuard sees magicsock's bind: virtual peer endpoints, paths chosen by disco, relay fallback.
    this.nat = new AgentNat({
      inner: opts.bind,
      nodePrivate: opts.privateKey,
      ...opts.nat,
      addressSignature: () => this.localEndpoints().join(','),
      prefer: (eps) => chooseEndpoint(eps, this.localNets()),
    });
    this.device = new Device({ privateKey: opts.privateKey, tun: this.tun, bind: this.nat.bind, hook: this.hook, logger: opts.logger ?? null });
    this.applier = new NetmapApplier(
      {
        upsertPeer: (p) => {
          this.routes.set(p.nodeKey, p.allowedIPs);
          this.device.upsertPeer({
            publicKey: p.publicKey,
            // Keep a roamed endpoint when control knows none; otherwise control's choice.
            endpoint: this.nat.endpointFor(p.publicKey, p.endpoint),
            allowedIPs: p.allowedIPs,
            replaceAllowedIPs: true,
            persistentKeepaliveSec: PERSISTENT_KEEPALIVE_SEC,
          });
        },
        removePeer: (k, allowedIPs) => {
          this.routes.delete(NodePublic.text(k));
          // A peer control stopped sending (the policy no longer relates us, or it was deleted): its flows
          // can never complete, so reset the local sockets now (as a revocation does) rather than let them stall.
          if (allowedIPs) this.forgetPeerFlows(allowedIPs);
          this.device.removePeer(k);
          this.nat.removePeer(k);
        },
        addAddress: (a) => this.addAddress(a),
        removeAddress: (a) => {
          this.addresses = this.addresses.filter((x) => x !== a);
          this.opts.tunControl?.removeAddress(a);
        },
        replaceFilter: (rules, origins, local) => this.replaceFilter(rules, origins, local),
      },
      () => this.localNets(),
    );
  }

  start(): void {
    this.device.start();
    this.nat.start();
  }

  async close(): Promise<void> {
    this.routerOs?.close(this.opts.tun.name);
    this.nat.stop();
    await this.device.close();
  }

  setControlURL(url: string): void {
    this.nat.setControlURL(url);
  }

  hostinfoExtra(): { discoKey: string; homeRelay?: string } {
    return this.nat.hostinfoExtra();
  }

  onNetworkChange(fn: () => void): void {
    this.nat.networkChangeHandler = fn;
  }

  onEndpointsChange(fn: () => void): void {
    this.nat.endpointsChangeHandler = fn;
  }

  netcheck(): Promise<NetcheckReport> {
    return this.nat.netcheck();
  }

  /** A new node key (after logout): handshakes restart under it. */
  setPrivateKey(k: Uint8Array): void {
    this.device.setPrivateKey(k);
    this.nat.bind.setNodeKey(k, NodePrivate.publicKey(NodePrivate.of(k)));
  }

  get listenPort(): number {
    return this.opts.bind.port;
  }

  private addAddress(a: string): void {
    this.addresses.push(a);
    const tc = this.opts.tunControl;
    if (!tc) return;
    tc.addAddress(a);
    if (!this.routesAdded) {
      for (const r of TAILNET_ROUTES) {
        try {
          tc.addRoute(r);
        } catch (err) {
          log('route %s: %s', r, (err as Error).message);
        }
      }
      this.routesAdded = true;
    }
  }

  private replaceFilter(rules: FilterRule[], origins: RuleOrigin[] | undefined, localPrefixes: string[]): number {
    const compiled = compileFilter(rules, { localPrefixes, ...(origins ? { origins } : {}) });
    const revoked = this.engine.replace(compiled);
    for (const f of revoked) this.resetFlow(f);
    if (revoked.length > 0) log('new filter revoked %d flows', revoked.length);
    return revoked.length;
  }

  private forgetPeerFlows(allowedIPs: readonly string[]): void {
    const prefixes: IPPrefix[] = [];
    for (const a of allowedIPs) {
      const p = parsePrefix(a);
      if (p) prefixes.push(p);
    }
    const cut = this.engine.forgetRemote(prefixes);
    for (const f of cut) this.resetFlow(f);
    if (cut.length > 0) log('peer left the netmap: reset %d flows', cut.length);
  }

  /** RST toward the local socket (into the TUN) and toward the peer (through the tunnel). */
  private resetFlow(f: RevokedFlow): void {
    try {
      const toLocal = buildResetToLocal(f);
      const toPeer = buildResetToRemote(f);
      if (!toLocal || !toPeer) return; // not TCP, or already reset
      this.tun.write(toLocal, 0, toLocal.length);
      this.hook.sendUntracked(() => this.tun.injectOutbound(toPeer));
      this.rstsSent += 2;
    } catch (err) {
      log('RST for revoked flow failed: %s', (err as Error).message);
    }
  }

  /** An outbound segment on a revoked tuple: the local socket is still alive; reset it at its ACK number. */
  private resetLocalSegment(buf: Uint8Array, off: number, len: number): void {
    const rst = resetForLocalSegment(buf, off, len);
    if (!rst) return;
    try {
      this.tun.write(rst, 0, rst.length);
      this.rstsSent++;
    } catch (err) {
      log('RST for a revoked tuple failed: %s', (err as Error).message);
    }
  }

  /** ShieldsUp on or off; raising it cuts (with RSTs) the connections peers opened. */
  setShieldsUp(on: boolean): void {
    const revoked = this.engine.setShieldsUp(on);
    for (const f of revoked) this.resetFlow(f);
    if (revoked.length > 0) log('shields up revoked %d flows', revoked.length);
  }

  private localNets(): IPPrefix[] {
    const out: IPPrefix[] = [];
    for (const a of this.hostAddrs()) {
      if (a.internal || a.ifname === this.opts.tun.name || !a.cidr) continue;
      const p = parsePrefix(a.cidr);
      if (p) out.push(p);
    }
    return out;
  }

  // ---- Dataplane ----

  apply(nm: Netmap): void {
    this.peerNames = new Map(nm.peers.map((p) => [p.nodeKey.toLowerCase(), p.hostinfo.hostname || p.name]));
    const restarted = this.nat.applyNetmap(nm);
    this.applier.apply(nm);
    // A restarted peer has no session on its side any more: start a new handshake with the next packet
    // instead of sending into the dead session until WireGuard gives up on it (15 s).
    for (const k of restarted) this.device.resetPeerSession(k);
  }

  clear(): void {
    this.applier.clear();
    this.setRouting({ osRoutes: [], serving: false, masquerade: false });
  }

  /** Routes into the TUN beyond the tailnet, and forwarding/masquerade when this node serves routes. */
  setRouting(r: RoutingPlan): void {
    const tc = this.opts.tunControl;
    if (tc) {
      for (const p of this.osRoutes) {
        if (r.osRoutes.includes(p)) continue;
        try {
          tc.removeRoute?.(p);
        } catch (err) {
          log('route %s: %s', p, (err as Error).message);
        }
      }
      for (const p of r.osRoutes) {
        if (this.osRoutes.includes(p)) continue;
        try {
          tc.addRoute(p);
        } catch (err) {
          log('route %s: %s', p, (err as Error).message);
        }
      }
    }
    this.osRoutes = [...r.osRoutes];
    this.routerOs?.apply({ serving: r.serving, masquerade: r.masquerade, tun: this.opts.tun.name });
    const lb = r.lanBlock ?? { block: false, exempt: [] };
    this.routerOs?.applyLanBlock({ block: lb.block, exempt: lb.exempt, lans: lb.block ? this.localNets().map((p) => formatPrefix(maskPrefix(p))) : [] });
  }

  readonly capsFor: CapsFor = (src, dst) => this.engine.capsFor(src, dst);

  explain(q: ExplainQuery): ExplainResponse {
    const s = parseIP(q.src);
    const d = parseIP(q.dst);
    if (!s || !d) throw new LocalApiFailure(400, 'bad_request', `invalid address: ${!s ? q.src : q.dst}`);
    if (s.family !== d.family) throw new LocalApiFailure(400, 'bad_request', 'src and dst must be the same IP family');
    const pkt = buildProbe(q);
    const e = this.engine.explain(pkt, 0, pkt.length);
    return { Query: q, Verdict: e.verdict, Reason: e.reason, Detail: e };
  }

  ping(ip: string, timeoutMs: number, signal?: AbortSignal): Promise<PingResult> {
    if (signal?.aborted) return Promise.reject(pingCanceled());
    const v6 = ip.includes(':');
    const self = this.addresses.map((a) => a.split('/')[0]).find((a) => a.includes(':') === v6);
    if (!self) return Promise.reject(new LocalApiFailure(409, 'not_running', 'this node has no tailnet address of that family yet'));
    const seq = (this.pingSeq = (this.pingSeq + 1) & 0xffff);
    const payload = new Uint8Array(16);
    const pkt = buildEchoRequest(self, ip, this.pingId, seq, payload);
    return new Promise<PingResult>((resolve, reject) => {
      const t0 = performance.now();
      // Every way out releases the echo waiter, the timer and the abort listener.
      const end = (err: LocalApiFailure | null, via: RxPath | null = null): void => {
        clearTimeout(timer);
        cancel();
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve({ rttMs: performance.now() - t0, endpoint: via?.endpoint ?? '', relay: via?.relay ?? '' });
      };
      const onAbort = (): void => end(pingCanceled());
      const timer = setTimeout(() => end(new LocalApiFailure(504, 'timeout', `no echo reply from ${ip} within ${timeoutMs} ms`)), timeoutMs);
      // Called while the device handles the reply's datagram: its endpoint is that datagram's source.
      const cancel = this.hook.expectEchoReply(this.pingId, seq, (peerKey) => end(null, this.receivedVia(peerKey)));
      signal?.addEventListener('abort', onAbort, { once: true });
      if (!this.tun.injectOutbound(pkt)) end(new LocalApiFailure(409, 'not_running', 'the data plane is not started'));
    });
  }

  /** The path of the datagram the device is handling for this peer (read synchronously from the hook). */
  private receivedVia(peerKey: Uint8Array): RxPath | null {
    const ep = this.device.peerEndpoint(peerKey);
    return ep ? this.nat.bind.pathOfSource(ep.addr16, ep.port) : null;
  }

  peerStats(): Map<string, PeerStats> {
    const out = new Map<string, PeerStats>();
    for (const p of this.device.peers()) {
      const key = NodePublic.text(p.publicKey);
      const path = this.nat.peerPath(key);
      out.set(key, { curAddr: path ? path.curAddr : (p.endpoint ?? ''), relay: path?.relay ?? '', lastHandshakeMs: p.lastHandshakeMs, rxBytes: p.rxBytes, txBytes: p.txBytes });
    }
    return out;
  }

  /** Folds the device's cryptokey source-check drops into the filter's `spoofed` counter. */
  private syncSpoofed(): void {
    const n = this.device.stats.drop_spoofed_source;
    for (let i = this.spoofedSynced; i < n; i++) this.engine.countDrop('spoofed' satisfies DropReason);
    this.spoofedSynced = n;
  }

  metricFamilies(): MetricFamily[] {
    this.syncSpoofed();
    const fc = this.engine.counters();
    const accepts: MetricFamily = { name: 'grantwire_filter_accepts_total', help: 'Inbound packets the filter accepted, by reason (rule, flow, fragment); outbound packets recorded.', type: 'counter', samples: [] };
    const drops: MetricFamily = { name: 'grantwire_filter_drops_total', help: 'Packets the filter dropped, by reason.', type: 'counter', samples: [] };
    for (const [k, v] of Object.entries(fc)) {
      if (k.startsWith('accepted_')) accepts.samples.push({ labels: { reason: k.slice(9) }, value: v });
      else if (k.startsWith('drop_')) drops.samples.push({ labels: { reason: k.slice(5) }, value: v });
    }
    const dc = this.device.counters();
    const wgDrops: MetricFamily = { name: 'grantwire_wireguard_drops_total', help: 'Datagrams and packets the WireGuard device dropped, by reason.', type: 'counter', samples: [] };
    const wg: MetricFamily[] = [];
    for (const [k, v] of Object.entries(dc)) {
      if (k.startsWith('drop_')) wgDrops.samples.push({ labels: { reason: k.slice(5) }, value: v });
      else wg.push({ name: `grantwire_wireguard_${k}_total`, help: `WireGuard device counter ${k}.`, type: 'counter', samples: [{ value: v }] });
    }
    const rx: MetricFamily = { name: 'grantwire_peer_rx_bytes_total', help: 'Bytes received from each peer.', type: 'counter', samples: [] };
    const tx: MetricFamily = { name: 'grantwire_peer_tx_bytes_total', help: 'Bytes sent to each peer.', type: 'counter', samples: [] };
    const hs: MetricFamily = { name: 'grantwire_peer_last_handshake_seconds', help: 'Unix time of the last completed handshake with each peer (0: never).', type: 'gauge', samples: [] };
    for (const p of this.device.peers()) {
      const key = NodePublic.text(p.publicKey);
      const labels = { peer: this.peerNames.get(key) ?? '', key };
      rx.samples.push({ labels, value: p.rxBytes });
      tx.samples.push({ labels, value: p.txBytes });
      hs.samples.push({ labels, value: p.lastHandshakeMs / 1000 });
    }
    const io: MetricFamily = { name: 'grantwire_io_packets_total', help: 'Packets (datagrams) through the packet device and the UDP socket, and those they dropped (tx_dropped: a full TUN writer queue or a full UDP send buffer).', type: 'counter', samples: [] };
    for (const [dev, src] of [['tun', this.opts.tun], ['udp', this.opts.bind], ['magicsock', this.nat.bind]] as const) {
      if (!hasIoCounters(src)) continue;
      for (const [counter, value] of Object.entries(src.ioCounters())) io.samples.push({ labels: { dev, counter }, value });
    }
    return [
      accepts,
      drops,
      { name: 'grantwire_filter_flows', help: 'Tracked flows.', type: 'gauge', samples: [{ value: fc.flows_active ?? 0 }] },
      { name: 'grantwire_filter_flows_revoked_total', help: 'Flows removed because a new policy no longer allowed them.', type: 'counter', samples: [{ value: fc.flows_revoked ?? 0 }] },
      { name: 'grantwire_revoked_flow_rsts_total', help: 'TCP RSTs sent for revoked flows (both directions, and toward local sockets still talking on a revoked tuple).', type: 'counter', samples: [{ value: this.rstsSent }] },
      { name: 'grantwire_filter_tombstones', help: 'Revoked tuples remembered so outbound packets cannot reopen them.', type: 'gauge', samples: [{ value: fc.flows_tombstones ?? 0 }] },
      { name: 'grantwire_filter_flows_quota_evicted_total', help: "Flows removed because the peer that created them reached its per-peer quota.", type: 'counter', samples: [{ value: fc.flows_quota_evicted ?? 0 }] },
      wgDrops,
      ...wg,
      ...(io.samples.length > 0 ? [io] : []),
      rx,
      tx,
      hs,
    ];
  }

  /** Local endpoints plus the reflexive ones STUN found. */
  endpoints(): string[] {
    return this.nat.endpoints(this.localEndpoints());
  }

  private localEndpoints(): string[] {
    const port = this.opts.bind.port;
    const out: string[] = [];
    for (const a of this.hostAddrs()) {
      if (a.internal || a.ifname === this.opts.tun.name) continue;
      if (a.address.includes(':')) {
        if (a.address.toLowerCase().startsWith('fe80')) continue;
        out.push(`[${a.address}]:${port}`);
      } else out.push(`${a.address}:${port}`);
    }
    // IPv4 first: chooseEndpoint on the other side prefers a shared subnet, then IPv4.
    return out.sort((x, y) => Number(x.startsWith('[')) - Number(y.startsWith('[')));
  }
}

/** A ping whose LocalAPI client went away (never sent: there is nobody to answer). */
function pingCanceled(): LocalApiFailure {
  return new LocalApiFailure(499, 'canceled', 'the ping was canceled: its client went away');
}
