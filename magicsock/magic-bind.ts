// MagicBind: the layer between the UDP bind and the WireGuard device (Tailscale's magicsock, reduced).
//
// - Demux by first bytes: WireGuard (type 1..4 + three zero bytes) goes up to the device; STUN answers
//   go to endpoint discovery; disco probes (disco.ts) are handled here. The device never sees the others.
// - Virtual endpoints: every peer gets `[100::N]:9` (RFC 6666 discard prefix, never a real address) as
//   its WireGuard endpoint. A send to it goes out on the peer's current path: a trusted direct address
//   (disco confirmed it), else the peer's home relay, else (no relay known, or a plain-WireGuard peer with
//   no disco key and no home relay, which no relay can reach) its first candidate. So the
//   first packet never waits for probing, and a path change never touches the WireGuard session.
//   WireGuard datagrams from a known direct address are handed up with the peer's virtual source, so the
//   device's roaming keeps the virtual endpoint; from an unknown address they go up unchanged and the
//   device roams to it (a peer whose address just changed still works until disco catches up). Which
//   path each datagram came on is recorded per peer (pathOfSource: `agent ping` names each reply's path).
// - Disco: pings to every candidate and via the relay, from both sides (a ping from a peer makes us ping
//   back), pongs with transaction ids; forged or unsealed datagrams fail the box, replayed pings hit the
//   txid cache or the age check, replayed pongs match no outstanding txid, and a flood is cut by token
//   buckets before any crypto. Active peers are probed every probe interval; an idle peer's confirmed
//   direct path gets one keepalive ping every 25 s (the NAT mappings stay open, the next packet goes
//   direct); a new candidate or a network change re-probes a peer that was direct lately (roaming).
//
// Not concurrency-safe; everything runs on the event loop. The WireGuard data path (send to a peer with
// a direct path, receive from a known address) allocates nothing.
import { keysEqual, NodePublic } from '../crypto/key.js';
import { formatEndpoint, parseEndpoint } from '../net/endpoint.js';
import type { DatagramBatch, IoCounterSource, UdpBind } from '../net/io.js';
import { RelayClient } from '../relay/client.js';
import { encodeBindingRequest, isStunMessage, parseBindingSuccess } from '../relay/stun.js';
import { DISCO_PING, DISCO_PONG, DiscoBox, discoSender, isDiscoMessage, type DiscoMessage } from './disco.js';
import { isTrusted, selectPath, type PathSample } from './path-select.js';
import { TokenBucket } from './rate-limit.js';
import { addrKeyOf, VIRTUAL_PORT, virtualEndpoint, virtualIndex, writeVirtual } from './virtual-endpoint.js';

/** Ping age beyond which a ping is treated as replayed (clock skew between peers must stay below). */
export const DISCO_PING_MAX_AGE_MS = 60_000;
export const DEFAULT_PROBE_INTERVAL_MS = 5_000;
/** Peers with no traffic for this long are not probed; only their confirmed direct path gets keepalives. */
export const ACTIVE_WINDOW_MS = 60_000;
/**
 * An idle peer's confirmed direct path gets one disco ping this often, so the NAT mappings on it stay open
 * (UDP mappings commonly last 30 s or more) and the peer's next packet goes direct, not via the relay.
 */
export const DEFAULT_KEEPALIVE_INTERVAL_MS = 25_000;
/** A peer whose direct path answered within this long is probed at once on a new candidate or a network change. */
const RECENTLY_DIRECT_MS = 5 * 60_000;
/** Implementation limits. */
const MAX_BATCH = 128;
const MAX_PENDING_PINGS = 64;
const MAX_SEEN_TXIDS = 256;
const MAX_PATHS_PER_PEER = 16;
const DISCO_PEER_RATE = 20;
const DISCO_PEER_BURST = 40;
const DISCO_TOTAL_RATE = 400;
const DISCO_TOTAL_BURST = 800;

export interface RelayInfo {
  name: string;
  url: string;
  /** The relay's public key (relay map): the relay client refuses a relay that cannot prove it. */
  publicKey: Uint8Array;
}

export interface MagicPeer {
  nodeKey: Uint8Array;
  discoKey: Uint8Array | null;
  /** The peer's home relay name (null: unknown). */
  homeRelay: string | null;
  /** Candidate endpoints (`ip:port`) from the netmap. */
  endpoints: string[];
}

