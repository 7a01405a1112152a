// `control serve`: wires the Store, the Coordinator and the HTTP listener together. No decisions here.
//
//   GET  /key          control's static Noise public key (hex), for the agent's IK handshake
//   POST /noise        HTTP Upgrade (`grantwire-noise-v1`) to the Noise channel (channel.ts, session.ts)
//   GET  /health       liveness
//   /api/v1/…          admin API, bearer tokens or a console session (admin-api.ts); loopback callers only unless TLS is on
//   /admin/…           the admin web console (console/console-http.ts); the same loopback-or-TLS rule
//
// With `tls` the same routes are served over HTTPS.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { defaultCrypto, type DhPrivateKey } from '../crypto/backend.js';
import { generatePrivateKey, keyFromHex, keyToHex } from '../crypto/key.js';
import { adminApiRefusal } from './admin-access.js';
import { handleAdminApi } from './admin-api.js';
import { handleConsole } from './console/console-http.js';
import { LiveEvents } from './console/live-events.js';
import { ConsoleSessions } from './console/sessions.js';
import { acceptChannel } from './channel.js';
import { LiveStreams } from './live-streams.js';
import { PreAuthGate, type PreAuthLimits } from './preauth-limits.js';
import type { UpdateRate } from './update-limiter.js';
import { Coordinator, type CoordinatorOptions } from './coordinator.js';
import type { Logger } from './logger.js';
import { NOISE_PATH, NOISE_UPGRADE } from './protocol.js';
import { parseRequestTarget } from './request-target.js';
import { runSession } from './session.js';
import type { Store } from './store.js';
import { WebhookDispatcher, type WebhookDispatcherOptions } from './webhook-dispatcher.js';
import type { ControlRelay } from './relay-hook.js';

export const DEFAULT_KEEPALIVE_MS = 15_000;

export interface ControlServerOptions extends Omit<CoordinatorOptions, 'store'> {
  store: Store;
  keepAliveMs?: number;
  /** PEM certificate chain and key: serve HTTPS (agents then use https://; the admin API opens to the network). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Limits for channels before their first request (defaults: DEFAULT_PREAUTH_LIMITS). */
  preAuth?: PreAuthLimits;
  /** Rate of applied `update` messages per map stream (default: DEFAULT_UPDATE_RATE). */
  updateRate?: UpdateRate;
  /** Webhook delivery tuning (backoff, timeouts); the URL and secret live in the state file. */
  webhooks?: Partial<Omit<WebhookDispatcherOptions, 'db' | 'logger'>>;
  /** The relay and STUN server on this listener, and the relay map (control/relay-hook.ts). */
  relay?: ControlRelay;
}

/** Control's long-term Noise key, created on first start and kept in the state file. */
export function loadOrCreateControlKey(store: Store): Uint8Array {
  const hex = store.getMeta('noise_private_key');
  if (hex) return keyFromHex(hex);
  const k = generatePrivateKey();
  store.setMeta('noise_private_key', keyToHex(k));
  return k;
}

/** The key of the relay inside control (relay-hook.ts), created on first start and kept in the state file: agents pin it. */
export function loadOrCreateRelayKey(store: Store): Uint8Array {
  const hex = store.getMeta('relay_private_key');
  if (hex) return keyFromHex(hex);
  const k = generatePrivateKey();
  store.setMeta('relay_private_key', keyToHex(k));
  return k;
}

export class ControlServer {
  readonly coordinator: Coordinator;
  readonly http: Server;
  readonly publicKey: Uint8Array;
  private readonly controlKey: DhPrivateKey;
  private readonly log: Logger;
  private readonly keepAliveMs: number;
  private readonly sockets = new Set<Duplex>();
  readonly preAuth: PreAuthGate;
  readonly liveStreams = new LiveStreams();
  readonly consoleSessions = new ConsoleSessions();
  readonly consoleEvents: LiveEvents;
  readonly webhooks: WebhookDispatcher;

