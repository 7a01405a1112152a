// A SOCKS5 server (RFC 1928) for programs on this host to reach the tailnet: NO AUTHENTICATION, CONNECT
// and UDP ASSOCIATE, IPv4/IPv6/domain addresses (tailnet names resolved by the Dialer). The wire format is
// in socks5-wire.ts; this file is the I/O: one small state machine per client connection, then plain
// piping. A failed dial answers the reply code dial-errors.ts maps it to.
//
// UDP ASSOCIATE: a UDP relay socket is bound on the address the client reached us on; datagrams from the
// client's IP (and, once seen, its port) carry the RFC 1928 §7 header; their payload goes to the tailnet
// through the Dialer's UDP socket and replies come back with the header of their source. The association
// lives as long as the TCP connection that asked for it. Fragmented datagrams (FRAG ≠ 0) are dropped.
import dgram from 'node:dgram';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { debuglog } from 'node:util';
import { socksReplyFor } from './dial-errors.js';
import type { Dialer, ProxyUdpSocket } from './dialer.js';
import { splice } from './splice.js';
import { listenOn } from './listen-addr.js';
import {
  buildReply,
  buildUdpHeader,
  CMD_CONNECT,
  MAX_GREETING_SIZE,
  MAX_REQUEST_SIZE,
  METHOD_NO_AUTH,
  METHOD_NONE_ACCEPTABLE,
  parseGreeting,
  parseRequest,
  parseUdpHeader,
  REP_SUCCEEDED,
  REP_GENERAL_FAILURE,
  SOCKS_VERSION,
  type SocksRequest,
} from './socks5-wire.js';

const log = debuglog('grantwire:socks5');

/** A client must finish greeting and request within this time. */
export const SOCKS_HANDSHAKE_TIMEOUT_MS = 30_000;

export interface Socks5ServerOptions {
  dialer: Dialer;
}

function unmapped(addr: string): string {
  return addr.startsWith('::ffff:') && isIP(addr.slice(7)) === 4 ? addr.slice(7) : addr;
}

export class Socks5Server {
  private readonly server: Server;
  private readonly clients = new Set<Socket>();
  /** Counters for tests and logs. */
  readonly stats = { connections: 0, connects: 0, associations: 0, failures: 0, udpRelayed: 0, udpDropped: 0 };

  constructor(private readonly opts: Socks5ServerOptions) {
    this.server = createServer({ allowHalfOpen: true }, (s) => this.onClient(s));
  }

  listen(port: number, host: string): Promise<{ address: string; port: number }> {
    return listenOn(this.server, port, host);
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onClient(sock: Socket): void {
    this.stats.connections++;
    this.clients.add(sock);
    sock.on('close', () => this.clients.delete(sock));
    sock.on('error', (err) => log('client %s: %s', sock.remoteAddress, err.message));
    sock.setTimeout(SOCKS_HANDSHAKE_TIMEOUT_MS, () => sock.destroy());
    let buf: Buffer = Buffer.alloc(0);
    let stage: 'greeting' | 'request' | 'busy' = 'greeting';
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (stage === 'greeting') {
        const g = parseGreeting(buf);
        if (g.kind === 'short') {
          if (buf.length > MAX_GREETING_SIZE) sock.destroy();
          return;
        }
        if (g.kind === 'bad' || !g.value.includes(METHOD_NO_AUTH)) {
          sock.end(Uint8Array.of(SOCKS_VERSION, METHOD_NONE_ACCEPTABLE));
          return;
        }
        sock.write(Uint8Array.of(SOCKS_VERSION, METHOD_NO_AUTH));
        buf = buf.subarray(g.used);
        stage = 'request';
      }
      if (stage === 'request') {
        const r = parseRequest(buf);
        if (r.kind === 'short') {
          if (buf.length > MAX_REQUEST_SIZE) sock.destroy();
          return;
        }
        if (r.kind === 'bad') {
          log('bad request from %s: %s', sock.remoteAddress, r.why);
          this.stats.failures++;
          sock.end(buildReply(r.reply));
          return;
        }
        stage = 'busy';
        sock.off('data', onData);
        sock.pause();
        const rest = buf.subarray(r.used);
        if (r.value.command === CMD_CONNECT) void this.connect(sock, r.value, rest);
        else void this.associate(sock, r.value);
      }
    };
    sock.on('data', onData);
  }

