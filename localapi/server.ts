// The LocalAPI server: HTTP/1.1 on a unix socket. It only wires: admission (permissions.ts) decides who
// may do what, the backend (the agent) answers, and this file translates between HTTP and those calls.
// The socket file is 0666 (any local app may ask whois) inside a 0755 directory; write access comes from
// the peer uid (SO_PEERCRED via the native addon), looked up once per connection and fail-closed.
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { debuglog } from 'node:util';
import { GrantwireError } from '../types/errors.js';
import { IPPROTO_TCP, parseIpProto } from '../types/ipproto.js';
import { PROMETHEUS_CONTENT_TYPE } from './metrics.js';
import { accessFor, admit, type Access, type AccessPolicy } from './permissions.js';
import { LocalApiFailure, type ExplainQuery, type LocalBackend, type PrefsPatch, type UpRequest } from './types.js';
import { parseWhoisAddr } from './whois.js';
import { DEFAULT_MAX_PINGS, PingLimiter, pingTimeoutMs } from './ping-limit.js';
import { parseRoutePrefs, ROUTE_PREF_KEYS } from './route-prefs.js';

const log = debuglog('grantwire:localapi');

/** Largest request body accepted (prefs, up). */
const MAX_BODY_BYTES = 64 * 1024;

/** Returns the uid of the process at the other end of a unix-socket connection, or null if unknown. */
export type PeerUidSource = (socket: Socket) => number | null;

export interface LocalApiServerOptions {
  socketPath: string;
  backend: LocalBackend;
  /** Defaults to "unknown" (read-only for everyone): the agent injects the native SO_PEERCRED lookup. */
  peerUid?: PeerUidSource;
  operatorUid?: number | null;
  /** Defaults to process.getuid(). */
  daemonUid?: number | null;
  /** Concurrent connections; more are closed on accept (default DEFAULT_MAX_CONNECTIONS). */
  maxConnections?: number;
  /** Concurrent `watch` streams; more get 503 (default DEFAULT_MAX_WATCHERS). */
  maxWatchers?: number;
  /** A watcher with this much unsent output is dropped, not buffered further (default DEFAULT_WATCH_BUFFER_BYTES). */
  maxWatchBufferBytes?: number;
  /** Concurrent `ping` requests; more get 503 (default DEFAULT_MAX_PINGS, ping-limit.ts). */
  maxPings?: number;
}

// Implementation limits. The socket is world-writable (any local user may connect), so without them one
// user could exhaust the daemon's file descriptors or, with a watch it never reads, its memory.
export const DEFAULT_MAX_CONNECTIONS = 256;
export const DEFAULT_MAX_WATCHERS = 64;
export const DEFAULT_WATCH_BUFFER_BYTES = 1024 * 1024;

function parsePort(text: string | null, name: string): number | undefined {
  if (text === null || text === '') return undefined;
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) > 65535) throw new LocalApiFailure(400, 'bad_request', `invalid '${name}' parameter`);
  return Number(text);
}

/**
 * Serialized whois answers, keyed by the answer object: the whois index hands out the same object for a
 * peer until the next netmap, so repeat lookups skip JSON.stringify (the biggest per-request cost after
 * HTTP itself) and the header list. Entries go away with the index that owns the objects. The body stays a
 * string: node:http then sends status line, headers and body in one write.
 */
const jsonCache = new WeakMap<object, { text: string; headers: string[] }>();

function sendCachedJSON(res: ServerResponse, body: object): void {
  let hit = jsonCache.get(body);
  if (hit === undefined) {
    const text = JSON.stringify(body);
    hit = { text, headers: ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(text))] };
    jsonCache.set(body, hit);
  }
  res.writeHead(200, hit.headers);
  res.end(hit.text);
}

/**
 * The `addr` of a whois query string. The common shape (`addr=…` alone, no `+`) is read without building
 * a URLSearchParams; anything else (more parameters, `+`, a malformed escape) takes URLSearchParams so
 * the meaning never differs.
 */
