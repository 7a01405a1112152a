// The demo's way to the admin console from this host's browser. Control runs in the lab's hub namespace,
// which this host cannot route to, and without TLS it serves /admin only to loopback callers. So: a relay
// inside the hub namespace connects to control on the hub's own 127.0.0.1 (a loopback caller) and
// listens on a unix socket (sockets in the file system cross namespaces); a listener on this host's
// 127.0.0.1 pipes each browser connection into that socket. Both halves are byte pipes; nothing is parsed.
import { existsSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { waitFor } from '../../test/netns.js';
import { CONTROL_PORT, type TailnetLab } from './tailnet-lab.js';

const RELAY = `const net = require('node:net');
net.createServer((c) => {
  const up = net.connect(${CONTROL_PORT}, '127.0.0.1');
  c.pipe(up).pipe(c);
  c.on('error', () => up.destroy());
  up.on('error', () => c.destroy());
}).listen(process.argv[1]);`;

/**
 * Starts both halves; resolves with the console's base URL on this host (http://127.0.0.1:PORT): on
 * `hostPort`, or a free port when that one is taken. Control must listen on the hub's loopback too.
 */
export async function bridgeConsole(lab: TailnetLab, hostPort: number): Promise<{ url: string; server: Server }> {
  const sock = join(lab.dir, 'console.sock');
  rmSync(sock, { force: true });
  lab.scope.spawn(lab.hub, process.execPath, ['-e', RELAY, sock], { logFile: join(lab.dir, 'console-bridge.log') });
  if (!(await waitFor(async () => existsSync(sock), 10_000, 100))) throw new Error(`the console relay in ${lab.hub} did not start; see ${join(lab.dir, 'console-bridge.log')}`);
  const server = createServer((c) => {
    const up = connect(sock);
    c.pipe(up).pipe(c);
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
  });
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
    });
  const port = await listen(hostPort).catch(() => listen(0));
  server.unref();
  return { url: `http://127.0.0.1:${port}`, server };
}