  private async connect(sock: Socket, req: SocksRequest, rest: Buffer): Promise<void> {
    let up: Duplex;
    try {
      up = await this.opts.dialer.dialTcp(req.host, req.port);
    } catch (err) {
      this.stats.failures++;
      log('CONNECT %s:%d: %s', req.host, req.port, (err as Error).message);
      if (!sock.destroyed) sock.end(buildReply(socksReplyFor(err)));
      return;
    }
    if (sock.destroyed) {
      up.destroy();
      return;
    }
    this.stats.connects++;
    sock.setTimeout(0);
    const local = up as Partial<Socket>;
    const bindHost = local.localAddress && isIP(unmapped(local.localAddress)) ? unmapped(local.localAddress) : '0.0.0.0';
    sock.write(buildReply(REP_SUCCEEDED, bindHost, local.localPort ?? 0));
    if (rest.length > 0) up.write(rest);
    splice(sock, up);
    sock.resume();
  }

  private async associate(sock: Socket, req: SocksRequest): Promise<void> {
    const clientIP = unmapped(sock.remoteAddress ?? '');
    // RFC 1928 §7: DST.ADDR/PORT name where the client will send from; zeros mean "not known yet".
    let clientPort = req.type !== 'domain' && req.port !== 0 ? req.port : 0;
    const localIP = unmapped(sock.localAddress ?? '127.0.0.1');
    let relay: ProxyUdpSocket;
    try {
      relay = await this.opts.dialer.bindUdp();
    } catch (err) {
      this.stats.failures++;
      if (!sock.destroyed) sock.end(buildReply(socksReplyFor(err)));
      return;
    }
    const udp = dgram.createSocket(isIP(localIP) === 6 ? 'udp6' : 'udp4');
    const done = () => {
      relay.close();
      try {
        udp.close();
      } catch {
        // already closed
      }
    };
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(0, localIP, () => {
          udp.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      relay.close();
      this.stats.failures++;
      log('UDP ASSOCIATE bind on %s: %s', localIP, (err as Error).message);
      if (!sock.destroyed) sock.end(buildReply(REP_GENERAL_FAILURE));
      return;
    }
    if (sock.destroyed) return done();
    this.stats.associations++;
    udp.on('error', (err) => log('UDP relay: %s', err.message));
    udp.on('message', (msg, rinfo) => {
      if (unmapped(rinfo.address) !== clientIP || (clientPort !== 0 && rinfo.port !== clientPort)) {
        this.stats.udpDropped++;
        return;
      }
      clientPort = rinfo.port;
      const h = parseUdpHeader(msg);
      const dst = h ? this.opts.dialer.resolve(h.host) : null;
      if (!h || !dst) {
        this.stats.udpDropped++;
        return;
      }
      this.stats.udpRelayed++;
      relay.send(msg.subarray(h.dataOffset), dst, h.port);
    });
    relay.onMessage((data, address, port) => {
      if (clientPort === 0) return;
      const header = buildUdpHeader(address, port);
      const out = Buffer.allocUnsafe(header.length + data.length);
      out.set(header, 0);
      out.set(data, header.length);
      udp.send(out, clientPort, clientIP);
    });
    sock.setTimeout(0);
    const bound = udp.address();
    sock.write(buildReply(REP_SUCCEEDED, unmapped(bound.address), bound.port));
    // The association ends with the TCP connection; anything the client sends on it is ignored.
    sock.on('close', done);
    sock.on('data', () => undefined);
    sock.resume();
  }
}
