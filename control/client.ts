// The agent's side of the control protocol: learn control's key (GET /key), open the Noise channel
// (POST /noise, HTTP Upgrade), and register, stream the netmap, or log out. agent/ uses this as is.
//
//   const c = new ControlClient({ serverUrl, machinePrivateKey, nodePrivateKey, logger? });
//   const { node } = await c.register({ authKey, hostname, hostinfo: { os: 'linux' }, requestTags });
//   await c.streamMap({ endpoints, hostinfo }, (nm) => apply(nm), abortSignal);  // until aborted
//   c.updateEndpoints([...]);  c.updateHostinfo({...});  await c.logout();
//
// serverUrl may be http:// or https:// (control run with --tls-cert/--tls-key); the Noise channel inside
// is authenticated and encrypted either way, TLS adds confidentiality for the admin API on the same port.
//
// Control sends a full netmap and then deltas; streamMap applies them and always hands onNetmap a complete
// Netmap (a new object each time). register/logout throw ControlError whose message is control's reason (e.g. `requested tags [tag:x] are
// invalid or not permitted`). streamMap reconnects with backoff after network failures and returns when
// the signal aborts; it throws ControlError when control says the node can no longer stream (deleted,
// key expired, logged out): the agent must register again.
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Agent, fetch as undiciFetch } from 'undici';
import type { Socket } from 'node:net';
import { ControlBadServerError, ControlBadUrlError, ControlConnectionError, ControlError, ControlRefusedError } from '../types/errors.js';
import type { Hostinfo, Netmap, NetmapNode } from '../types/netmap.js';
import { MachinePrivate, NodePrivate, NodePublic, keyFromHex, type MachinePublic as MachinePublicKey, type NodePublic as NodePublicKey } from '../crypto/key.js';
import { openChannel, type NoiseChannel } from './channel.js';
import type { Logger } from './logger.js';
import { applyDelta } from './netmap-diff.js';
import { proveNodeKey } from './node-key-proof.js';
import { NOISE_PATH, NOISE_UPGRADE, parseServerMessage, type ServerMessage } from './protocol.js';

// The errors this client throws, defined with the others in types/errors.ts: ControlError (any; control's
// or the client's `wireCode`) and its subclasses ControlRefusedError, ControlConnectionError,
// ControlBadServerError, ControlBadUrlError.
export { ControlBadServerError, ControlBadUrlError, ControlConnectionError, ControlError, ControlRefusedError } from '../types/errors.js';

/** Control's error codes (wireCode) after which streaming cannot succeed without registering again. */
const FATAL_STREAM_CODES = new Set(['unknown_node', 'node_key_expired', 'bad_node_key_proof', 'bad_request']);

export interface ControlClientOptions {
  serverUrl: string;
  /**
   * Control's Noise public key, if known (pinned, or saved from an earlier session). Without it the key is
   * fetched from GET /key over plain HTTP, which an active on-path attacker on FIRST contact could answer;
   * agents should save serverPublicKey() after registering and pass it back here (trust on first use).
   */
  controlPublicKey?: Uint8Array;
  machinePrivateKey: Uint8Array;
  nodePrivateKey: Uint8Array;
  logger?: Logger;
  /** Keep-alive interval to ask control for; the stream is presumed dead after 3 missed ones. */
  keepAliveMs?: number;
  connectTimeoutMs?: number;
  /**
   * PEM CA certificate(s) to trust for an https:// control (a self-signed control). Without it the system
   * roots plus NODE_EXTRA_CA_CERTS apply, which is how the agent daemon is pointed at a private CA.
   */
  tlsCa?: string | Buffer;
  /** Backoff bounds for streamMap reconnects. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export type ClientHostinfo = Omit<Hostinfo, 'hostname'> & { hostname?: string };

export interface RegisterOptions {
  authKey?: string;
  hostname: string;
  hostinfo: ClientHostinfo;
  requestTags?: string[];
}

export interface StreamOptions {
  endpoints: string[];
  hostinfo?: ClientHostinfo;
}

export class ControlClient {
  readonly machinePublicKey: MachinePublicKey;
  readonly nodePublicKey: NodePublicKey;
  /** `nodekey:<hex>`, as control and netmaps name this node. */
  readonly nodeKey: string;
  private serverKey: Uint8Array | null = null;
  private endpoints: string[] = [];
  private hostinfo: Hostinfo | null = null;
  private live: NoiseChannel | null = null;
  private readonly base: URL;

