// A relay on its own listener (`control relay`): the relay at RELAY_PATH, its latency probe, and STUN
// on the same port number over UDP. Authorization comes from control (remote-auth.ts), which keeps
// admitting recently approved nodes for a while when control is unreachable.
//
// Its identity: a static X25519 key (`privateKey`; `control relay --key-file FILE`, created 0600 on first
// start, control/cli/relay-key.ts). Agents pin the public half from the netmap's relay map and refuse a
// relay that cannot prove it (auth.ts). Control learns it from its operator, not from the relay:
// `control serve --extra-relay NAME=URL;key=relaykey:HEX`, the key printed by
// `control relay --key-file FILE --print-key`. That is the simplest design that stays secure: a key the
// relay announced over the authorize channel would be only as trustworthy as the shared secret (any
// holder could then announce any key for any URL), and the relay does not even know the URL agents use
// to reach it; a key in control's own configuration needs no new channel and cannot be changed remotely.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { RelayServer, type RelayServerOptions } from './server.js';
import { StunServer } from './stun-server.js';

export class StandaloneRelay {
  readonly relay: RelayServer;
  readonly http: Server;
  stun: StunServer | null = null;
  private readonly sockets = new Set<Duplex>();

  constructor(opts: RelayServerOptions, private readonly stunEnabled = true) {
    this.relay = new RelayServer(opts);
    this.http = createServer((req: IncomingMessage, res: ServerResponse) => {
      const path = (req.url ?? '/').split('?')[0];
      if (this.relay.handleRequest(req, res, path)) return;
      res.writeHead(404, { 'content-length': 0 });
      res.end();
    });
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = (req.url ?? '/').split('?')[0];
      if (!this.relay.handleUpgrade(req, socket, head, path)) socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
    this.http.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    const a = this.http.address() as AddressInfo;
    if (this.stunEnabled) this.stun = await StunServer.listen(host === '0.0.0.0' || host === '::' ? '' : host, a.port);
    return a;
  }

  async close(): Promise<void> {
    this.relay.close();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
    await this.stun?.close();
  }
}
