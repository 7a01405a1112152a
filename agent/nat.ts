// The agent's NAT traversal around magicsock's MagicBind: turns the netmap's relay map into relay URLs
// and STUN servers (an empty URL or host means control's own), chooses the home relay by latency, feeds
// each peer's disco key, home relay and candidate endpoints to the bind, discovers the reflexive address
// by STUN from the WireGuard socket (periodically and when the host's addresses change, then telling the
// backend so it reports them and re-opens its control stream), and answers netcheck. The data plane
// hands the WireGuard device `bind` and each peer's virtual endpoint.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { debuglog } from 'node:util';
import { DiscoPublic, NodePrivate, NodePublic, RelayPublic } from '../crypto/key.js';
import { formatEndpoint } from '../net/endpoint.js';
import { addrToBytes16 } from '../net/udp-dgram.js';
import type { UdpBind } from '../net/io.js';
import { MagicBind, type PeerPath, type RelayInfo } from '../magicsock/magic-bind.js';
import { probeRelay } from '../relay/client.js';
import type { Netmap, RelayNode } from '../types/netmap.js';

const log = debuglog('grantwire:nat');

export const DEFAULT_STUN_INTERVAL_MS = 20_000;
export const DEFAULT_HOME_RELAY_INTERVAL_MS = 5 * 60_000;
/** How often the host's addresses are compared (a change re-runs STUN and reconnects relays). */
export const ADDRESS_WATCH_MS = 1_000;

export interface NatOptions {
  inner: UdpBind;
  nodePrivate: Uint8Array;
  probeIntervalMs?: number;
  stunIntervalMs?: number;
  /** How long a peer without traffic counts as active (probed); then only keepalives (tests shorten it). */
  activeWindowMs?: number;
  /** Signature of the host's addresses (changes trigger re-discovery); default: never changes. */
  addressSignature?: () => string;
  /** The candidate to try first without a relay (the data plane's shared-subnet pick). */
  prefer?: (endpoints: string[]) => string | null;
}

interface StunTarget {
  name: string;
  host: string;
  port: number;
}

export interface NetcheckReport {
  reflexive: { server: string; endpoint: string | null; error?: string }[];
  /** True/false when two or more STUN servers answered; null when fewer did. */
  mappingVariesByDest: boolean | null;
  relays: { name: string; url: string; latencyMs: number | null; error?: string }[];
  homeRelay: string | null;
}

export class AgentNat {
  readonly bind: MagicBind;
  private controlURL = '';
  private relayNodes: RelayNode[] = [];
  private relaySig = '';
  private home: string | null = null;
  private reflexive = new Map<string, string>();
  private stunTimer: NodeJS.Timeout | null = null;
  private homeTimer: NodeJS.Timeout | null = null;
  private addrTimer: NodeJS.Timeout | null = null;
  private addrSig = '';
  private peers = new Set<string>();
  /** Each peer's disco key as last seen in a netmap (a new one means the peer's agent restarted). */
  private readonly peerDisco = new Map<string, string>();
  /** Runs after a change of the host's addresses, once STUN re-discovered the reflexive endpoints. */
  networkChangeHandler: (() => void) | null = null;
  /** Runs when the reflexive endpoints differ from the last discovery's, so control hears at once. */
  endpointsChangeHandler: (() => void) | null = null;

  constructor(private readonly opts: NatOptions) {
    this.bind = new MagicBind({
      inner: opts.inner,
      nodePrivate: opts.nodePrivate,
      nodePublic: NodePrivate.publicKey(NodePrivate.of(opts.nodePrivate)),
      ...(opts.probeIntervalMs !== undefined ? { probeIntervalMs: opts.probeIntervalMs } : {}),
      ...(opts.activeWindowMs !== undefined ? { activeWindowMs: opts.activeWindowMs } : {}),
      log: (m) => log('%s', m),
    });
  }

  start(): void {
    this.stunTimer = setInterval(() => void this.discover(), this.opts.stunIntervalMs ?? DEFAULT_STUN_INTERVAL_MS);
    this.stunTimer.unref();
    this.homeTimer = setInterval(() => void this.chooseHome(), DEFAULT_HOME_RELAY_INTERVAL_MS);
    this.homeTimer.unref();
    if (this.opts.addressSignature) {
      this.addrSig = this.opts.addressSignature();
      this.addrTimer = setInterval(() => this.watchAddresses(), ADDRESS_WATCH_MS);
      this.addrTimer.unref();
    }
  }