  constructor(private readonly opts: ControlServerOptions) {
    this.log = opts.logger;
    this.keepAliveMs = opts.keepAliveMs ?? DEFAULT_KEEPALIVE_MS;
    const priv = loadOrCreateControlKey(opts.store);
    this.controlKey = defaultCrypto().importPrivateKey(priv);
    this.publicKey = Uint8Array.from(this.controlKey.publicKey);
    this.coordinator = new Coordinator(opts);
    opts.relay?.bind((k) => this.coordinator.isNodeKeyAuthorized(k), loadOrCreateRelayKey(opts.store));
    this.preAuth = new PreAuthGate(opts.preAuth);
    this.consoleEvents = new LiveEvents({ store: opts.store, onlineCount: () => this.coordinator.streamCount });
    this.webhooks = new WebhookDispatcher({ ...opts.webhooks, db: opts.store.db, logger: opts.logger });
    const handler = (req: IncomingMessage, res: ServerResponse): void => this.onRequest(req, res);
    this.http = opts.tls ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, handler) : createServer(handler);
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.http.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  /** Starts the coordinator and listens; resolves with the bound address (port 0 picks a free port). */
  async listen(host: string, port: number): Promise<AddressInfo> {
    this.coordinator.start();
    this.webhooks.start();
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    const bound = this.http.address() as AddressInfo;
    if (this.opts.relay) {
      await this.opts.relay.start(host, bound.port);
      this.coordinator.setRelayMap(this.opts.relay.relayMap());
    }
    return bound;
  }

  get url(): string {
    const a = this.http.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `${this.opts.tls ? 'https' : 'http'}://${host}:${a.port}`;
  }

  async close(): Promise<void> {
    this.coordinator.stop();
    this.consoleEvents.close();
    this.webhooks.stop();
    for (const s of this.sockets) s.destroy();
    await this.opts.relay?.close();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = parseRequestTarget(req.url, 'http://control');
    if (!url) return json(res, 400, { error: 'malformed request target', code: 'bad_request' });
    if (req.method === 'GET' && url.pathname === '/key') {
      return json(res, 200, { publicKey: keyToHex(this.publicKey), protocol: NOISE_UPGRADE });
    }
    if (req.method === 'GET' && url.pathname === '/health') return json(res, 200, { ok: true, policyVersion: this.coordinator.policyVersion });
    const tls = this.opts.tls !== undefined;
    const isConsole = url.pathname === '/admin' || url.pathname.startsWith('/admin/');
    if (url.pathname.startsWith('/api/v1/') || isConsole) {
      const refusal = adminApiRefusal(tls, req.socket.remoteAddress);
      if (refusal !== null) return json(res, 403, { error: refusal, code: 'tls_required' });
      const done = isConsole
        ? handleConsole(req, res, url, { store: this.opts.store, sessions: this.consoleSessions, events: this.consoleEvents, logger: this.log, tls })
        : handleAdminApi(req, res, url, { coordinator: this.coordinator, logger: this.log, sessions: this.consoleSessions, tls, onEvent: () => this.webhooks.kick() });
      done.catch((err: unknown) => {
        this.log.log('error', 'admin api failure', { error: (err as Error).message });
        if (!res.headersSent) json(res, 500, { error: 'internal error', code: 'internal' });
      });
      return;
    }
    if (this.opts.relay?.handleRequest(req, res, url.pathname)) return;
    if (url.pathname === NOISE_PATH) return json(res, 426, { error: `upgrade to ${NOISE_UPGRADE} required`, code: 'upgrade_required' });
    json(res, 404, { error: 'not found', code: 'not_found' });
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {});
    const url = parseRequestTarget(req.url, 'http://control');
    if (url && this.opts.relay?.handleUpgrade(req, socket, head, url.pathname)) return;
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    if (req.method !== 'POST' || url?.pathname !== NOISE_PATH || upgrade !== NOISE_UPGRADE) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const release = this.preAuth.admit(req.socket.remoteAddress ?? '', () => socket.destroy());
    if (!release) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    socket.once('close', release);
    (socket as Duplex & { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${NOISE_UPGRADE}\r\nConnection: Upgrade\r\n\r\n`);
    acceptChannel(socket, head, this.controlKey.raw)
      .then((ch) =>
        runSession(ch, {
          coordinator: this.coordinator,
          controlKey: this.controlKey,
          logger: this.log,
          keepAliveMs: this.keepAliveMs,
          onFirstMessage: release,
          liveStreams: this.liveStreams,
          updateRate: this.opts.updateRate,
        }),
      )
      .catch((err: unknown) => {
        this.log.log('debug', 'noise handshake failed', { error: (err as Error).message });
        socket.destroy();
      });
  }
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
