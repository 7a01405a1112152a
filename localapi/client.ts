// The typed LocalAPI client apps import: keep-alive HTTP over the unix socket, one method per endpoint,
// and typed errors so an app can tell "no such peer" (PeerNotFoundError) from "not allowed"
// (AccessDeniedError) from everything else (LocalApiError). Keeps connections alive: a whois on a warm
// connection costs one round trip on the socket.
//
// whois is the hot call (an app asks it on every incoming request), so it has its own path: a Pool bound
// to the socket, and a small undici dispatch handler that collects the body into one Buffer instead of
// request()'s per-response Readable stream and URL parsing. Measured with bench:localapi on the 2-core
// box (load ~5, same run): 1 in flight 13.4–14.0k whois/s, p50 55 µs, p99 0.17 ms, against 8.5–8.7k
// (p50 96 µs) for request() + body text; 2–4 in flight 15–21k/s with p99 < 0.6 ms. Pipelining (option
// below) did not measurably help on this box, so it is off by default. The Pool only ever carries whois (an
// in-memory answer, never slow), so pipelining on it cannot queue a lookup behind a 2 s ping or an endless
// watch stream; every other endpoint goes through a general keep-alive Agent without pipelining.
//
// Start-up (issue 17): importing undici costs about 0.1 s, as much as starting node itself, so undici is
// loaded only for the whois Pool, on the first whois. Every other endpoint (not hot: one call per CLI
// command or user action) goes through node:http, which node has at hand. One-shot tools (the agent CLI)
// pass `whoisPool: false` and never load undici.
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import type { Dispatcher, Pool } from 'undici';
import { AccessDeniedError, LocalApiBadResponseError, LocalApiError, LocalApiUnreachableError, PeerNotFoundError } from '../types/errors.js';
import { LOCALAPI_HOST, LOCALAPI_PREFIX } from './permissions.js';
import { resolveSocketPath } from './socket-path.js';
import { LOCALAPI_STARTING, type ExplainQuery, type ExplainResponse, type NetcheckResponse, type PingResponse, type Prefs, type PrefsPatch, type StatusResponse, type UpRequest, type WatchEvent, type WhoIsResponse } from './types.js';

export type { ExplainQuery, ExplainResponse, PingResponse, Prefs, PrefsPatch, StatusResponse, UpRequest, WatchEvent, WhoIsResponse } from './types.js';

// The typed errors apps catch, defined with the others in types/errors.ts: LocalApiError (any failure;
// `status`, the daemon's `wireCode`), PeerNotFoundError, AccessDeniedError, LocalApiUnreachableError,
// LocalApiBadResponseError.
export { AccessDeniedError, LocalApiBadResponseError, LocalApiError, LocalApiUnreachableError, PeerNotFoundError } from '../types/errors.js';

export interface LocalClientOptions {
  /** Socket path; else GRANTWIRE_SOCKET, else /var/run/grantwire/agentd.sock. */
  socketPath?: string;
  /** Connections kept to the daemon (default 4). */
  connections?: number;
  /** Requests pipelined per whois connection (default 1: no pipelining). Safe: whois answers are in memory. */
  whoisPipelining?: number;
  /**
   * whois through its own undici Pool (default true): the fast path for apps that ask on every incoming
   * request; undici is imported on the first whois. false: whois goes through node:http like every other
   * call and undici is never loaded (one-shot tools such as the agent CLI).
   */
  whoisPool?: boolean;
}

const ORIGIN = `http://${LOCALAPI_HOST}`;
const WHOIS_PATH = LOCALAPI_PREFIX + 'whois?addr=';
const TIMEOUT_MS = 300_000;
/** How long a call waits for a daemon that is still starting (it loads its state after claiming the socket). */
const STARTING_WAIT_MS = 15_000;

/** Turns a non-2xx answer into the typed error apps catch. */
function errorFor(status: number, text: string, isWhois: boolean): LocalApiError {
  let message = text;
  let code = `http_${status}`;
  try {
    const j = JSON.parse(text) as { error?: unknown; code?: unknown };
    if (typeof j.error === 'string') message = j.error;
    if (typeof j.code === 'string') code = j.code;
  } catch {
    // not JSON: keep the raw text
  }
  if (status === 403) return new AccessDeniedError(code, message);
  if (status === 404 && isWhois) return new PeerNotFoundError(message);
  return new LocalApiError(status, code, message);
}

