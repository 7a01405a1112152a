// Shared by the userspace suites: the tailnet policy they run under and an HTTP GET over a connected stream.
import { request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';

export const USERSPACE_POLICY = `{
  "tagOwners": {"tag:sql": ["alice@example.com"], "tag:client": ["alice@example.com"]},
  "grants": [
    {"src": ["tag:client"], "dst": ["tag:sql"], "ip": ["tcp:443", "udp:53", "icmp:*"],
     "app": {"example.com/cap/tailsql": [{"dataSrc": ["warehouse"]}]}},
    {"src": ["tag:client", "tag:sql"], "dst": ["tag:client"], "ip": ["tcp:*"]},
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