  constructor(private readonly opts: ControlClientOptions) {
    this.base = new URL(opts.serverUrl);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') {
      throw new ControlBadUrlError(`control URL must be http:// or https:// (the channel is Noise-encrypted either way): ${opts.serverUrl}`);
    }
    this.machinePublicKey = MachinePrivate.publicKey(opts.machinePrivateKey);
    this.nodePublicKey = NodePrivate.publicKey(opts.nodePrivateKey);
    this.nodeKey = NodePublic.text(this.nodePublicKey);
    this.serverKey = opts.controlPublicKey ?? null;
  }

  private dispatcher: Agent | null = null;
  private caDispatcher(): Agent {
    this.dispatcher ??= new Agent({ connect: { ca: this.opts.tlsCa } });
    return this.dispatcher;
  }

  /** Control's static Noise key (fetched once, then cached). */
  async serverPublicKey(): Promise<Uint8Array> {
    if (this.serverKey) return this.serverKey;
    const res = await undiciFetch(new URL('/key', this.base), {
      signal: AbortSignal.timeout(this.opts.connectTimeoutMs ?? 10_000),
      ...(this.opts.tlsCa !== undefined ? { dispatcher: this.caDispatcher() } : {}),
    });
    if (!res.ok) throw new ControlBadServerError(`GET /key: HTTP ${res.status}`);
    const body = (await res.json()) as { publicKey?: unknown };
    if (typeof body.publicKey !== 'string' || !/^[0-9a-f]{64}$/.test(body.publicKey)) throw new ControlBadServerError('GET /key: malformed key');
    this.serverKey = keyFromHex(body.publicKey);
    return this.serverKey;
  }

  async register(o: RegisterOptions): Promise<{ node: NetmapNode }> {
    const ch = await this.connect();
    const msg = await this.request(ch, {
      type: 'register',
      nodeKey: this.nodeKey,
      nodeKeyProof: this.proof(ch),
      authKey: o.authKey,
      hostname: o.hostname,
      hostinfo: { ...o.hostinfo, hostname: o.hostinfo.hostname ?? o.hostname },
      requestTags: o.requestTags ?? [],
    });
    if (msg.type !== 'registered') throw new ControlBadServerError(`unexpected reply ${msg.type}`);
    return { node: msg.node };
  }

  async logout(): Promise<void> {
    this.live?.close('logout');
    const ch = await this.connect();
    const msg = await this.request(ch, { type: 'logout', nodeKey: this.nodeKey, nodeKeyProof: this.proof(ch) });
    if (msg.type !== 'loggedout') throw new ControlBadServerError(`unexpected reply ${msg.type}`);
  }

  /** New endpoints; sent at once on a live stream, and with every reconnect. */
  updateEndpoints(endpoints: string[]): void {
    this.endpoints = [...endpoints];
    if (this.live && !this.live.isClosed) this.live.send(JSON.stringify({ type: 'update', endpoints: this.endpoints }));
  }

  /**
   * Drops the live map stream so that it reconnects at once (with the latest endpoints and hostinfo): after
   * a network change its TCP connection may be bound to an address the host no longer has, where updates
   * vanish and netmaps never arrive until the keep-alive watchdog notices.
   */
  reconnect(reason: string): void {
    if (this.live && !this.live.isClosed) this.live.close(reason);
  }

  /** New hostinfo (e.g. after an upgrade): feeds node:os / node:osVersion / node:tsVersion posture. */
  updateHostinfo(hostinfo: ClientHostinfo): void {
    this.hostinfo = { ...hostinfo, hostname: hostinfo.hostname ?? this.hostinfo?.hostname ?? '' };
    if (this.live && !this.live.isClosed) this.live.send(JSON.stringify({ type: 'update', hostinfo: this.hostinfo }));
  }

  /**
   * Streams netmaps to `onNetmap` until `signal` aborts (then resolves). Network failures reconnect with
   * exponential backoff (jittered); a fatal refusal from control rejects with ControlError.
   */
  async streamMap(o: StreamOptions, onNetmap: (nm: Netmap) => void, signal: AbortSignal): Promise<void> {
    this.endpoints = [...o.endpoints];
    if (o.hostinfo) this.hostinfo = { ...o.hostinfo, hostname: o.hostinfo.hostname ?? '' };
    const minB = this.opts.minBackoffMs ?? 250;
    const maxB = this.opts.maxBackoffMs ?? 30_000;
    let backoff = minB;
    while (!signal.aborted) {
      let gotMap = false;
      try {
        await this.streamOnce((nm) => {
          gotMap = true;
          onNetmap(nm);
        }, signal);
      } catch (err) {
        if (err instanceof ControlError && FATAL_STREAM_CODES.has(err.wireCode)) throw err;
        if (signal.aborted) break;
        this.opts.logger?.log('warn', 'map stream failed; reconnecting', { error: (err as Error).message, inMs: backoff });
      }
      if (signal.aborted) break;
      if (gotMap) backoff = minB;
      await sleep(backoff * (0.75 + Math.random() * 0.5), signal);
      backoff = Math.min(maxB, backoff * 2);
    }
  }

  private async streamOnce(onNetmap: (nm: Netmap) => void, signal: AbortSignal): Promise<void> {
    const ch = await this.connect();
    if (signal.aborted) {
      ch.close('aborted');
      return;
    }
    this.live = ch;
    const keepAliveMs = this.opts.keepAliveMs ?? 15_000;
    await new Promise<void>((resolve, reject) => {
      let watchdog: NodeJS.Timeout | null = null;
      const arm = (): void => {
        if (watchdog) clearTimeout(watchdog);
        watchdog = setTimeout(() => ch.close('keep-alive timeout'), keepAliveMs * 3);
        watchdog.unref();
      };
      const onAbort = (): void => ch.close('aborted');
      signal.addEventListener('abort', onAbort, { once: true });
      let failure: Error | null = null;
      let current: Netmap | null = null;
      ch.onClose((reason) => {
        if (watchdog) clearTimeout(watchdog);
        signal.removeEventListener('abort', onAbort);
        if (this.live === ch) this.live = null;
        if (signal.aborted) resolve();
        else reject(failure ?? new ControlConnectionError(`map stream closed: ${reason}`));
      });
      ch.onMessage((text) => {
        const msg = parseServerMessage(text);
        if (!msg) {
          failure = new ControlBadServerError('malformed message from control');
          ch.close('malformed');
          return;
        }
        arm();
        if (msg.type === 'netmap') {
          current = msg.netmap;
          onNetmap(current);
        } else if (msg.type === 'delta') {
          if (!current) {
            failure = new ControlBadServerError('delta before the first netmap');
            ch.close('protocol');
            return;
          }
          current = applyDelta(current, msg.delta);
          onNetmap(current);
        } else if (msg.type === 'error') {
          failure = new ControlRefusedError(msg.code, msg.message);
          ch.close(msg.code);
        }
      });
      arm();
      ch.send(JSON.stringify({ type: 'map', nodeKey: this.nodeKey, nodeKeyProof: this.proof(ch), endpoints: this.endpoints, hostinfo: this.hostinfo ?? undefined, keepAliveMs }));
    });
  }

  private proof(ch: NoiseChannel): string {
    return proveNodeKey(this.opts.nodePrivateKey, ch.remoteStatic, ch.handshakeHash, this.machinePublicKey);
  }

  /** Sends one request and waits for control's one reply; an `error` reply becomes a ControlError. */
  private request(ch: NoiseChannel, body: object): Promise<ServerMessage> {
    return new Promise((resolve, reject) => {
      let done = false;
      ch.onMessage((text) => {
        const msg = parseServerMessage(text);
        done = true;
        ch.close('done');
        if (!msg) reject(new ControlBadServerError('malformed reply from control'));
        else if (msg.type === 'error') reject(new ControlRefusedError(msg.code, msg.message));
        else resolve(msg);
      });
      ch.onClose((reason) => {
        if (!done) reject(new ControlConnectionError(`control closed the connection: ${reason}`));
      });
      ch.send(JSON.stringify(body));
    });
  }

  /** Opens a fresh Noise channel: HTTP Upgrade on POST /noise, then the IK handshake. */
  private async connect(): Promise<NoiseChannel> {
    const serverKey = await this.serverPublicKey();
    const timeoutMs = this.opts.connectTimeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    // Control refuses upgrades with 503 while too many channels are pending from one address (a NAT'd
    // fleet reconnecting at once; control/preauth-limits.ts): wait a little and try again until the deadline.
    for (;;) {
      const r = await this.upgrade(timeoutMs);
      if ('socket' in r) return this.handshake(r.socket, r.head, serverKey, timeoutMs);
      if (Date.now() + r.retryAfterMs >= deadline) throw new ControlError('bad_server', 'control is busy (HTTP 503); try again later');
      await sleep(r.retryAfterMs, AbortSignal.timeout(timeoutMs));
    }
  }

  /** POST /noise with Upgrade: the raw socket, or how long to wait when control is busy (503). */
  private upgrade(timeoutMs: number): Promise<{ socket: Socket; head: Buffer } | { retryAfterMs: number }> {
    return new Promise((resolve, reject) => {
      const open = this.base.protocol === 'https:' ? httpsRequest : request;
      const req = open(new URL(NOISE_PATH, this.base), {
        ...(this.opts.tlsCa !== undefined ? { ca: this.opts.tlsCa } : {}),
        method: 'POST',
        headers: { Connection: 'Upgrade', Upgrade: NOISE_UPGRADE },
        timeout: timeoutMs,
      });
      req.on('upgrade', (_res, socket, head) => resolve({ socket, head }));
      req.on('response', (res) => {
        res.resume();
        if (res.statusCode === 503) {
          // Pre-auth channels live milliseconds, so a slot frees far sooner than Retry-After's 1 s
          // granularity: retry after 100-500 ms, jittered so a refused burst does not return as one burst.
          resolve({ retryAfterMs: 100 + Math.random() * 400 });
          return;
        }
        reject(new ControlBadServerError(`control did not upgrade the connection (HTTP ${res.statusCode})`));
      });
      req.on('timeout', () => req.destroy(new Error('connect timed out')));
      req.on('error', reject);
      req.end();
    });
  }

  private async handshake(socket: Socket, head: Buffer, serverKey: Uint8Array, timeoutMs: number): Promise<NoiseChannel> {
    socket.setNoDelay(true);
    socket.setTimeout(0);
    try {
      return await openChannel(socket, head, this.opts.machinePrivateKey, serverKey, timeoutMs);
    } catch (err) {
      socket.destroy();
      // Control may have been reinstalled with a new key: fetch it again next time rather than fail forever
      // (never when the key was pinned by the caller).
      if (!this.opts.controlPublicKey) this.serverKey = null;
      throw err;
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
