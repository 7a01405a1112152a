// The agent's brain: the login/run state machine behind the LocalAPI. It owns the persisted state,
// drives control (register, map stream, logout) and hands every netmap to the data plane; reads (whois,
// status) answer from the in-memory netmap and whois index. Control and the data plane come in through
// the small interfaces below, so the state machine is tested with fakes and the daemon wires the real
// ControlClient, Device, TUN and filter.
//
// States (Tailscale's names): NeedsLogin → (up with a key) → Starting → (first netmap) → Running;
// down → Stopped (keys and login kept); logout → NeedsLogin.
import { hostname as osHostname, release as osRelease } from 'node:os';
import { debuglog } from 'node:util';
import { formatMetrics } from '../localapi/metrics.js';
import { buildStatus } from '../localapi/status.js';
import {
  LocalApiFailure,
  type BackendState,
  type ExplainQuery,
  type ExplainResponse,
  type LocalBackend,
  type NetcheckResponse,
  type PingResponse,
  type Prefs,
  type PrefsPatch,
  type StatusResponse,
  type UpRequest,
  type WatchEvent,
  type WhoIsResponse,
  type WhoisAddr,
} from '../localapi/types.js';
import { WhoisIndex } from '../localapi/whois.js';
import type { Hostinfo, Netmap } from '../types/netmap.js';
import type { ControlFactory, ControlRefusal, ControlSession, Dataplane } from './backend-ports.js';
import { sanitizeNetmap, type RejectReason } from './netmap-sanitize.js';
import { osRoutesOf, selectRoutes, servedRoutes } from './route-select.js';
import { routePrefsChanged, routePrefsOf, type RoutePrefs } from './route-prefs-apply.js';
import type { PersistedState, StateStore } from './state-store.js';

export type { ControlFactory, ControlRefusal, ControlSession, Dataplane } from './backend-ports.js';

const log = debuglog('grantwire:agent');

export const AGENT_VERSION = '0.1.0';
const DEFAULT_UP_TIMEOUT_MS = 30_000;

export interface BackendOptions {
  store: StateStore;
  control: ControlFactory;
  dataplane: Dataplane;
  /** Overrides the OS hostname default. */
  defaultHostname?: string;
  /**
   * Replaces the node key after logout (as Tailscale does), so the next login is a new node and can never
   * resume the previous user's identity through control's "known node key" path.
   */
  rotateNodeKey?: () => Promise<void>;
  /** How often to look for changed local endpoints while streaming (default 10 s). */
  endpointRefreshMs?: number;
  /**
   * Userspace mode: the tailnet peer behind a connection the agent forwarded to a host port, by the
   * host-side client address (`127.0.0.1:PORT`), so whois answers for it (agent/host-forward.ts).
   */
  forwardedPeer?: (ip: string, port: number) => string | null;
}