interface PathState extends PathSample {
  addr16: Uint8Array;
  port: number;
  addrKey: number | string;
  lastPingMs: number;
  /** Monotonic ms of the oldest ping on this path without a pong since (-1: none). */
  unansweredSinceMs: number;
  owner: PeerState;
}

interface PeerState {
  index: number;
  nodeKey: Uint8Array;
  nodeKeyText: string;
  discoKey: Uint8Array | null;
  discoHex: string;
  homeRelay: string | null;
  candidates: { addr16: Uint8Array; port: number }[];
  paths: Map<string, PathState>;
  best: PathState | null;
  relayLatencyMs: number;
  pending: Map<string, { path: PathState | null; sentMs: number }>;
  seen: Map<string, number>;
  lastSendMs: number;
  lastProbeMs: number;
  bucket: TokenBucket;
  /**
   * How the last WireGuard datagram from this peer that went up arrived: on a direct path (rxPath), or via
   * a relay (rxRelay, '' otherwise). Within one batch handed up, all of a peer's datagrams share one path
   * (the batch is split where it would change), so while the device handles one of them these name its path.
   */
  rxPath: PathState | null;
  rxRelay: string;
  /** The batch (rxBatch of the bind) in which rxPath/rxRelay were last set. */
  rxBatch: number;
}

export interface MagicBindOptions {
  inner: UdpBind;
  nodePrivate: Uint8Array;
  nodePublic: Uint8Array;
  disco?: DiscoBox;
  probeIntervalMs?: number;
  /** Disco ping interval on an idle peer's direct path (default DEFAULT_KEEPALIVE_INTERVAL_MS). */
  keepaliveIntervalMs?: number;
  /** A peer with no traffic for this long is idle (default ACTIVE_WINDOW_MS). */
  activeWindowMs?: number;
  now?: () => number;
  wallNow?: () => number;
  log?: (msg: string) => void;
}

export interface PeerPath {
  /** Direct `ip:port` in use, or '' when relayed. */
  curAddr: string;
  /** A direct path disco confirmed is in use (false: the relay, or with no relay the unconfirmed first candidate). */
  direct: boolean;
  /** Relay name when relayed (or the peer's home relay for reference), else ''. */
  relay: string;
  latencyMs: number | null;
  /** How the last WireGuard datagram from the peer arrived: a direct `ip:port`, `relay:NAME`, or ''. */
  lastRx: string;
}

/** The path one received datagram took: a direct `ip:port`, or a relay's name. */
export interface RxPath {
  endpoint: string;
  relay: string;
}

export class MagicBind implements UdpBind, IoCounterSource {
  readonly disco: DiscoBox;
  readonly stats = {
    wgRelayQueued: 0,
    wgDirect: 0,
    wgRelayed: 0,
    wgFallback: 0,
    discoPingsSent: 0,
    discoPongsSent: 0,
    discoPingsRx: 0,
    discoPongsRx: 0,
    drop_disco_unknown_sender: 0,
    drop_disco_unsealed: 0,
    drop_disco_replay: 0,
    drop_disco_rate: 0,
    drop_disco_bad_node_key: 0,
    drop_unknown_datagram: 0,
    drop_no_path: 0,
    stunResponses: 0,
  };
  private readonly inner: UdpBind;

  /** WireGuard datagrams sent by path (a direct path, a relay, the no-relay fallback) and those with no path. */
  ioCounters(): Record<string, number> {
    const s = this.stats;
    return { tx_direct: s.wgDirect, tx_relayed: s.wgRelayed, tx_fallback: s.wgFallback, tx_dropped: s.drop_no_path };
  }
  private readonly now: () => number;
  private readonly wallNow: () => number;
  private readonly probeIntervalMs: number;
  /** A direct path is trusted while its last pong is this recent (covers one keepalive interval)... */
  private readonly trustMs: number;
  /** ...and no ping on it has waited longer than this for its pong (a dead path lapses soon). */
  private readonly pongTimeoutMs: number;
  private readonly keepaliveMs: number;
  private readonly activeWindowMs: number;
  private onUp: ((b: DatagramBatch) => void) | null = null;
  private readonly out: DatagramBatch = { count: 0, bufs: new Array<Uint8Array>(MAX_BATCH), lens: new Uint32Array(MAX_BATCH), addrs: new Uint8Array(16 * MAX_BATCH), ports: new Uint16Array(MAX_BATCH) };
  private readonly peersByIndex = new Map<number, PeerState>();
  private readonly peersByKey = new Map<string, PeerState>();
  private readonly peersByDisco = new Map<string, PeerState>();
  /** Direct paths that answered a ping, by source address: their WireGuard datagrams go up as the peer's. */
  private readonly pathsByAddr = new Map<number | string, PathState>();
  /** Counts the batches handed up (see PeerState.rxBatch). */
  private rxBatch = 0;
  private nextIndex = 1;
  private readonly totalBucket: TokenBucket;
  private relays = new Map<string, RelayInfo>();
  private readonly relayClients = new Map<string, RelayClient>();
  private homeRelayName: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly stunWaiters = new Map<string, (addr16: Uint8Array, port: number) => void>();
  private readonly log: (msg: string) => void;

