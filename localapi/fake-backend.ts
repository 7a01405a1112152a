// An in-memory LocalBackend for tests and the LocalAPI benchmark: a synthetic netmap (one self node, N
// peers, some tagged), the real WhoisIndex, and a capsFor table. Lifecycle calls just record themselves.
// Not for production: there is no data plane behind it.
import type { Netmap, NetmapNode } from '../types/netmap.js';
import { LocalApiFailure, type BackendState, type ExplainQuery, type ExplainResponse, type LocalBackend, type PingResponse, type Prefs, type PrefsPatch, type StatusResponse, type UpRequest, type WatchEvent, type WhoIsResponse, type WhoisAddr } from './types.js';
import { buildStatus } from './status.js';
import { WhoisIndex, type CapsFor } from './whois.js';
import { NodePublic } from '../crypto/key.js';
import { hexToBytes } from '../crypto/bytes.js';

export function syntheticNode(i: number, opts: { tags?: string[]; user?: number } = {}): NetmapNode {
  const hex = i.toString(16).padStart(64, '0');
  const hi = (i >> 8) & 0xff;
  const lo = i & 0xff;
  return {
    id: i,
    stableId: `n${i}`,
    name: `node-${i}.example.grantwire.`,
    nodeKey: NodePublic.text(hexToBytes(hex)),
    addresses: [`100.64.${hi}.${lo}/32`, `fd7a:115c:a1e0::${i.toString(16)}/128`],
    allowedIPs: [`100.64.${hi}.${lo}/32`, `fd7a:115c:a1e0::${i.toString(16)}/128`],
    endpoints: [`192.0.2.${(i % 250) + 1}:41641`],
    tags: opts.tags ?? [],
    user: opts.user ?? 7,
    hostinfo: { hostname: `node-${i}`, os: 'linux' },
    online: true,
  };
}

/** Self is node 1; peers are 2..peers+1; every third peer is tagged tag:prod-server. */
export function syntheticNetmap(peers: number): Netmap {
  const list: NetmapNode[] = [];
  for (let i = 2; i < peers + 2; i++) list.push(syntheticNode(i, i % 3 === 0 ? { tags: ['tag:prod-server'] } : { user: i % 2 === 0 ? 7 : 8 }));
  return {
    self: syntheticNode(1, { user: 7 }),
    peers: list,
    userProfiles: [
      { id: 7, loginName: 'alice@example.com', displayName: 'Alice' },
      { id: 8, loginName: 'bob@example.com', displayName: 'Bob' },
    ],
    packetFilter: [],
    capMap: {},
    policyVersion: 1,
  };
}

export class FakeBackend implements LocalBackend {
  netmap: Netmap | null;
  index: WhoisIndex;
  state: BackendState = 'Running';
  prefs: Prefs = { ControlURL: 'http://127.0.0.1:8080', Hostname: 'node-1', AdvertiseTags: [], WantRunning: true, ShieldsUp: false, LoggedOut: false };
  readonly calls: string[] = [];
  /** When set, a ping gets no reply: it ends at its timeout (504) or when its signal aborts (counted in pingsCanceled). */
  pingNoReply = false;
  pingsCanceled = 0;
  /** The path each ping reply names (Endpoint or Relay; neither: an older daemon). */
  pingPath: { Endpoint?: string; Relay?: string } = {};
  /** When set, `up` fails with this reason (as control would). */
  upFailure: string | null = null;
  private readonly listeners = new Set<(ev: WatchEvent) => void>();

  constructor(netmap: Netmap | null, capsFor: CapsFor = () => null) {
    this.netmap = netmap;
    this.index = new WhoisIndex(netmap, capsFor);
  }

  whois(addr: WhoisAddr): WhoIsResponse | null {
    return this.index.lookup(addr);
  }

  status(opts: { peers: boolean }): StatusResponse {
    return buildStatus({ state: this.state, netmap: this.netmap, peerStats: new Map(), nowMs: Date.now(), includePeers: opts.peers, version: 'test', shieldsUp: this.prefs.ShieldsUp });
  }

  getPrefs(): Prefs {
    return { ...this.prefs };
  }

  async patchPrefs(patch: PrefsPatch): Promise<Prefs> {
    this.calls.push('patchPrefs');
    this.prefs = { ...this.prefs, ...patch };
    return this.getPrefs();
  }

  /** The last `up` request as received (tests check what the CLI sent). */
  lastUp: UpRequest | null = null;

  async up(req: UpRequest): Promise<StatusResponse> {
    this.calls.push(`up ${req.ControlURL ?? ''}`);
    this.lastUp = req;
    if (this.upFailure) throw new LocalApiFailure(400, 'login_failed', this.upFailure);
    this.setState('Running');
    return this.status({ peers: true });
  }

  async down(): Promise<void> {
    this.calls.push('down');
    this.setState('Stopped');
  }

  async logout(): Promise<void> {
    this.calls.push('logout');
    this.setState('NeedsLogin');
  }

  explain(q: ExplainQuery): ExplainResponse {
    return { Query: q, Verdict: 'drop', Reason: 'no_rule', Detail: null };
  }

  async ping(ip: string, timeoutMs: number, signal?: AbortSignal): Promise<PingResponse> {
    const who = this.index.lookup({ kind: 'ip', ip, port: null });
    if (!who) throw new LocalApiFailure(404, 'not_found', `no peer with address ${ip}`);
    if (this.pingNoReply) {
      await new Promise<void>((_, reject) => {
        const timer = setTimeout(() => reject(new LocalApiFailure(504, 'timeout', `no echo reply from ${ip} within ${timeoutMs} ms`)), timeoutMs);
        signal?.addEventListener('abort', () => {
          clearTimeout(timer);
          this.pingsCanceled++;
          reject(new LocalApiFailure(499, 'canceled', 'the ping was canceled'));
        }, { once: true });
      });
    }
    return { IP: ip, NodeName: who.Node.ComputedName, Type: 'ICMP', LatencySeconds: 0.001, ...this.pingPath };
  }

  metrics(): string {
    return '# HELP grantwire_test_total test\n# TYPE grantwire_test_total counter\ngrantwire_test_total 1\n';
  }

  watch(onEvent: (ev: WatchEvent) => void): () => void {
    this.listeners.add(onEvent);
    return () => this.listeners.delete(onEvent);
  }

  emit(ev: WatchEvent): void {
    for (const l of this.listeners) l(ev);
  }

  private setState(s: BackendState): void {
    this.state = s;
    this.emit({ Type: 'state', BackendState: s });
  }
}