function unreachable(socketPath: string, err: unknown): LocalApiError {
  const e = err as NodeJS.ErrnoException;
  const code = e.code ?? 'unreachable';
  const hint = code === 'ENOENT' || code === 'ECONNREFUSED' ? ' (is the agent daemon running? set --socket or GRANTWIRE_SOCKET)' : '';
  return new LocalApiUnreachableError(code, `cannot reach the agent at ${socketPath}: ${e.message}${hint}`, { cause: err });
}

/**
 * One whois exchange as an undici (legacy-shape) dispatch handler: collects the body chunks and settles a
 * promise with the parsed answer or the typed error. One object per call, no stream.
 */
class WhoisHandler implements Dispatcher.DispatchHandler {
  private status = 0;
  private chunks: Buffer[] = [];
  constructor(
    private readonly socketPath: string,
    private readonly resolve: (v: WhoIsResponse) => void,
    private readonly reject: (e: LocalApiError) => void,
  ) {}

  onConnect(): void {}

  onHeaders(statusCode: number): boolean {
    this.status = statusCode;
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    const c = this.chunks;
    const text = (c.length === 1 ? c[0] : Buffer.concat(c)).toString('utf8');
    if (this.status >= 200 && this.status < 300) {
      let v: WhoIsResponse;
      try {
        v = JSON.parse(text) as WhoIsResponse;
      } catch (err) {
        this.reject(new LocalApiBadResponseError(this.status, `whois answer is not JSON: ${(err as Error).message}`));
        return;
      }
      this.resolve(v);
    } else this.reject(errorFor(this.status, text, true));
  }

  onError(err: Error): void {
    this.reject(unreachable(this.socketPath, err));
  }
}

export class LocalClient {
  readonly socketPath: string;
  private readonly agent: Agent;
  private readonly connections: number;
  private readonly pipelining: number;
  private readonly usePool: boolean;
  private pool: Pool | null = null;
  private poolLoading: Promise<Pool> | null = null;

  constructor(opts: LocalClientOptions = {}) {
    this.socketPath = resolveSocketPath(opts.socketPath);
    this.connections = opts.connections ?? 4;
    this.pipelining = opts.whoisPipelining ?? 1;
    this.usePool = opts.whoisPool ?? true;
    // Idle keep-alive sockets are unref'd by node, so a client left open does not hold the process.
    this.agent = new Agent({ keepAlive: true, maxSockets: this.connections });
  }

  async close(): Promise<void> {
    this.agent.destroy();
    const pool = this.poolLoading === null ? null : await this.poolLoading.catch(() => null);
    await pool?.close();
  }

  private loadPool(): Promise<Pool> {
    this.poolLoading ??= import('undici').then(({ Pool }) => {
      this.pool = new Pool(ORIGIN, { connect: { socketPath: this.socketPath }, connections: this.connections, pipelining: this.pipelining, keepAliveTimeout: 30_000 });
      return this.pool;
    });
    return this.poolLoading;
  }

