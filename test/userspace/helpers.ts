// Shared by the userspace suites: the tailnet policy they run under, an HTTP GET over a connected stream, and
// a SOCKS5 CONNECT through a proxy.
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { encodeAddress } from '../../agent/proxy/socks5-wire.js';

export const USERSPACE_POLICY = `{
  "tagOwners": {"tag:sql": ["alice@example.com"], "tag:client": ["alice@example.com"]},
  "grants": [
    {"src": ["tag:client"], "dst": ["tag:sql"], "ip": ["tcp:443", "udp:53", "icmp:*"],
     "app": {"example.com/cap/tailsql": [{"dataSrc": ["warehouse"]}]}},
    {"src": ["tag:client", "tag:sql"], "dst": ["tag:client"], "ip": ["tcp:*", "udp:*"]},
  ],
}`;


/** GET `path` over an already-connected stream; resolves with status and parsed JSON body. */
export function getOver(sock: Socket | NodeJS.ReadWriteStream, path: string, host = 'sql'): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const r = httpRequest({ path, headers: { host }, createConnection: () => sock as Socket }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    r.on('error', reject);
    r.end();
  });
}


/**
 * Opens a SOCKS5 CONNECT to `host:port` (domain address type) through the proxy on 127.0.0.1:`socksPort`;
 * resolves with the socket and the first 12 bytes the proxy answered (method choice + reply head).
 */
export async function socksConnect(socksPort: number, host: string, port: number): Promise<{ sock: Socket; head: Buffer }> {
  const s = connect({ host: '127.0.0.1', port: socksPort });
  await new Promise((r) => s.once('connect', r));
  s.write(Buffer.concat([Buffer.from([5, 1, 0]), Buffer.from([5, 1, 0, ...encodeAddress(host, port)])]));
  const head = await new Promise<Buffer>((r) => {
    let b = Buffer.alloc(0);
    const on = (d: Buffer) => {
      b = Buffer.concat([b, d]);
      if (b.length >= 12) {
        s.off('data', on);
        r(b);
      }
    };
    s.on('data', on);
  });
  return { sock: s, head };
}
