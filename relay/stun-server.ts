// A STUN server for endpoint discovery: answers Binding requests (stun.ts) on one UDP port with the
// source address:port it saw, nothing else. Dual-stack ('udp6', v4-mapped). Answers are rate-limited
// per second overall so the server cannot be used as a reflector at more than STUN_MAX_ANSWERS_PER_SEC.
import dgram from 'node:dgram';
import { addrToBytes16 } from '../net/udp-dgram.js';
import { encodeBindingSuccess, parseBindingRequest } from './stun.js';

/** Implementation limit: Binding responses per second, all clients together. */
export const STUN_MAX_ANSWERS_PER_SEC = 2000;

export class StunServer {
  readonly stats = { requests: 0, answered: 0, dropped: 0 };
  private windowStart = 0;
  private windowCount = 0;

  private constructor(private readonly socket: dgram.Socket) {}

  static async listen(host: string, port: number): Promise<StunServer> {
    const v6 = host.includes(':') || host === '' ;
    const socket = dgram.createSocket(v6 ? { type: 'udp6', ipv6Only: false } : { type: 'udp4' });
    const srv = new StunServer(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host === '' ? '::' : host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', () => {});
    const addr16 = new Uint8Array(16);
    socket.on('message', (msg, rinfo) => {
      srv.stats.requests++;
      const txid = parseBindingRequest(msg, msg.length);
      if (!txid || !addrToBytes16(rinfo.address, addr16)) {
        srv.stats.dropped++;
        return;
      }
      const now = Date.now();
      if (now - srv.windowStart >= 1000) {
        srv.windowStart = now;
        srv.windowCount = 0;
      }
      if (++srv.windowCount > STUN_MAX_ANSWERS_PER_SEC) {
        srv.stats.dropped++;
        return;
      }
      socket.send(encodeBindingSuccess(txid, addr16, rinfo.port), rinfo.port, rinfo.address);
      srv.stats.answered++;
    });
    return srv;
  }

  get port(): number {
    return this.socket.address().port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