  /** One request on the keep-alive Agent; `idleMs` bounds socket silence until the answer ends (none for watch). */
  private send(method: 'GET' | 'POST' | 'PATCH', path: string, payload: string | undefined, idleMs: number | null, signal?: AbortSignal): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          socketPath: this.socketPath,
          agent: this.agent,
          host: LOCALAPI_HOST,
          method,
          path: LOCALAPI_PREFIX + path,
          headers: payload === undefined ? undefined : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
          signal,
        },
        resolve,
      );
      req.on('error', reject);
      if (idleMs !== null) {
        req.setTimeout(idleMs, () => req.destroy(Object.assign(new Error(`no answer within ${idleMs} ms`), { code: 'ETIMEDOUT' })));
      }
      req.end(payload);
    });
  }

  private async call(method: 'GET' | 'POST' | 'PATCH', path: string, body?: unknown): Promise<{ status: number; text: string }> {
    const deadline = Date.now() + STARTING_WAIT_MS;
    for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
      let status: number;
      let text: string;
      try {
        const res = await this.send(method, path, body === undefined ? undefined : JSON.stringify(body), TIMEOUT_MS);
        status = res.statusCode ?? 0;
        text = await readText(res);
      } catch (err) {
        throw unreachable(this.socketPath, err);
      }
      if (status >= 200 && status < 300) return { status, text };
      const err = errorFor(status, text, path.startsWith('whois'));
      // A daemon that has claimed its socket but not yet loaded its state answers 503 `starting`: the
      // request has not been looked at, so asking again (any method) is safe.
      if (!(err instanceof LocalApiError && err.wireCode === LOCALAPI_STARTING) || Date.now() + delay > deadline) throw err;
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  private async json<T>(method: 'GET' | 'POST' | 'PATCH', path: string, body?: unknown): Promise<T> {
    const { status, text } = await this.call(method, path, body);
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new LocalApiBadResponseError(status, `${path.split('?')[0]} answer is not JSON: ${(err as Error).message}`);
    }
  }

  /** The node owning `addr` (`IP`, `IP:PORT`, `[v6]:PORT` or `nodekey:HEX`); PeerNotFoundError if none. */
  whois(addr: string): Promise<WhoIsResponse> {
    if (!this.usePool) return this.json('GET', 'whois?addr=' + encodeURIComponent(addr));
    const pool = this.pool;
    if (pool !== null) return this.whoisOn(pool, addr);
    return this.loadPool().then((p) => this.whoisOn(p, addr));
  }

  private whoisOn(pool: Pool, addr: string): Promise<WhoIsResponse> {
    return new Promise<WhoIsResponse>((resolve, reject) => {
      const handler = new WhoisHandler(this.socketPath, resolve, reject);
      try {
        pool.dispatch({ path: WHOIS_PATH + encodeURIComponent(addr), method: 'GET', headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS }, handler);
      } catch (err) {
        reject(unreachable(this.socketPath, err));
      }
    });
  }

  status(opts: { peers?: boolean } = {}): Promise<StatusResponse> {
    return this.json('GET', opts.peers === false ? 'status?peers=false' : 'status');
  }

  prefs(): Promise<Prefs> {
    return this.json('GET', 'prefs');
  }

  patchPrefs(patch: PrefsPatch): Promise<Prefs> {
    return this.json('PATCH', 'prefs', patch);
  }

  up(req: UpRequest): Promise<StatusResponse> {
    return this.json('POST', 'up', req);
  }

  async down(): Promise<void> {
    await this.call('POST', 'down', {});
  }

  async logout(): Promise<void> {
    await this.call('POST', 'logout', {});
  }

  explain(q: ExplainQuery): Promise<ExplainResponse> {
    const p = new URLSearchParams({ src: q.src, dst: q.dst, proto: String(q.proto) });
    if (q.sport !== undefined) p.set('sport', String(q.sport));
    if (q.dport !== undefined) p.set('dport', String(q.dport));
    return this.json('GET', `explain?${p.toString()}`);
  }

  /** NAT report from the daemon's WireGuard socket (STUN, relay latencies). */
  netcheck(): Promise<NetcheckResponse> {
    return this.json('GET', 'netcheck');
  }

  /** One ICMP echo through the tunnel to the peer owning `ip` (LocalApiError with wireCode 'timeout' if none). */
  ping(ip: string, timeoutMs = 2000): Promise<PingResponse> {
    return this.json('POST', `ping?ip=${encodeURIComponent(ip)}&timeout=${timeoutMs}`);
  }

  async metrics(): Promise<string> {
    return (await this.call('GET', 'metrics')).text;
  }

  /** Streams state changes until `signal` aborts (or the daemon goes away). */
  async *watch(signal?: AbortSignal): AsyncGenerator<WatchEvent> {
    let res;
    try {
      res = await this.send('GET', 'watch', undefined, null, signal);
    } catch (err) {
      if (signal?.aborted) return;
      throw unreachable(this.socketPath, err);
    }
    try {
      if (res.statusCode !== 200) {
        const status = res.statusCode ?? 0;
        throw new LocalApiError(status, `http_${status}`, await readText(res));
      }
      let pending = '';
      for await (const chunk of res) {
        pending += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = pending.indexOf('\n')) !== -1) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (line.trim() !== '') yield JSON.parse(line) as WatchEvent;
        }
      }
    } catch (err) {
      if (signal?.aborted) return;
      throw err;
    } finally {
      // The caller may stop early (break, return): an endless stream must not keep its socket.
      res.destroy();
    }
  }
}

/** The whole body as UTF-8 (LocalAPI answers are small JSON or text). */
async function readText(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)).toString('utf8');
}
