// An embedded tailnet node: an app that is itself a node (as Tailscale's tsnet does), with its own keys,
// tailnet address and policy, and no agent daemon, TUN or root. Connections reach it through a userspace
// netstack; every inbound packet passes the same filter as on a TUN-mode agent, so grants, explain,
// metrics and revocation behave the same. Several nodes can live in one process.
//
//   const node = new Node({ dir, hostname: 'tailsql', authKey, controlURL, tags: ['tag:tailsql'] });
//   await node.up();
//   const srv = node.listen('tcp', 443);           // net.Server-like; sockets carry the peer's address
//   srv.on('connection', (s) => httpServer.emit('connection', s));
//   const who = await node.whois(socket);          // the LocalAPI's WhoIs shape, capabilities included
//   const db = await node.dial('tcp', 'prod:5432');
//   await node.close();
//
// This file is light (the package root exports it): up() loads the runtime (WireGuard, control client,
// netstack) on first use.
import type { Socket } from 'node:net';
import type { HostAddress } from '../agent/dataplane.js';
import type { NetstackDevice } from '../agent/netstack-device.js';
import { parseConnectTarget } from '../agent/proxy/http-proxy-wire.js';
import type { Dialer } from '../agent/proxy/dialer.js';
import { parseWhoisAddr } from '../localapi/whois.js';
import type { ExplainQuery, ExplainResponse, StatusResponse, WhoIsResponse } from '../localapi/types.js';
import type { TcpSocket } from '../netstack/index.js';
import { GrantwireError, PeerNotFoundError } from '../types/errors.js';
import { NodeListener, NodeUdpSocket } from './listener.js';
import type { NodeRuntime } from './runtime.js';

export interface NodeOptions {
  /** State directory (keys, login); created 0700 if missing. Reusing it resumes the same node. */
  dir: string;
  hostname: string;
  /** Needed for the first login only; a registered state dir logs in without it. */
  authKey?: string;
  controlURL: string;
  /** Tags to request (the auth key or the policy must permit them). */
  tags?: string[];
  /** WireGuard UDP port on the host; default 0 (any free port). */
  port?: number;
  /** How long up() waits for the first network map; default 30 s. */
  upTimeoutMs?: number;
  /** Host addresses to advertise as endpoints (default: the host's interfaces). Tests use loopback. */
  hostAddresses?: () => HostAddress[];
  /** Accept a state dir others can read (see the agent's --insecure-state-perms). */
  insecureStatePerms?: boolean;
}

/** Something with a peer address: a socket from listen(), a net.Socket, or `ip:port` text. */
export type PeerRef = Pick<Socket, 'remoteAddress' | 'remotePort'> | string;

export class Node {
  private runtime: NodeRuntime | null = null;
  private device: NetstackDevice | null = null;
  private starting: Promise<void> | null = null;
  private readonly listeners = new Set<NodeListener | NodeUdpSocket>();
  private closed = false;

