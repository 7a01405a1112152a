// An HTTP forward proxy for programs on this host to reach the tailnet (`HTTP_PROXY`/`HTTPS_PROXY`):
// CONNECT tunnels (RFC 9110 §9.3.6) and plain requests in absolute-form (RFC 9112 §3.2.2), which are sent
// on to the origin in origin-form with the hop-by-hop fields removed. node:http parses the messages; the
// targets and header rules are in http-proxy-wire.ts. Answers: 400 for a malformed target, 403 when the
// target is not allowed (not on the tailnet), 504 when the dial timed out, 502 for any other failure.
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { debuglog } from 'node:util';
import { httpStatusFor } from './dial-errors.js';
import type { Dialer } from './dialer.js';
import { endToEndHeaders, parseAbsoluteTarget, parseConnectTarget } from './http-proxy-wire.js';
import { splice } from './splice.js';
import { listenOn } from './listen-addr.js';

const log = debuglog('grantwire:http-proxy');

const REASONS: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 502: 'Bad Gateway', 504: 'Gateway Timeout' };

export interface HttpProxyServerOptions {
  dialer: Dialer;
}

function plain(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `${text}\n`;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
}

export class HttpProxyServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket | Duplex>();
  readonly stats = { tunnels: 0, forwarded: 0, failures: 0 };

  constructor(private readonly opts: HttpProxyServerOptions) {
    this.server = createServer((req, res) => void this.forward(req, res));
    this.server.on('connect', (req: IncomingMessage, sock: Socket, head: Buffer) => void this.tunnel(req, sock, head));
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  listen(port: number, host: string): Promise<{ address: string; port: number }> {
    return listenOn(this.server, port, host);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async tunnel(req: IncomingMessage, sock: Socket, head: Buffer): Promise<void> {
    sock.on('error', (err) => log('CONNECT client: %s', err.message));
    const t = parseConnectTarget(req.url ?? '');
    const fail = (status: number, why: string) => {
      this.stats.failures++;
      const body = `${why}\n`;
      sock.end(`HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    };
    if (!t) return fail(400, `malformed CONNECT target ${JSON.stringify((req.url ?? '').slice(0, 200))}`);
    let up: Duplex;
    try {
      up = await this.opts.dialer.dialTcp(t.host, t.port);
    } catch (err) {
      log('CONNECT %s:%d: %s', t.host, t.port, (err as Error).message);
      return fail(httpStatusFor(err), (err as Error).message);
    }
    if (sock.destroyed) {
      up.destroy();
      return;
    }
    this.stats.tunnels++;
    this.sockets.add(up);
    up.on('close', () => this.sockets.delete(up));
    sock.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) up.write(head);
    splice(sock, up);
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t = parseAbsoluteTarget(req.url ?? '');
    if (!t) {
      this.stats.failures++;
      return plain(res, 400, `a proxy request needs an absolute http:// target, got ${JSON.stringify((req.url ?? '').slice(0, 200))}`);
    }
    let up: Duplex;
    try {
      up = await this.opts.dialer.dialTcp(t.host, t.port);
    } catch (err) {
      this.stats.failures++;
      log('%s %s: %s', req.method, req.url, (err as Error).message);
      return plain(res, httpStatusFor(err), (err as Error).message);
    }
    this.stats.forwarded++;
    const headers = endToEndHeaders(req.rawHeaders).filter(([n]) => n.toLowerCase() !== 'host');
    headers.unshift(['Host', t.hostHeader]);
    const out = httpRequest({
      method: req.method,
      path: t.path,
      headers: headers.flat() as unknown as Record<string, string>,
      createConnection: () => up as Socket,
      setHost: false,
    });
    out.on('response', (ures) => {
      const h = endToEndHeaders(ures.rawHeaders);
      res.writeHead(ures.statusCode ?? 502, ures.statusMessage, h.flat() as unknown as Record<string, string>);
      ures.pipe(res);
      ures.on('error', () => res.destroy());
    });
    out.on('error', (err) => {
      this.stats.failures++;
      log('%s %s upstream: %s', req.method, req.url, err.message);
      plain(res, 502, `upstream ${t.host}:${t.port}: ${err.message}`);
    });
    res.on('close', () => up.destroy());
    req.pipe(out);
  }
}