  stop(): void {
    for (const t of [this.stunTimer, this.homeTimer, this.addrTimer]) if (t) clearInterval(t);
  }

  setControlURL(url: string): void {
    if (url === this.controlURL) return;
    this.controlURL = url;
    this.relaySig = '';
  }

  get discoPublic(): string {
    return DiscoPublic.text(this.bind.disco.publicKey);
  }

  get homeRelay(): string | null {
    return this.home;
  }

  /**
   * Relay map and peers from a netmap (before the WireGuard peers are upserted). Returns the peers whose
   * disco key changed: a disco key lives as long as the agent process, so those restarted and have lost
   * their WireGuard session.
   */
  applyNetmap(nm: Netmap): Uint8Array[] {
    const restarted: Uint8Array[] = [];
    const relays = nm.relayMap?.relays ?? [];
    const sig = JSON.stringify(relays);
    if (sig !== this.relaySig) {
      this.relaySig = sig;
      this.relayNodes = relays;
      const infos = this.relayInfos();
      // Never wait for latencies: the first relay serves until chooseHome has measured them all.
      if (this.home === null || !infos.some((r) => r.name === this.home)) this.home = infos[0]?.name ?? null;
      this.bind.setRelays(infos, this.home);
      void this.chooseHome();
      void this.discover();
    }
    const seen = new Set<string>();
    for (const p of nm.peers) {
      const key = NodePublic.tryParse(p.nodeKey);
      if (!key) continue;
      const disco = p.hostinfo.discoKey ? DiscoPublic.tryParse(p.hostinfo.discoKey) : null;
      const first = this.opts.prefer?.(p.endpoints) ?? null;
      const endpoints = first ? [first, ...p.endpoints.filter((e) => e !== first)] : p.endpoints;
      this.bind.upsertPeer({ nodeKey: key, discoKey: disco, homeRelay: p.hostinfo.homeRelay ?? null, endpoints });
      const id = p.nodeKey.toLowerCase();
      seen.add(id);
      const discoText = disco ? DiscoPublic.text(disco) : null;
      const before = this.peerDisco.get(id);
      if (before && discoText && before !== discoText) restarted.push(key);
      if (discoText) this.peerDisco.set(id, discoText);
    }
    for (const k of this.peers) {
      if (seen.has(k)) continue;
      this.bind.removePeer(NodePublic.parse(k));
      this.peerDisco.delete(k);
    }
    this.peers = seen;
    return restarted;
  }

  /** The virtual endpoint for a peer, with the data plane's preferred direct candidate (no relay) first. */
  endpointFor(nodeKey: Uint8Array, preferred: string | null): string {
    return this.bind.virtualFor(nodeKey, preferred);
  }

  removePeer(nodeKey: Uint8Array): void {
    this.bind.removePeer(nodeKey);
    this.peers.delete(NodePublic.text(nodeKey));
  }

  peerPath(nodeKey: string): PeerPath | null {
    return this.bind.peerPath(nodeKey);
  }

  /** Local endpoints plus the reflexive ones STUN found. */
  endpoints(local: string[]): string[] {
    const out = [...local];
    for (const e of this.reflexive.values()) if (!out.includes(e)) out.push(e);
    return out;
  }

  hostinfoExtra(): { discoKey: string; homeRelay?: string } {
    return { discoKey: this.discoPublic, ...(this.home ? { homeRelay: this.home } : {}) };
  }

  async netcheck(): Promise<NetcheckReport> {
    const reflexive = await this.discover();
    const ok = reflexive.filter((r) => r.endpoint !== null).map((r) => r.endpoint as string);
    const relays = await Promise.all(
      this.relayInfos().map(async (r) => {
        try {
          const latencyMs = Math.round((await probeRelay(r.url)) * 100) / 100;
          // Reachable is not usable: a relay that did not prove its pinned key carries nothing.
          const refused = this.bind.relayAuthError(r.name);
          return { name: r.name, url: r.url, latencyMs, ...(refused ? { error: refused } : {}) };
        } catch (err) {
          return { name: r.name, url: r.url, latencyMs: null, error: (err as Error).message };
        }
      }),
    );
    return { reflexive, mappingVariesByDest: ok.length >= 2 ? new Set(ok).size > 1 : null, relays, homeRelay: this.home };
  }

