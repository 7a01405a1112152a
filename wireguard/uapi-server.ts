// The UAPI socket: /var/run/wireguard/<ifname>.sock, a stream unix socket created under umask 077
// (root-only, like wireguard-go), which `wg show`/`wg set` find by scanning the directory. Requests are
// `get=1` or `set=1` followed by key=value lines and a blank line; each gets a reply ending in
// `errno=N` and a blank line. Several requests may share one connection.
//
// The server only frames and dispatches: what a request means lives in uapi-protocol.ts, what it does
// to a device in the UapiHost (uapi-device.ts adapts a Device). A live socket of another instance is
// never stolen ("address in use"); a stale one is replaced.
import net from 'node:net';
import { mkdirSync, unlinkSync, chmodSync, lstatSync } from 'node:fs';
import path from 'node:path';
import { GrantwireError } from '../types/errors.js';
import { formatErrno, formatGet, parseSet, UAPI_EINVAL, UAPI_EIO, type UapiDeviceState, type UapiSetRequest } from './uapi-protocol.js';

export const UAPI_DEFAULT_DIR = '/var/run/wireguard';
/** A request larger than this (a set with thousands of allowed IPs is ~100 KB) closes the connection. */
const MAX_REQUEST_BYTES = 8 << 20;

export interface UapiHost {
  get(): UapiDeviceState;
  /** Applies a validated request; returns 0 or a negative errno (UAPI_EINVAL, ...). */
  set(req: UapiSetRequest): number | Promise<number>;
}

export interface UapiServerOptions {
  /** Socket directory (default /var/run/wireguard). */
  dir?: string;
  logger?: ((msg: string) => void) | null;
}

/** True when something accepts connections on `file`. */
function isLive(file: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(file);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

export class UapiServer {
  readonly path: string;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private closed = false;

  private constructor(file: string, server: net.Server) {
    this.path = file;
    this.server = server;
  }

  static async listen(ifname: string, host: UapiHost, opts: UapiServerOptions = {}): Promise<UapiServer> {
    if (!/^[A-Za-z0-9_.=+-]{1,15}$/.test(ifname)) {
      throw new GrantwireError('ERR_UAPI_NAME', `invalid interface name ${JSON.stringify(ifname)}`);
    }
    const dir = opts.dir ?? UAPI_DEFAULT_DIR;
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const file = path.join(dir, `${ifname}.sock`);
    let exists = false;
    try {
      exists = lstatSync(file).isSocket();
    } catch {
      exists = false;
    }
    if (exists) {
      if (await isLive(file)) throw new GrantwireError('ERR_UAPI_IN_USE', `UAPI socket ${file} is in use by another process`);
      unlinkSync(file);
    }
    const logger = opts.logger ?? null;
    const server = net.createServer();
    const self = new UapiServer(file, server);
    server.on('connection', (sock) => self.serve(sock, host, logger));
    // umask 077 while the socket inode is created (bind happens inside listen()), then restore; the chmod
    // afterwards covers platforms where listen binds later.
    const old = process.umask(0o077);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(file, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(old);
    }
    chmodSync(file, 0o600);
    return self;
  }

  private serve(sock: net.Socket, host: UapiHost, logger: ((msg: string) => void) | null): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => {});
    let buf = '';
    let busy = false;
    const pump = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      try {
        for (;;) {
          const end = buf.indexOf('\n\n');
          if (end < 0) break;
          const request = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const reply = await this.handle(request, host, logger);
          if (sock.destroyed) return;
          sock.write(reply);
        }
      } finally {
        busy = false;
      }
    };
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_REQUEST_BYTES) {
        sock.end(formatErrno(UAPI_EINVAL));
        buf = '';
        return;
      }
      void pump();
    });
  }

  private async handle(request: string, host: UapiHost, logger: ((msg: string) => void) | null): Promise<string> {
    const lines = request.split('\n');
    const op = lines[0];
    try {
      if (op === 'get=1') {
        if (lines.length > 1) return formatErrno(UAPI_EINVAL);
        return formatGet(host.get());
      }
      if (op === 'set=1') {
        const parsed = parseSet(lines.slice(1));
        if (!parsed.ok) {
          logger?.(`uapi: set rejected: ${parsed.message}`);
          return formatErrno(parsed.errno);
        }
        return formatErrno(await host.set(parsed.request));
      }
      logger?.(`uapi: unknown operation ${JSON.stringify(op.slice(0, 20))}`);
      return formatErrno(UAPI_EINVAL);
    } catch (err) {
      logger?.(`uapi: ${(err as Error).message}`);
      return formatErrno(err instanceof GrantwireError ? UAPI_EINVAL : UAPI_EIO);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    try {
      unlinkSync(this.path);
    } catch {
      // already removed (net.Server usually unlinks it itself)
    }
  }
}
