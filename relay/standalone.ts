// A relay on its own listener (`control relay`): the relay at RELAY_PATH, its latency probe, and STUN
// on the same port number over UDP. Authorization comes from control (remote-auth.ts).
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