  async close(): Promise<void> {
    this.stop();
    await this.bind.close();
  }

  private relayInfos(): RelayInfo[] {
    const out: RelayInfo[] = [];
    for (const r of this.relayNodes) {
      if (r.url === '-') continue;
      // Deny by default: a relay whose key the agent cannot pin is never used.
      const publicKey = typeof r.publicKey === 'string' ? RelayPublic.tryParse(r.publicKey) : null;
      if (!publicKey) {
        log('relay %s: no valid publicKey in the relay map; not used', r.name);
        continue;
      }
      const url = r.url === '' ? this.controlURL : r.url;
      if (url) out.push({ name: r.name, url, publicKey });
    }
    return out;
  }

  private stunTargets(): StunTarget[] {
    const out: StunTarget[] = [];
    for (const r of this.relayNodes) {
      if (!r.stunPort) continue;
      let host = r.stunHost;
      if (!host) {
        try {
          host = new URL(r.url === '' || r.url === '-' ? this.controlURL : r.url).hostname.replace(/^\[|\]$/g, '');
        } catch {
          continue;
        }
      }
      out.push({ name: r.name, host, port: r.stunPort });
    }
    return out;
  }

  /** One STUN round to every server; updates the reflexive endpoints. */
  private async discover(): Promise<NetcheckReport['reflexive']> {
    const results = await Promise.all(
      this.stunTargets().map(async (t) => {
        const server = `${t.name} ${t.host}:${t.port}`;
        try {
          const ip = isIP(t.host) ? t.host : (await lookup(t.host)).address;
          const addr16 = new Uint8Array(16);
          if (!addrToBytes16(ip, addr16)) throw new Error(`bad address ${ip}`);
          const m = await this.bind.stun(addr16, t.port);
          return { server, endpoint: formatEndpoint(m.addr16, m.port) };
        } catch (err) {
          return { server, endpoint: null, error: (err as Error).message };
        }
      }),
    );
    const next = new Map<string, string>();
    for (const r of results) if (r.endpoint) next.set(r.server, r.endpoint);
    const changed = JSON.stringify([...next]) !== JSON.stringify([...this.reflexive]);
    if (changed) log('reflexive endpoints: %s', [...next.values()].join(', ') || 'none');
    this.reflexive = next;
    if (changed) this.endpointsChangeHandler?.();
    return results;
  }

  private async chooseHome(): Promise<void> {
    const infos = this.relayInfos();
    if (infos.length < 2) return;
    const lat = await Promise.all(infos.map((r) => probeRelay(r.url).then((ms) => ({ r, ms }), () => ({ r, ms: Infinity }))));
    const best = lat.reduce((a, b) => (b.ms < a.ms ? b : a));
    if (!Number.isFinite(best.ms) || best.r.name === this.home) return;
    log('home relay: %s (%d ms)', best.r.name, Math.round(best.ms));
    this.home = best.r.name;
    this.bind.setRelays(infos, this.home);
  }

  private watchAddresses(): void {
    const sig = this.opts.addressSignature?.() ?? '';
    if (sig === this.addrSig) return;
    this.addrSig = sig;
    log('host addresses changed: re-discovering endpoints, reconnecting relays, re-probing peers');
    this.bind.networkChanged();
    void this.discover().then(() => this.networkChangeHandler?.());
  }
}

export interface NatTimings {
  probeIntervalMs?: number;
  stunIntervalMs?: number;
  activeWindowMs?: number;
  endpointRefreshMs?: number;
}

/** Timing overrides from the environment (the namespace tests shorten them); absent or invalid: defaults. */
export function natTimingsFromEnv(env: NodeJS.ProcessEnv): NatTimings {
  const num = (v: string | undefined): number | undefined => (v !== undefined && /^[0-9]{2,7}$/.test(v) ? Number(v) : undefined);
  const out: NatTimings = {};
  const p = num(env.GRANTWIRE_NAT_PROBE_MS);
  const a = num(env.GRANTWIRE_NAT_ACTIVE_MS);
  if (a !== undefined) out.activeWindowMs = a;
  const s = num(env.GRANTWIRE_NAT_STUN_MS);
  const e = num(env.GRANTWIRE_ENDPOINT_REFRESH_MS);
  if (p !== undefined) out.probeIntervalMs = p;
  if (s !== undefined) out.stunIntervalMs = s;
  if (e !== undefined) out.endpointRefreshMs = e;
  return out;
}