  constructor(private readonly opts: MagicBindOptions) {
    opts = this.opts = { ...opts };
    this.inner = opts.inner;
    this.disco = opts.disco ?? new DiscoBox();
    this.now = opts.now ?? (() => performance.now());
    this.wallNow = opts.wallNow ?? Date.now;
    this.probeIntervalMs = opts.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
    this.keepaliveMs = opts.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_INTERVAL_MS;
    this.activeWindowMs = opts.activeWindowMs ?? ACTIVE_WINDOW_MS;
    this.pongTimeoutMs = 2 * this.probeIntervalMs + 1000;
    this.trustMs = Math.max(3 * this.probeIntervalMs, this.keepaliveMs + this.pongTimeoutMs) + 1000;
    this.totalBucket = new TokenBucket(DISCO_TOTAL_RATE, DISCO_TOTAL_BURST, this.now());
    this.log = opts.log ?? (() => {});
  }

  get port(): number {
    return this.inner.port;
  }

  start(onDatagrams: (batch: DatagramBatch) => void): void {
    this.onUp = onDatagrams;
    this.inner.start(this.onInner);
    this.timer = setInterval(() => this.tick(), Math.max(200, Math.min(1000, this.probeIntervalMs / 2)));
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const c of this.relayClients.values()) c.close();
    this.relayClients.clear();
    await this.inner.close();
  }

  // ------------------------------------------------------------ configuration

  /** The relays of the netmap's relay map (name → URL) and which one is ours. */
  setRelays(relays: RelayInfo[], home: string | null): void {
    this.relays = new Map(relays.map((r) => [r.name, r]));
    for (const [name, c] of this.relayClients) {
      const r = this.relays.get(name);
      if (!r || r.url !== c.url || !keysEqual(r.publicKey, c.relayKey)) {
        c.close();
        this.relayClients.delete(name);
      }
    }
    this.homeRelayName = home !== null && this.relays.has(home) ? home : null;
    // Connected to every relay of the (small) map, so a packet for a peer whose home relay is another
    // one goes out at once, and peers that reach us through any relay are heard.
    for (const name of this.relays.keys()) this.relayClient(name);
  }

  get homeRelay(): string | null {
    return this.homeRelayName;
  }

  relayConnected(name: string): boolean {
    return this.relayClients.get(name)?.connected ?? false;
  }

  /** Why the relay was refused for its key (RelayAuthError's message), or null. */
  relayAuthError(name: string): string | null {
    return this.relayClients.get(name)?.lastAuthError?.message ?? null;
  }

  /** Adds or updates a peer; returns its virtual endpoint (`[100::N]:9`) for the WireGuard device. */
  upsertPeer(p: MagicPeer): string {
    const keyText = NodePublic.text(p.nodeKey);
    let st = this.peersByKey.get(keyText);
    if (!st) {
      st = {
        index: this.nextIndex++,
        nodeKey: Uint8Array.from(p.nodeKey),
        nodeKeyText: keyText,
        discoKey: null,
        discoHex: '',
        homeRelay: null,
        candidates: [],
        paths: new Map(),
        best: null,
        relayLatencyMs: NaN,
        pending: new Map(),
        seen: new Map(),
        lastSendMs: -Infinity,
        lastProbeMs: -Infinity,
        bucket: new TokenBucket(DISCO_PEER_RATE, DISCO_PEER_BURST, this.now()),
        rxPath: null,
        rxRelay: '',
        rxBatch: -1,
      };
      this.peersByIndex.set(st.index, st);
      this.peersByKey.set(keyText, st);
    }
    const discoHex = p.discoKey ? Buffer.from(p.discoKey).toString('hex') : '';
    if (discoHex !== st.discoHex) {
      if (st.discoHex) this.peersByDisco.delete(st.discoHex);
      if (st.discoKey) this.disco.forget(st.discoKey);
      st.discoHex = discoHex;
      st.discoKey = p.discoKey ? Uint8Array.from(p.discoKey) : null;
      if (discoHex) this.peersByDisco.set(discoHex, st);
      st.pending.clear();
      st.seen.clear();
    }
    st.homeRelay = p.homeRelay;
    st.candidates = [];
    for (const e of p.endpoints) {
      try {
        st.candidates.push(parseEndpoint(e));
      } catch {
        // netmap-sanitize drops these; ignore the rest
      }
    }
    const known = st.paths.size;
    for (const c of st.candidates) this.pathFor(st, c.addr16, 0, c.port);
    // A new candidate (the peer roamed) of a peer we use or just used directly: probe it now, not at the
    // next round (an idle peer has none), so the path returns to direct within seconds.
    if (st.paths.size > known && this.wantsDirect(st, this.now())) this.probe(st, this.now());
    return virtualEndpoint(st.index);
  }

  /**
   * The virtual endpoint of a peer (created with `preferred` as its only candidate if unknown), with
   * `preferred` (the data plane's pick of a directly reachable endpoint) moved to the front of its
   * candidates: the no-relay fallback.
   */
  virtualFor(nodeKey: Uint8Array, preferred: string | null): string {
    let st = this.peersByKey.get(NodePublic.text(nodeKey));
    if (!st) {
      this.upsertPeer({ nodeKey, discoKey: null, homeRelay: null, endpoints: preferred ? [preferred] : [] });
      st = this.peersByKey.get(NodePublic.text(nodeKey)) as PeerState;
    } else if (preferred) {
      try {
        const e = parseEndpoint(preferred);
        const id = formatEndpoint(e.addr16, e.port);
        st.candidates = [e, ...st.candidates.filter((c) => formatEndpoint(c.addr16, c.port) !== id)];
        this.pathFor(st, e.addr16, 0, e.port);
      } catch {
        // not an endpoint: keep the candidates as they are
      }
    }
    return virtualEndpoint(st.index);
  }

  /** The host's addresses changed: reconnect relays (their TCP source may be gone) and re-probe every peer. */
  networkChanged(): void {
    for (const c of this.relayClients.values()) c.close();
    this.relayClients.clear();
    for (const name of this.relays.keys()) this.relayClient(name);
    const now = this.now();
    for (const st of this.peersByIndex.values()) if (this.wantsDirect(st, now)) this.probe(st, now);
  }

  /** Worth probing outside the regular rounds: active, or direct (disco confirmed a path) lately. */
  private wantsDirect(st: PeerState, now: number): boolean {
    if (now - st.lastSendMs <= this.activeWindowMs || st.best !== null) return true;
    for (const p of st.paths.values()) if (now - p.lastPongMs <= RECENTLY_DIRECT_MS) return true;
    return false;
  }

  /** A new node key (logout): relays must see the new key. */
  setNodeKey(nodePrivate: Uint8Array, nodePublic: Uint8Array): void {
    this.opts.nodePrivate = nodePrivate;
    this.opts.nodePublic = nodePublic;
    for (const c of this.relayClients.values()) c.close();
    this.relayClients.clear();
    for (const name of this.relays.keys()) this.relayClient(name);
  }

  removePeer(nodeKey: Uint8Array): void {
    const st = this.peersByKey.get(NodePublic.text(nodeKey));
    if (!st) return;
    this.peersByKey.delete(st.nodeKeyText);
    this.peersByIndex.delete(st.index);
    if (st.discoHex) this.peersByDisco.delete(st.discoHex);
    if (st.discoKey) this.disco.forget(st.discoKey);
    for (const p of st.paths.values()) if (this.pathsByAddr.get(p.addrKey) === p) this.pathsByAddr.delete(p.addrKey);
  }

  /** The path to a peer (status); null for an unknown peer. */
  peerPath(nodeKey: Uint8Array | string): PeerPath | null {
    const st = this.peersByKey.get(typeof nodeKey === 'string' ? nodeKey : NodePublic.text(nodeKey));
    if (!st) return null;
    const best = this.currentBest(st);
    const lastRx = st.rxRelay ? `relay:${st.rxRelay}` : (st.rxPath?.id ?? '');
    if (best) return { curAddr: best.id, direct: true, relay: '', latencyMs: best.latencyMs, lastRx };
    const relay = this.relayNameFor(st) ?? '';
    // Without a relay, sends go to the first candidate (send()): that is the direct path in use.
    const fallback = relay === '' && st.candidates[0] ? formatEndpoint(st.candidates[0].addr16, st.candidates[0].port) : '';
    return { curAddr: fallback, direct: false, relay, latencyMs: Number.isNaN(st.relayLatencyMs) ? null : st.relayLatencyMs, lastRx };
  }

  /**
   * The path of a WireGuard datagram the device just received (called while the device handles it, e.g.
   * from its packet hook), given its source as the device saw it: a peer's virtual endpoint (then the path
   * this bind recorded for the peer's datagrams of the current batch) or a real address (a datagram from an
   * address disco never confirmed, handed up unchanged). Null for a virtual endpoint with no record.
   */
  pathOfSource(addr16: Uint8Array, port: number): RxPath | null {
    const index = virtualIndex(addr16, port);
    if (index < 0) return { endpoint: formatEndpoint(addr16, port), relay: '' };
    const st = this.peersByIndex.get(index);
    if (!st) return null;
    if (st.rxRelay !== '') return { endpoint: '', relay: st.rxRelay };
    return st.rxPath ? { endpoint: st.rxPath.id, relay: '' } : null;
  }

  /** Probes a peer's paths now (tests, `agent ping`). */
  probeNow(nodeKey: Uint8Array | string): void {
    const st = this.peersByKey.get(typeof nodeKey === 'string' ? nodeKey : NodePublic.text(nodeKey));
    if (st) this.probe(st, this.now());
  }

  // ------------------------------------------------------------ STUN

  /** Sends a Binding request from this socket; resolves with the reflexive address or rejects on timeout. */
  stun(addr16: Uint8Array, port: number, timeoutMs = 2000): Promise<{ addr16: Uint8Array; port: number }> {
    const txid = this.disco.randomTxid();
    const id = Buffer.from(txid).toString('hex');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.stunWaiters.delete(id);
        reject(new Error(`no STUN answer from ${formatEndpoint(addr16, port)}`));
      }, timeoutMs);
      this.stunWaiters.set(id, (a, p) => {
        clearTimeout(timer);
        resolve({ addr16: a, port: p });
      });
      const req = encodeBindingRequest(txid);
      this.inner.send(req, 0, req.length, addr16, port);
    });
  }

  // ------------------------------------------------------------ send path

  send(buf: Uint8Array, off: number, len: number, addr16: Uint8Array, port: number): void {
    const index = virtualIndex(addr16, port);
    if (index < 0) {
      this.inner.send(buf, off, len, addr16, port);
      return;
    }
    const st = this.peersByIndex.get(index);
    if (!st) {
      this.stats.drop_no_path++;
      return;
    }
    const now = this.now();
    st.lastSendMs = now;
    const best = this.currentBest(st);
    if (best) {
      this.stats.wgDirect++;
      this.inner.send(buf, off, len, best.addr16, best.port);
      return;
    }
    // A peer with neither a disco key nor a home relay is plain WireGuard (wireguard-go, the kernel's):
    // it answers no probes and is on no relay, so the endpoint control lists is its only path.
    const plain = st.discoKey === null && st.homeRelay === null;
    if (now - st.lastProbeMs >= 1000 && st.discoKey) this.probe(st, now);
    if (!plain && this.sendViaRelay(st, buf, off, len)) {
      this.stats.wgRelayed++;
      return;
    }
    const c = st.candidates[0];
    if (c) {
      this.stats.wgFallback++;
      this.inner.send(buf, off, len, c.addr16, c.port);
      return;
    }
    this.stats.drop_no_path++;
  }

  private currentBest(st: PeerState): PathState | null {
    const b = st.best;
    if (b && !isTrusted(b, this.now(), this.trustMs, this.pongTimeoutMs)) {
      this.log(`${st.nodeKeyText.slice(0, 16)}: direct path ${b.id} lapsed`);
      st.best = null;
      this.reselect(st);
    }
    return st.best;
  }

  private relayNameFor(st: PeerState): string | null {
    if (st.homeRelay && this.relays.has(st.homeRelay)) return st.homeRelay;
    return this.homeRelayName;
  }

  private relayClient(name: string): RelayClient | null {
    let c = this.relayClients.get(name);
    if (c) return c;
    const r = this.relays.get(name);
    if (!r) return null;
    c = new RelayClient({
      url: r.url,
      nodePrivate: this.opts.nodePrivate,
      nodePublic: this.opts.nodePublic,
      relayKey: r.publicKey,
      onPacket: (src, buf, len) => this.onRelayPacket(name, src, buf, len),
      onState: (up, err) => this.log(`relay ${name}: ${up ? 'connected' : `disconnected (${err ?? ''})`}`),
    });
    this.relayClients.set(name, c);
    c.start();
    return c;
  }

  /** Via the peer's home relay; while that connection is not up, via any connected relay (we all connect to every relay). */
  private sendViaRelay(st: PeerState, buf: Uint8Array, off: number, len: number): boolean {
    const name = this.relayNameFor(st);
    if (name === null) return false;
    const c = this.relayClient(name);
    if (c !== null && c.connected) return c.send(st.nodeKey, buf, off, len);
    for (const other of this.relayClients.values()) if (other.connected) return other.send(st.nodeKey, buf, off, len);
    // No relay is up yet (a node that just started): the home relay sends it once connected; the caller
    // still tries the direct candidate, so whichever path works first carries it.
    if (c !== null && c.queue(st.nodeKey, buf, off, len)) this.stats.wgRelayQueued++;
    return false;
  }

  // ------------------------------------------------------------ receive path

  private readonly onInner = (batch: DatagramBatch): void => {
    const out = this.out;
    let n = 0;
    for (let i = 0; i < batch.count; i++) {
      const b = batch.bufs[i];
      const len = batch.lens[i];
      if (len >= 4 && b[0] >= 1 && b[0] <= 4 && b[1] === 0 && b[2] === 0 && b[3] === 0) {
        const path = this.pathsByAddr.get(addrKeyOf(batch.addrs, 16 * i, batch.ports[i]));
        const st = path?.owner;
        // Full, or this peer already has a datagram in the batch that came another way: hand up what we have.
        if (n === MAX_BATCH || (st !== undefined && st.rxBatch === this.rxBatch && st.rxPath !== path)) {
          this.handUp(n);
          n = 0;
        }
        out.bufs[n] = b;
        out.lens[n] = len;
        if (st !== undefined && path !== undefined) {
          writeVirtual(out.addrs, 16 * n, st.index);
          out.ports[n] = VIRTUAL_PORT;
          st.rxPath = path;
          st.rxRelay = '';
          st.rxBatch = this.rxBatch;
        } else {
          for (let k = 0; k < 16; k++) out.addrs[16 * n + k] = batch.addrs[16 * i + k];
          out.ports[n] = batch.ports[i];
        }
        n++;
      } else if (isDiscoMessage(b, len)) {
        this.onDisco(b, len, batch.addrs.slice(16 * i, 16 * i + 16), batch.ports[i], null);
      } else if (isStunMessage(b, len)) {
        this.onStun(b, len);
      } else this.stats.drop_unknown_datagram++;
    }
    if (n > 0) this.handUp(n);
  };

  /** The first n datagrams of `out` to the device; the next batch starts. */
  private handUp(n: number): void {
    this.out.count = n;
    this.rxBatch++;
    this.onUp?.(this.out);
  }

  private onRelayPacket(relay: string, src: Uint8Array, buf: Uint8Array, len: number): void {
    const st = this.peersByKey.get(NodePublic.text(src));
    if (!st) {
      this.stats.drop_unknown_datagram++;
      return;
    }
    if (len >= 4 && buf[0] >= 1 && buf[0] <= 4 && buf[1] === 0 && buf[2] === 0 && buf[3] === 0) {
      const out = this.out;
      out.bufs[0] = buf;
      out.lens[0] = len;
      writeVirtual(out.addrs, 0, st.index);
      out.ports[0] = VIRTUAL_PORT;
      st.rxPath = null;
      st.rxRelay = relay;
      this.handUp(1);
    } else if (isDiscoMessage(buf, len)) {
      this.onDisco(buf, len, null, 0, relay, st);
    } else this.stats.drop_unknown_datagram++;
  }

  private onStun(b: Uint8Array, len: number): void {
    const m = parseBindingSuccess(b, len);
    if (!m) return;
    const id = Buffer.from(m.txid).toString('hex');
    const w = this.stunWaiters.get(id);
    if (!w) return;
    this.stunWaiters.delete(id);
    this.stats.stunResponses++;
    w(m.addr16, m.port);
  }

  // ------------------------------------------------------------ disco

  private onDisco(b: Uint8Array, len: number, addr16: Uint8Array | null, port: number, relay: string | null, relayPeer?: PeerState): void {
    const now = this.now();
    const st = this.peersByDisco.get(Buffer.from(discoSender(b)).toString('hex'));
    if (!st || (relayPeer !== undefined && relayPeer !== st)) {
      this.stats.drop_disco_unknown_sender++;
      return;
    }
    if (!st.bucket.take(now) || !this.totalBucket.take(now)) {
      this.stats.drop_disco_rate++;
      return;
    }
    const m = this.disco.open(b, len);
    if (!m) {
      this.stats.drop_disco_unsealed++;
      return;
    }
    if (m.type === DISCO_PING) this.onPing(st, m, addr16, port, relay, now);
    else this.onPong(st, m, relay, now);
  }

  private onPing(st: PeerState, m: Extract<DiscoMessage, { type: 1 }>, addr16: Uint8Array | null, port: number, relay: string | null, now: number): void {
    if (Buffer.compare(m.nodeKey, st.nodeKey) !== 0) {
      this.stats.drop_disco_bad_node_key++;
      return;
    }
    const id = Buffer.from(m.txid).toString('hex');
    if (Math.abs(this.wallNow() - m.sentAtMs) > DISCO_PING_MAX_AGE_MS || st.seen.has(id)) {
      this.stats.drop_disco_replay++;
      return;
    }
    const wall = this.wallNow();
    for (const [k, t] of st.seen) if (wall - t > 2 * DISCO_PING_MAX_AGE_MS || st.seen.size >= MAX_SEEN_TXIDS) st.seen.delete(k);
    st.seen.set(id, m.sentAtMs);
    this.stats.discoPingsRx++;
    const src = addr16 ?? new Uint8Array(16);
    const pong = this.disco.seal(st.discoKey as Uint8Array, { type: DISCO_PONG, txid: m.txid, addr16: src, port });
    if (!pong) return;
    this.stats.discoPongsSent++;
    if (addr16 !== null) {
      this.inner.send(pong, 0, pong.length, addr16, port);
      // The peer reached us from here: a candidate (it may be a NAT mapping that is open only now).
      const p = this.pathFor(st, addr16, 0, port);
      // On the direct path we use already (the peer's keepalive or probe): the pong refreshes the mappings;
      // pinging back, or probing every candidate, would only double the keepalive traffic.
      if (p !== null && p === this.currentBest(st)) return;
      // Our own ping on this path still unanswered means it most likely died at the peer's NAT before the
      // peer's ping (this one) opened the mapping: ping again now rather than at the next probe round
      // (hole punching; bench:relay's direct upgrade waited a whole probe interval for it). Once a pong
      // answers, this stops, so two peers cannot keep pinging each other back.
      if (p && (now - p.lastPingMs > 1000 || p.unansweredSinceMs >= 0)) this.sendPing(st, p, now);
    } else this.sendViaRelay(st, pong, 0, pong.length);
    // Both sides probe at once: answer a peer's probing with our own if we have not lately.
    if (now - st.lastProbeMs > 1000) this.probe(st, now);
  }

  private onPong(st: PeerState, m: Extract<DiscoMessage, { type: 2 }>, relay: string | null, now: number): void {
    const id = Buffer.from(m.txid).toString('hex');
    const pend = st.pending.get(id);
    if (!pend || (pend.path === null) !== (relay !== null)) {
      this.stats.drop_disco_replay++;
      return;
    }
    st.pending.delete(id);
    this.stats.discoPongsRx++;
    const rtt = now - pend.sentMs;
    if (pend.path === null) {
      st.relayLatencyMs = rtt;
      return;
    }
    const p = pend.path;
    p.latencyMs = Number.isFinite(p.latencyMs) ? 0.5 * p.latencyMs + 0.5 * rtt : rtt;
    p.lastPongMs = now;
    p.unansweredSinceMs = -1;
    this.pathsByAddr.set(p.addrKey, p);
    this.reselect(st);
  }

  private reselect(st: PeerState): void {
    const before = st.best;
    const id = selectPath([...st.paths.values()], before?.id ?? null, this.now(), this.trustMs, this.pongTimeoutMs);
    st.best = id === null ? null : (st.paths.get(id) ?? null);
    if (st.best !== before) this.log(`${st.nodeKeyText.slice(0, 16)}: path ${before?.id ?? 'relay'} -> ${st.best?.id ?? 'relay'}`);
  }

  private pathFor(st: PeerState, addr16: Uint8Array, off: number, port: number): PathState | null {
    if (port === 0) return null;
    const id = formatEndpoint(addr16, port, off);
    let p = st.paths.get(id);
    if (!p) {
      if (st.paths.size >= MAX_PATHS_PER_PEER) {
        // Forget the stalest untrusted path.
        let worst: PathState | null = null;
        for (const q of st.paths.values()) if (q !== st.best && (worst === null || q.lastPongMs < worst.lastPongMs)) worst = q;
        if (!worst) return null;
        st.paths.delete(worst.id);
        if (this.pathsByAddr.get(worst.addrKey) === worst) this.pathsByAddr.delete(worst.addrKey);
      }
      const a = Uint8Array.from(addr16.subarray(off, off + 16));
      p = { id, addr16: a, port, addrKey: addrKeyOf(a, 0, port), latencyMs: NaN, lastPongMs: -Infinity, lastPingMs: -Infinity, unansweredSinceMs: -1, owner: st };
      st.paths.set(id, p);
    }
    return p;
  }

  private sendPing(st: PeerState, path: PathState | null, now: number): void {
    if (!st.discoKey) return;
    const txid = this.disco.randomTxid();
    const msg = this.disco.seal(st.discoKey, { type: DISCO_PING, txid, sentAtMs: this.wallNow(), nodeKey: this.opts.nodePublic });
    if (!msg) return;
    if (st.pending.size >= MAX_PENDING_PINGS) {
      for (const [k, v] of st.pending) if (now - v.sentMs > 5000 || st.pending.size >= MAX_PENDING_PINGS) st.pending.delete(k);
    }
    st.pending.set(Buffer.from(txid).toString('hex'), { path, sentMs: now });
    this.stats.discoPingsSent++;
    if (path) {
      path.lastPingMs = now;
      if (path.unansweredSinceMs < 0) path.unansweredSinceMs = now;
      this.inner.send(msg, 0, msg.length, path.addr16, path.port);
    } else this.sendViaRelay(st, msg, 0, msg.length);
  }

  /** Pings every known path of a peer and once via its relay. */
  private probe(st: PeerState, now: number): void {
    if (!st.discoKey) return;
    st.lastProbeMs = now;
    for (const p of st.paths.values()) this.sendPing(st, p, now);
    this.sendPing(st, null, now);
  }

  private tick(): void {
    const now = this.now();
    for (const st of this.peersByIndex.values()) {
      const best = this.currentBest(st);
      if (now - st.lastSendMs <= this.activeWindowMs) {
        if (now - st.lastProbeMs >= this.probeIntervalMs) this.probe(st, now);
      } else if (best !== null) this.keepalive(st, best, now);
    }
  }

  /**
   * An idle peer: one ping on its confirmed direct path per keepalive interval (nothing to other
   * candidates or via the relay), so the NAT mappings on both sides stay open. An unanswered keepalive is
   * retried a few times within the pong timeout before the path lapses, so one lost datagram does not
   * send the peer's next packet through the relay.
   */
  private keepalive(st: PeerState, best: PathState, now: number): void {
    const since = now - best.lastPingMs;
    if (since >= this.keepaliveMs || (best.unansweredSinceMs >= 0 && since >= this.pongTimeoutMs / 3)) this.sendPing(st, best, now);
  }
}