export function whoisAddrParam(query: string): string | null {
  if (query.startsWith('addr=') && query.indexOf('&') === -1 && query.indexOf('+') === -1) {
    const v = query.slice(5);
    if (v.indexOf('%') === -1) return v;
    try {
      return decodeURIComponent(v);
    } catch {
      // malformed escape: URLSearchParams keeps it literally
    }
  }
  return new URLSearchParams(query).get('addr');
}

function sendJSON(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, code: string, message: string, extra?: Record<string, string>): void {
  const text = JSON.stringify({ error: message, code });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

async function readJSON(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new LocalApiFailure(413, 'too_large', `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new LocalApiFailure(400, 'bad_request', 'request body is not valid JSON');
  }
}

function asObject(v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new LocalApiFailure(400, 'bad_request', 'request body must be a JSON object');
  return v as Record<string, unknown>;
}

function optString(o: Record<string, unknown>, k: string): string | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new LocalApiFailure(400, 'bad_request', `'${k}' must be a string`);
  return v;
}

function optStrings(o: Record<string, unknown>, k: string): string[] | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new LocalApiFailure(400, 'bad_request', `'${k}' must be an array of strings`);
  return v as string[];
}

function optBool(o: Record<string, unknown>, k: string): boolean | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new LocalApiFailure(400, 'bad_request', `'${k}' must be a boolean`);
  return v;
}

const PATCHABLE = new Set(['ControlURL', 'Hostname', 'AdvertiseTags', 'WantRunning', 'ShieldsUp', ...ROUTE_PREF_KEYS]);
const UP_KEYS = new Set(['ControlURL', 'AuthKey', 'Hostname', 'AdvertiseTags', 'TimeoutMs', ...ROUTE_PREF_KEYS]);

/** Validates a prefs PATCH body (unknown keys are errors, so typos do not pass silently). */
export function parsePrefsPatch(body: unknown): PrefsPatch {
  const o = asObject(body);
  for (const k of Object.keys(o)) if (!PATCHABLE.has(k)) throw new LocalApiFailure(400, 'bad_request', `unknown or read-only pref '${k}'`);
  const out: PrefsPatch = parseRoutePrefs(o);
  const url = optString(o, 'ControlURL');
  if (url !== undefined) out.ControlURL = url;
  const host = optString(o, 'Hostname');
  if (host !== undefined) out.Hostname = host;
  const tags = optStrings(o, 'AdvertiseTags');
  if (tags !== undefined) out.AdvertiseTags = tags;
  const wr = optBool(o, 'WantRunning');
  if (wr !== undefined) out.WantRunning = wr;
  const su = optBool(o, 'ShieldsUp');
  if (su !== undefined) out.ShieldsUp = su;
  return out;
}

export function parseUpRequest(body: unknown): UpRequest {
  const o = asObject(body);
  for (const k of Object.keys(o)) if (!UP_KEYS.has(k)) throw new LocalApiFailure(400, 'bad_request', `unknown field '${k}'`);
  const out: UpRequest = parseRoutePrefs(o);
  const url = optString(o, 'ControlURL');
  if (url !== undefined) out.ControlURL = url;
  const key = optString(o, 'AuthKey');
  if (key !== undefined) out.AuthKey = key;
  const host = optString(o, 'Hostname');
  if (host !== undefined) out.Hostname = host;
  const tags = optStrings(o, 'AdvertiseTags');
  if (tags !== undefined) out.AdvertiseTags = tags;
  if (o.TimeoutMs !== undefined) {
    if (typeof o.TimeoutMs !== 'number' || !(o.TimeoutMs > 0)) throw new LocalApiFailure(400, 'bad_request', `'TimeoutMs' must be a positive number`);
    out.TimeoutMs = o.TimeoutMs;
  }
  return out;
}

export function parseExplainQuery(q: URLSearchParams): ExplainQuery {
  const src = q.get('src');
  const dst = q.get('dst');
  const protoText = q.get('proto');
  if (!src) throw new LocalApiFailure(400, 'bad_request', "missing 'src' parameter");
  if (!dst) throw new LocalApiFailure(400, 'bad_request', "missing 'dst' parameter");
  const proto = protoText === null || protoText === '' ? IPPROTO_TCP : parseIpProto(protoText);
  if (proto === null) throw new LocalApiFailure(400, 'bad_request', `invalid 'proto' parameter ${JSON.stringify(protoText)}`);
  const out: ExplainQuery = { src, dst, proto };
  const sport = parsePort(q.get('sport'), 'sport');
  if (sport !== undefined) out.sport = sport;
  const dport = parsePort(q.get('dport'), 'dport');
  if (dport !== undefined) out.dport = dport;
  return out;
}

/** Fails when a live listener owns `path`; removes a stale socket file; refuses to touch non-sockets. */
async function claimSocketPath(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) throw new GrantwireError('ERR_SOCKET_PATH', `${path} exists and is not a socket; refusing to replace it`);
  const live = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (live) throw new GrantwireError('ERR_LOCALAPI_IN_USE', `listen ${path}: address already in use (another agent daemon is running)`);
  log('removing stale socket %s', path);
  await unlink(path);
}

export class LocalApiServer {
  private readonly server: Server;
  private readonly policy: AccessPolicy;
  private readonly peerUid: PeerUidSource;
  private readonly access = new WeakMap<Socket, Access>();
  private readonly streams = new Set<ServerResponse>();
  private readonly pings: PingLimiter;
  private listening = false;

  constructor(private readonly opts: LocalApiServerOptions) {
    this.policy = { daemonUid: opts.daemonUid !== undefined ? opts.daemonUid : (process.getuid?.() ?? null), operatorUid: opts.operatorUid ?? null };
    this.peerUid = opts.peerUid ?? (() => null);
    this.pings = new PingLimiter(opts.maxPings ?? DEFAULT_MAX_PINGS);
    this.server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => this.handle(req, res));
    this.server.maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.server.on('connection', (socket: Socket) => {
      let uid: number | null = null;
      try {
        uid = this.peerUid(socket);
      } catch (err) {
        log('peer uid lookup failed: %s', (err as Error).message);
      }
      this.access.set(socket, accessFor(uid, this.policy));
    });
  }

  get socketPath(): string {
    return this.opts.socketPath;
  }

  async listen(): Promise<void> {
    const path = this.opts.socketPath;
    const dir = dirname(path);
    const made = await mkdir(dir, { recursive: true, mode: 0o755 });
    if (made !== undefined) await chmod(dir, 0o755);
    await claimSocketPath(path);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(err.code === 'EADDRINUSE' ? new GrantwireError('ERR_LOCALAPI_IN_USE', `listen ${path}: address already in use`, { cause: err }) : err);
      };
      this.server.once('error', onError);
      this.server.listen(path, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.listening = true;
    await chmod(path, 0o666);
  }

  async close(): Promise<void> {
    for (const s of this.streams) s.end();
    this.streams.clear();
    if (!this.listening) return;
    this.listening = false;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const verdict = admit({
      method: req.method ?? 'GET',
      path,
      host: req.headers.host,
      hasOrigin: req.headers.origin !== undefined,
      hasReferer: req.headers.referer !== undefined,
      access: this.access.get(req.socket) ?? 'read',
    });
    if (!verdict.ok) {
      sendError(res, verdict.status, verdict.code, verdict.message, verdict.allow ? { allow: verdict.allow } : undefined);
      req.resume();
      return;
    }
    const queryText = q === -1 ? '' : url.slice(q + 1);
    if (verdict.endpoint === 'whois') {
      // The hot endpoint, answered synchronously from memory: no URLSearchParams, no promise.
      try {
        this.whois(res, whoisAddrParam(queryText));
      } catch (err) {
        this.fail(res, err);
      }
      return;
    }
    this.dispatch(verdict.endpoint, req, res, new URLSearchParams(queryText)).catch((err: unknown) => this.fail(res, err));
  }

  private fail(res: ServerResponse, err: unknown): void {
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    if (err instanceof LocalApiFailure) sendError(res, err.status, err.wireCode, err.message);
    else {
      log('internal error: %s', (err as Error)?.stack ?? String(err));
      sendError(res, 500, 'internal', (err as Error)?.message ?? 'internal error');
    }
  }

  private whois(res: ServerResponse, addrText: string | null): void {
    if (addrText === null || addrText === '') throw new LocalApiFailure(400, 'bad_request', "missing 'addr' parameter");
    const addr = parseWhoisAddr(addrText);
    if (!addr) throw new LocalApiFailure(400, 'bad_request', `invalid 'addr' parameter ${JSON.stringify(addrText)}`);
    const who = this.opts.backend.whois(addr);
    if (!who) throw new LocalApiFailure(404, 'not_found', 'no match for IP:port');
    sendCachedJSON(res, who);
  }

  private async dispatch(endpoint: string, req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const b = this.opts.backend;
    switch (endpoint) {
      case 'status':
        return sendJSON(res, 200, b.status({ peers: query.get('peers') !== 'false' }));
      case 'prefs':
        if (req.method === 'PATCH') return sendJSON(res, 200, await b.patchPrefs(parsePrefsPatch(await readJSON(req))));
        return sendJSON(res, 200, b.getPrefs());
      case 'up':
        return sendJSON(res, 200, await b.up(parseUpRequest(await readJSON(req))));
      case 'down':
        req.resume();
        await b.down();
        return sendJSON(res, 200, { ok: true });
      case 'logout':
        req.resume();
        await b.logout();
        return sendJSON(res, 200, { ok: true });
      case 'explain':
        return sendJSON(res, 200, b.explain(parseExplainQuery(query)));
      case 'netcheck':
        req.resume();
        if (!b.netcheck) throw new LocalApiFailure(501, 'not_implemented', 'netcheck is not available');
        return sendJSON(res, 200, await b.netcheck());
      case 'metrics': {
        const text = b.metrics();
        res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      case 'ping': {
        req.resume();
        const ipText = query.get('ip');
        if (!ipText) throw new LocalApiFailure(400, 'bad_request', "missing 'ip' parameter");
        const addr = parseWhoisAddr(ipText);
        if (!addr || addr.kind !== 'ip') throw new LocalApiFailure(400, 'bad_request', `invalid 'ip' parameter ${JSON.stringify(ipText)}`);
        const timeoutMs = pingTimeoutMs(query.get('timeout'));
        return sendJSON(res, 200, await this.pings.run(res, (signal) => b.ping(addr.ip, timeoutMs, signal)));
      }
      case 'watch':
        return this.watch(req, res);
      default:
        throw new LocalApiFailure(404, 'not_found', `no such endpoint: ${endpoint}`);
    }
  }

  /** Live `watch` streams. */
  get watcherCount(): number {
    return this.streams.size;
  }

  /** `ping` requests in flight. */
  get pingCount(): number {
    return this.pings.inFlight;
  }

  /**
   * NDJSON: one JSON object per line, starting with the current state, until the client goes away. A
   * reader that falls maxWatchBufferBytes behind is dropped (it can reconnect and read the state again).
   */
  private watch(req: IncomingMessage, res: ServerResponse): void {
    if (this.streams.size >= (this.opts.maxWatchers ?? DEFAULT_MAX_WATCHERS)) {
      req.resume();
      throw new LocalApiFailure(503, 'too_many_watchers', `too many watch streams (${this.streams.size}); try again later`);
    }
    const maxBuffered = this.opts.maxWatchBufferBytes ?? DEFAULT_WATCH_BUFFER_BYTES;
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    res.flushHeaders();
    this.streams.add(res);
    const st = this.opts.backend.status({ peers: false });
    res.write(JSON.stringify({ Type: 'state', BackendState: st.BackendState }) + '\n');
    let unsubscribe: (() => void) | null = null;
    let finished = false;
    const done = (): void => {
      if (finished) return;
      finished = true;
      unsubscribe?.();
      this.streams.delete(res);
    };
    unsubscribe = this.opts.backend.watch((ev) => {
      if (res.writableEnded || res.destroyed) return;
      if (res.writableLength > maxBuffered) {
        log('dropping a watch stream that is not reading (%d bytes unsent)', res.writableLength);
        res.destroy();
        done();
        return;
      }
      res.write(JSON.stringify(ev) + '\n');
    });
    if (finished) unsubscribe();
    req.on('close', done);
    res.on('close', done);
  }
}