  constructor(readonly options: NodeOptions) {
    if (!options || typeof options.dir !== 'string' || options.dir === '') throw new GrantwireError('ERR_NODE_ARGUMENT', 'new Node(): `dir` (a state directory) is required');
    if (typeof options.hostname !== 'string' || options.hostname === '') throw new GrantwireError('ERR_NODE_ARGUMENT', 'new Node(): `hostname` is required');
    if (typeof options.controlURL !== 'string' || !/^https?:\/\//.test(options.controlURL)) throw new GrantwireError('ERR_NODE_ARGUMENT', `new Node(): controlURL must be an http(s) URL, got ${JSON.stringify(options.controlURL)}`);
  }

  /** Logs in (first time: with authKey) and waits until the node has its network map and addresses. */
  up(): Promise<void> {
    if (this.closed) return Promise.reject(new GrantwireError('ERR_NODE_CLOSED', 'the node is closed'));
    this.starting ??= this.start().catch((err: unknown) => {
      this.starting = null;
      throw err;
    });
    return this.starting;
  }

  private async start(): Promise<void> {
    const [{ NetstackDevice }, { startRuntime }] = await Promise.all([import('../agent/netstack-device.js'), import('./runtime.js')]);
    const device = (this.device ??= new NetstackDevice({ mtu: 1280 }));
    for (const l of this.listeners) l.bindTo(device);
    const o = this.options;
    this.runtime = await startRuntime(
      { dir: o.dir, hostname: o.hostname, authKey: o.authKey, controlURL: o.controlURL, tags: o.tags, port: o.port, upTimeoutMs: o.upTimeoutMs, hostAddresses: o.hostAddresses, insecureStatePerms: o.insecureStatePerms },
      device,
    );
    if (this.closed) await this.runtime.close();
  }

  private need(): NodeRuntime {
    if (!this.runtime) throw new GrantwireError('ERR_NODE_NOT_UP', this.closed ? 'the node is closed' : 'the node is not up: await node.up() first');
    return this.runtime;
  }

  /** The node's tailnet addresses (IPv4 first); empty before up(). */
  get addresses(): string[] {
    return this.runtime ? this.runtime.backend.status({ peers: false }).TailscaleIPs : [];
  }

  /** Listens on the node's tailnet addresses; may be called before up(). */
  listen(network: 'tcp', port: number): NodeListener {
    if (network !== 'tcp') throw new GrantwireError('ERR_NODE_ARGUMENT', `listen: network ${JSON.stringify(network)} is not supported (use 'tcp'; listenPacket for 'udp')`);
    checkPort(port, 'listen');
    const l = new NodeListener(port);
    this.adopt(l);
    return l;
  }

  /** A UDP socket on the node's tailnet addresses; may be called before up(). */
  listenPacket(network: 'udp', port: number): NodeUdpSocket {
    if (network !== 'udp') throw new GrantwireError('ERR_NODE_ARGUMENT', `listenPacket: network ${JSON.stringify(network)} is not supported (use 'udp')`);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new GrantwireError('ERR_NODE_ARGUMENT', `listenPacket: port ${port} is not 0-65535`);
    const u = new NodeUdpSocket(port);
    this.adopt(u);
    return u;
  }

  private adopt(l: NodeListener | NodeUdpSocket): void {
    this.listeners.add(l);
    l.once('close', () => this.listeners.delete(l));
    if (this.device) l.bindTo(this.device);
  }

  /** Connects through the tailnet to `host:port` (a peer's name, MagicDNS name or address). */
  dial(network: 'tcp', address: string): Promise<TcpSocket> {
    if (network !== 'tcp') return Promise.reject(new GrantwireError('ERR_NODE_ARGUMENT', `dial: network ${JSON.stringify(network)} is not supported (use 'tcp')`));
    const t = parseConnectTarget(address);
    if (!t) return Promise.reject(new GrantwireError('ERR_NODE_ARGUMENT', `dial: ${JSON.stringify(address)} is not HOST:PORT`));
    let rt: NodeRuntime;
    try {
      rt = this.need();
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return rt.dialer.dialTcp(t.host, t.port);
  }

  /** The Dialer (TCP, UDP, names) for the SOCKS5/HTTP proxies or your own use. */
  get dialer(): Dialer {
    return this.need().dialer;
  }

  /** Who is on the other end of `peer`, with the capabilities the policy grants it toward this node. */
  async whois(peer: PeerRef): Promise<WhoIsResponse> {
    const text = typeof peer === 'string' ? peer : addrText(peer.remoteAddress, peer.remotePort);
    const addr = parseWhoisAddr(text);
    if (!addr) throw new GrantwireError('ERR_NODE_ARGUMENT', `whois: ${JSON.stringify(text)} is not IP, IP:PORT or nodekey:HEX`);
    const who = this.need().backend.whois(addr);
    if (!who) throw new PeerNotFoundError(`no match for IP:port ${text}`);
    return who;
  }

  status(): StatusResponse {
    return this.need().backend.status({ peers: true });
  }

  /** Why a packet would be accepted or dropped by this node's filter (as `agent explain`). */
  explain(q: ExplainQuery): ExplainResponse {
    return this.need().backend.explain(q);
  }

  /** Prometheus text of this node's counters (as the LocalAPI's metrics). */
  metrics(): string {
    return this.need().backend.metrics();
  }

  /** Round-trip time in ms of one ICMP echo to a peer's address. */
  ping(ip: string, timeoutMs = 5000): Promise<number> {
    return this.need().dataplane.ping(ip, timeoutMs).then((r) => r.rttMs);
  }

  /**
   * Leaves the tailnet and frees everything: listeners and UDP sockets close, and open TCP sockets (accepted
   * or dialed) are destroyed — each emits 'close' and no 'error', so none needs an error listener for
   * this; a write still pending gets its callback's error, as on any destroyed stream. Their peers get a RST.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const l of [...this.listeners]) l.close();
    await this.starting?.catch(() => undefined);
    // Open sockets end first, with a RST to their peers while the tunnel still carries it; they emit
    // 'close' and no 'error' (nothing failed: the owner closed the node).
    this.device?.closeStack();
    const rt = this.runtime;
    this.runtime = null;
    await rt?.close();
  }
}

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new GrantwireError('ERR_NODE_ARGUMENT', `${what}: port ${port} is not 1-65535`);
}

function addrText(ip: string | undefined, port: number | undefined): string {
  const a = ip ?? '';
  return a.includes(':') ? `[${a}]:${port ?? 0}` : `${a}:${port ?? 0}`;
}