export class AgentBackend implements LocalBackend {
  private persisted!: PersistedState;
  private state: BackendState = 'NoState';
  private netmap: Netmap | null = null;
  private index: WhoisIndex;
  private session: ControlSession | null = null;
  private stream: AbortController | null = null;
  /** The session `stream` belongs to (a re-login registers on a fresh one while it runs). */
  private streaming: ControlSession | null = null;
  private endpointTimer: NodeJS.Timeout | null = null;
  private reportedEndpoints = '';
  private lastError: string | null = null;
  private netmapsReceived = 0;
  /** Netmap entries rejected as hostile (netmap-sanitize.ts), by reason, since start. */
  private readonly netmapRejected = new Map<RejectReason, number>();
  /** A health line while the current netmap had rejected entries. */
  private netmapWarning: string | null = null;
  /** The last netmap as control sent it (re-applied when the route prefs change) and the exit node in use. */
  private rawNetmap: Netmap | null = null;
  private exitNodeKey: string | undefined;
  private routeWarning: string | null = null;
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private readonly listeners = new Set<(ev: WatchEvent) => void>();
  /** Serializes lifecycle calls (up/down/logout/prefs) so they never interleave. */
  private lifecycle: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: BackendOptions) {
    this.index = new WhoisIndex(null, opts.dataplane.capsFor);
    opts.dataplane.onNetworkChange?.(() => this.networkChanged());
    opts.dataplane.onEndpointsChange?.(() => this.endpointsChanged());
  }

  /**
   * STUN found a new reflexive endpoint (the first answer after up, or a NAT that re-mapped): report it now
   * rather than at the next refresh tick, since peers can only punch through to it once they know it
   * (waiting for the tick put ~10 s into the time to the direct upgrade, bench:relay).
   */
  private endpointsChanged(): void {
    const session = this.streaming;
    if (session && this.stream) this.reportEndpoints(session, 'reflexive endpoints changed');
  }

  /** Sends the data plane's endpoints on the live stream when they differ from the last report (or `always`). */
  private reportEndpoints(session: ControlSession, why: string, always = false): void {
    const now = this.opts.dataplane.endpoints();
    const text = JSON.stringify(now);
    if (!always && text === this.reportedEndpoints) return;
    this.reportedEndpoints = text;
    log('%s: endpoints %s', why, text);
    session.updateEndpoints?.(now);
  }

  /**
   * The host's addresses changed (roaming) and the data plane re-discovered its endpoints: report them and
   * re-open the map stream at once, since its connection may be bound to an address that is gone (then
   * neither the update nor peers' new endpoints would arrive). Peers probe the new endpoints and return to
   * a direct path.
   */
  private networkChanged(): void {
    const session = this.streaming;
    if (!session || !this.stream) return;
    this.reportEndpoints(session, 'network changed, reconnecting to control', true);
    session.reconnect?.();
  }

  /** Loads persisted state; resumes the map stream when the node was logged in and running. */
  async start(): Promise<void> {
    this.persisted = await this.opts.store.loadState();
    this.opts.dataplane.setShieldsUp(this.persisted.prefs.ShieldsUp);
    if (this.persisted.registered && this.persisted.prefs.WantRunning && this.persisted.prefs.ControlURL) {
      this.session = this.opts.control(this.persisted.prefs.ControlURL, this.persisted.controlKey);
      this.connect();
    } else {
      this.setState(this.persisted.registered ? 'Stopped' : 'NeedsLogin');
    }
  }

  /** Stops the stream (daemon shutdown); keeps persisted state as it is. */
  async stop(): Promise<void> {
    this.stream?.abort();
    this.stream = null;
    this.streaming = null;
    if (this.endpointTimer) clearInterval(this.endpointTimer);
    this.endpointTimer = null;
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lifecycle.then(fn, fn);
    this.lifecycle = run.catch(() => undefined);
    return run;
  }

  private hostinfo(): Hostinfo {
    const h: Hostinfo = { hostname: this.hostname(), os: process.platform, osVersion: osRelease(), agentVersion: AGENT_VERSION, ...this.opts.dataplane.hostinfoExtra?.() };
    const routes = this.persisted.prefs.AdvertiseRoutes ?? [];
    if (routes.length > 0) h.routableIPs = [...routes];
    return h;
  }

  /** New route prefs: tell control what we advertise, and re-apply the last netmap with the new choices. */
  private applyRoutePrefs(before: RoutePrefs): void {
    const p = this.persisted.prefs;
    if ((before.AdvertiseRoutes ?? []).join() !== (p.AdvertiseRoutes ?? []).join()) this.session?.updateHostinfo?.(this.hostinfo());
    if (this.rawNetmap && this.stream) this.onNetmap(this.rawNetmap, this.stream.signal);
  }

  private hostname(): string {
    return this.persisted.prefs.Hostname || this.opts.defaultHostname || osHostname();
  }

  private setState(s: BackendState, error?: string): void {
    if (this.state === s && error === undefined) return;
    this.state = s;
    this.emit({ Type: 'state', BackendState: s, ...(error ? { Error: error } : {}) });
  }

  private emit(ev: WatchEvent): void {
    for (const l of this.listeners) {
      try {
        l(ev);
      } catch (err) {
        log('watch listener failed: %s', (err as Error).message);
      }
    }
  }

  private async save(): Promise<void> {
    await this.opts.store.saveState(this.persisted);
  }

  /** Starts the map stream (if not running); the state becomes Running on the first netmap. */
  private connect(): void {
    if (this.stream) return;
    const session = this.session;
    if (!session) return;
    const ac = new AbortController();
    this.stream = ac;
    this.streaming = session;
    this.setState('Starting');
    if (this.persisted.prefs.ControlURL) this.opts.dataplane.setControlURL?.(this.persisted.prefs.ControlURL);
    const endpoints = this.opts.dataplane.endpoints();
    this.reportedEndpoints = JSON.stringify(endpoints);
    let reportedHostinfo = JSON.stringify(this.hostinfo());
    // Interfaces come and go (DHCP, roaming laptops): tell control so peers learn the new endpoints.
    this.endpointTimer = setInterval(() => {
      const hi = this.hostinfo();
      if (JSON.stringify(hi) !== reportedHostinfo) {
        reportedHostinfo = JSON.stringify(hi);
        session.updateHostinfo?.(hi);
      }
      this.reportEndpoints(session, 'local endpoints changed');
    }, this.opts.endpointRefreshMs ?? 10_000);
    this.endpointTimer.unref();
    session
      .streamMap({ endpoints, hostinfo: this.hostinfo() }, (nm) => this.onNetmap(nm, ac.signal), ac.signal)
      .then(
        () => undefined,
        (err: Error) => {
          if (ac.signal.aborted) return;
          log('map stream ended: %s', err.message);
          this.lastError = err.message;
          if (this.stream === ac) this.disconnect();
          else this.dropNetmap();
          this.setState('NeedsLogin', err.message);
          this.failWaiters(new LocalApiFailure(502, 'control_error', err.message));
        },
      );
  }

  private disconnect(): void {
    this.stream?.abort();
    this.stream = null;
    this.streaming = null;
    if (this.endpointTimer) clearInterval(this.endpointTimer);
    this.endpointTimer = null;
    this.dropNetmap();
  }

  private dropNetmap(): void {
    this.opts.dataplane.clear();
    this.netmap = null;
    this.rawNetmap = null;
    this.exitNodeKey = undefined;
    this.index = new WhoisIndex(null, this.opts.dataplane.capsFor);
  }

  private onNetmap(raw: Netmap, signal: AbortSignal): void {
    if (signal.aborted) return;
    this.rawNetmap = raw;
    const prefs = this.persisted.prefs;
    const sel = selectRoutes(raw, prefs);
    const nm = this.sanitize(sel.netmap);
    const prev = this.netmap;
    try {
      this.opts.dataplane.apply(nm);
      const served = servedRoutes(nm);
      const exitServed = served.some((r) => r === '0.0.0.0/0' || r === '::/0');
      const lanBlock = { block: (prefs.ExitNode ?? '') !== '' && prefs.ExitNodeAllowLANAccess !== true, exempt: [prefs.ControlURL, ...nm.peers.flatMap((p) => p.endpoints)] };
      this.opts.dataplane.setRouting?.({ osRoutes: osRoutesOf(nm, prefs), serving: served.length > 0, masquerade: exitServed || prefs.NoSNAT !== true, lanBlock });
      this.exitNodeKey = sel.exitNode?.nodeKey;
      this.routeWarning = sel.problem;
    } catch (err) {
      // A bad netmap must not take the node down; keep the previous data plane and say so.
      log('applying netmap failed: %s', (err as Error).stack ?? String(err));
      this.lastError = `applying netmap: ${(err as Error).message}`;
      return;
    }
    this.netmap = nm;
    this.netmapsReceived++;
    this.index = new WhoisIndex(nm, this.opts.dataplane.capsFor);
    this.lastError = null;
    this.setState('Running');
    this.emit({ Type: 'netmap', PolicyVersion: nm.policyVersion, Self: nm.self.nodeKey, Peers: nm.peers.length });
    const before = new Map((prev?.peers ?? []).map((p) => [p.nodeKey, p]));
    for (const p of nm.peers) {
      const old = before.get(p.nodeKey);
      before.delete(p.nodeKey);
      if (!old || old.online !== p.online) this.emit({ Type: 'peer', Key: p.nodeKey, HostName: p.hostinfo.hostname, Online: p.online });
    }
    for (const [key, p] of before) this.emit({ Type: 'peer-removed', Key: key, HostName: p.hostinfo.hostname });
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) x.resolve();
  }

  /** The netmap without hostile entries; each rejection is logged and counted. */
  private sanitize(raw: Netmap): Netmap {
    const { netmap, rejections } = sanitizeNetmap(raw);
    for (const r of rejections) {
      log('netmap: rejected %s %s of %s', r.reason, r.value, r.node);
      this.netmapRejected.set(r.reason, (this.netmapRejected.get(r.reason) ?? 0) + 1);
    }
    this.netmapWarning =
      rejections.length === 0 ? null : `netmap: rejected ${rejections.length} entries from control (${[...new Set(rejections.map((r) => r.reason))].join(', ')}); see grantwire_netmap_rejected_total`;
    return netmap;
  }

  private failWaiters(err: Error): void {
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) x.reject(err);
  }

  private waitRunning(timeoutMs: number): Promise<void> {
    if (this.state === 'Running' && this.netmap) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== entry);
        reject(new LocalApiFailure(504, 'timeout', `no network map from control within ${Math.round(timeoutMs / 1000)}s`));
      }, timeoutMs);
      const entry = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiters.push(entry);
    });
  }

  // ---- LocalBackend ----

  whois(addr: WhoisAddr): WhoIsResponse | null {
    const fwd = addr.kind === 'ip' && addr.port !== null ? this.opts.forwardedPeer?.(addr.ip, addr.port) : null;
    return this.index.lookup(fwd ? { kind: 'ip', ip: fwd, port: null } : addr);
  }

  status(opts: { peers: boolean }): StatusResponse {
    return buildStatus({
      state: this.state,
      netmap: this.netmap,
      peerStats: opts.peers ? this.opts.dataplane.peerStats() : new Map(),
      nowMs: Date.now(),
      includePeers: opts.peers,
      version: AGENT_VERSION,
      health: [this.lastError, this.netmapWarning, this.routeWarning].filter((x): x is string => x !== null),
      shieldsUp: this.persisted.prefs.ShieldsUp,
      ...(this.exitNodeKey !== undefined ? { exitNodeKey: this.exitNodeKey } : {}),
    });
  }

  getPrefs(): Prefs {
    const p = this.persisted.prefs;
    return { ...p, AdvertiseTags: [...p.AdvertiseTags], ...(p.AdvertiseRoutes ? { AdvertiseRoutes: [...p.AdvertiseRoutes] } : {}) };
  }

  patchPrefs(patch: PrefsPatch): Promise<Prefs> {
    return this.serialize(async () => {
      const wasRunning = this.persisted.prefs.WantRunning;
      const renamed = patch.Hostname !== undefined && patch.Hostname !== this.persisted.prefs.Hostname;
      const before: RoutePrefs = { ...this.persisted.prefs };
      this.persisted.prefs = { ...this.persisted.prefs, ...patch };
      await this.save();
      if (routePrefsChanged(before, this.persisted.prefs)) this.applyRoutePrefs(before);
      if (patch.ShieldsUp !== undefined) this.opts.dataplane.setShieldsUp(patch.ShieldsUp);
      if (renamed) this.session?.updateHostinfo?.(this.hostinfo());
      if (patch.WantRunning === false && wasRunning) {
        this.disconnect();
        this.setState('Stopped');
      } else if (patch.WantRunning === true && !wasRunning && this.persisted.registered) {
        this.session ??= this.opts.control(this.persisted.prefs.ControlURL, this.persisted.controlKey);
        this.connect();
      }
      return this.getPrefs();
    });
  }

  up(req: UpRequest): Promise<StatusResponse> {
    return this.serialize(async () => {
      const prefs = this.persisted.prefs;
      const url = req.ControlURL ?? prefs.ControlURL;
      if (!url) throw new LocalApiFailure(400, 'bad_request', 'no control server known: give --login-server URL');
      const urlChanged = url !== prefs.ControlURL;
      const mustLogin = !this.persisted.registered || urlChanged;
      if (mustLogin && !req.AuthKey) {
        throw new LocalApiFailure(400, 'needs_login', `not logged in to ${url}: give --auth-key KEY`);
      }
      if (req.AuthKey) {
        // Register on a fresh session while any current stream keeps running: a refused re-login (say,
        // tags not permitted) must leave a running node as it was.
        // Same control as before: keep its pinned key; a different one is learnt afresh.
        const session = this.opts.control(url, urlChanged ? null : this.persisted.controlKey);
        const hostname = req.Hostname ?? (prefs.Hostname || this.opts.defaultHostname || osHostname());
        const tags = req.AdvertiseTags ?? prefs.AdvertiseTags;
        let nodeId: number | null;
        let controlKey: string | null | undefined;
        try {
          const routes = req.AdvertiseRoutes ?? prefs.AdvertiseRoutes ?? [];
          ({ nodeId, controlKey } = await session.register({
            authKey: req.AuthKey,
            hostname,
            hostinfo: { ...this.hostinfo(), hostname, ...(routes.length > 0 ? { routableIPs: routes } : {}) },
            requestTags: tags,
          }));
        } catch (err) {
          const e = err as ControlRefusal;
          if (!this.persisted.registered) this.setState('NeedsLogin', e.message);
          if (e.refused === false) throw new LocalApiFailure(502, 'control_unreachable', e.message);
          throw new LocalApiFailure(400, 'login_failed', e.message);
        }
        this.disconnect();
        this.session = session;
        this.persisted = {
          prefs: { ...prefs, ...routePrefsOf(req), ControlURL: url, Hostname: hostname, AdvertiseTags: tags, WantRunning: true, LoggedOut: false },
          registered: true,
          nodeId,
          controlKey: controlKey ?? (urlChanged ? null : this.persisted.controlKey),
        };
      } else {
        const renamed = req.Hostname !== undefined && req.Hostname !== this.persisted.prefs.Hostname;
        if (req.Hostname !== undefined) this.persisted.prefs.Hostname = req.Hostname;
        this.persisted.prefs.WantRunning = true;
        const before: RoutePrefs = { ...this.persisted.prefs };
        Object.assign(this.persisted.prefs, routePrefsOf(req));
        this.session ??= this.opts.control(url, this.persisted.controlKey);
        if (renamed) this.session.updateHostinfo?.(this.hostinfo());
        if (routePrefsChanged(before, this.persisted.prefs)) this.applyRoutePrefs(before);
      }
      await this.save();
      this.connect();
      await this.waitRunning(req.TimeoutMs ?? DEFAULT_UP_TIMEOUT_MS);
      return this.status({ peers: true });
    });
  }

  down(): Promise<void> {
    return this.serialize(async () => {
      this.disconnect();
      this.persisted.prefs.WantRunning = false;
      await this.save();
      this.setState(this.persisted.registered ? 'Stopped' : 'NeedsLogin');
    });
  }

  logout(): Promise<void> {
    return this.serialize(async () => {
      const url = this.persisted.prefs.ControlURL;
      const session = this.session ?? (url && this.persisted.registered ? this.opts.control(url, this.persisted.controlKey) : null);
      this.disconnect();
      if (session && this.persisted.registered) {
        try {
          await session.logout();
        } catch (err) {
          // Logging out locally must work even when control is unreachable; say so in the health list.
          this.lastError = `logout: control did not confirm: ${(err as Error).message}`;
          log('%s', this.lastError);
        }
      }
      this.session = null;
      if (this.opts.rotateNodeKey) await this.opts.rotateNodeKey();
      // The control key stays pinned: logging in again to the same control still trusts only that key.
      this.persisted = { prefs: { ...this.persisted.prefs, WantRunning: false, LoggedOut: true }, registered: false, nodeId: null, controlKey: this.persisted.controlKey };
      await this.save();
      this.setState('NeedsLogin');
    });
  }

  explain(q: ExplainQuery): ExplainResponse {
    return this.opts.dataplane.explain(q);
  }

  async netcheck(): Promise<NetcheckResponse> {
    if (!this.opts.dataplane.netcheck) throw new LocalApiFailure(501, 'not_implemented', 'this data plane has no NAT traversal');
    return this.opts.dataplane.netcheck();
  }

  async ping(ip: string, timeoutMs: number, signal?: AbortSignal): Promise<PingResponse> {
    const who = this.index.lookup({ kind: 'ip', ip, port: null });
    if (!who || who.Node.Key === this.netmap?.self.nodeKey) throw new LocalApiFailure(404, 'not_found', `no peer with address ${ip}`);
    const r = await this.opts.dataplane.ping(ip, timeoutMs, signal);
    return { IP: ip, NodeName: who.Node.ComputedName, Type: 'ICMP', LatencySeconds: r.rttMs / 1000, ...(r.endpoint ? { Endpoint: r.endpoint } : {}), ...(r.relay ? { Relay: r.relay } : {}) };
  }

  metrics(): string {
    const states: BackendState[] = ['NoState', 'NeedsLogin', 'Stopped', 'Starting', 'Running'];
    return formatMetrics([
      { name: 'grantwire_backend_state', help: 'Backend state (1 for the current one).', type: 'gauge', samples: states.map((s) => ({ labels: { state: s }, value: s === this.state ? 1 : 0 })) },
      { name: 'grantwire_netmaps_received_total', help: 'Network maps received from control.', type: 'counter', samples: [{ value: this.netmapsReceived }] },
      {
        name: 'grantwire_netmap_rejected_total',
        help: 'Netmap entries rejected as hostile (self or peer addresses outside the tailnet, unapproved routes, addresses claimed twice, unusable endpoints), by reason.',
        type: 'counter',
        samples: [...this.netmapRejected].map(([reason, value]) => ({ labels: { reason }, value })),
      },
      { name: 'grantwire_peers', help: 'Peers in the current network map.', type: 'gauge', samples: [{ value: this.netmap?.peers.length ?? 0 }] },
      { name: 'grantwire_policy_version', help: 'Policy version of the current network map.', type: 'gauge', samples: [{ value: this.netmap?.policyVersion ?? 0 }] },
      ...this.opts.dataplane.metricFamilies(),
    ]);
  }

  watch(onEvent: (ev: WatchEvent) => void): () => void {
    this.listeners.add(onEvent);
    return () => this.listeners.delete(onEvent);
  }

  /** The current netmap (for the daemon's logs and tests). */
  currentNetmap(): Netmap | null {
    return this.netmap;
  }

  backendState(): BackendState {
    return this.state;
  }
}
