// `agent ping PEER`: real ICMP echo requests through the WireGuard tunnel. The daemon builds each echo
// request from this node's tailnet address, sends it into the data plane as if the host had sent it, and
// times the echo reply the peer's kernel sends back (so it proves the tunnel, the peer's filter and the
// return path). Each reply line names the path that reply came on (`direct IP:PORT` or `relay NAME`), as
// the daemon recorded it for the WireGuard datagram that carried it; a daemon too old to say falls back
// to the path status shows for the peer.
import { parseCommand, UsageError } from '../../cli/args.js';
import { LocalApiError } from '../../localapi/client.js';
import type { StatusResponse } from '../../localapi/types.js';
import { addressesOf } from './ip.js';
import { withClient } from './common.js';
import { peerPath } from '../format.js';

/** The path the peer with tailnet address `ip` is on now (for a daemon whose replies do not name theirs). */
async function pathTo(c: { status(): Promise<StatusResponse> }, ip: string): Promise<string> {
  const st = await c.status();
  const p = Object.values(st.Peer ?? {}).find((x) => x.TailscaleIPs.includes(ip));
  return p ? peerPath(p) : '';
}

export const usage = `usage: agent [--socket PATH] ping [-c COUNT] [--timeout SECONDS] PEER

Sends ICMP echo requests through the tunnel to PEER (hostname, tailnet IP or nodekey:HEX) and prints
each reply's round-trip time. Exits 1 if no reply arrives.`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, { count: { type: 'string', short: 'c' }, timeout: { type: 'string' } }, 1);
  if (positionals.length !== 1) throw new UsageError('missing PEER');
  const count = values.count === undefined ? 4 : Number(values.count);
  if (!Number.isInteger(count) || count < 1 || count > 1000) throw new UsageError('-c must be 1..1000');
  const timeoutS = values.timeout === undefined ? 2 : Number(values.timeout);
  if (!(timeoutS > 0 && timeoutS <= 60)) throw new UsageError('--timeout must be 0-60 seconds');
  return withClient('ping', async (c) => {
    const st = await c.status();
    const ips = addressesOf(st, positionals[0]);
    if (!ips || ips.length === 0) {
      process.stderr.write(`agent ping: unknown peer ${positionals[0]}\n`);
      return 1;
    }
    const ip = ips.find((a) => !a.includes(':')) ?? ips[0];
    let ok = 0;
    for (let i = 0; i < count; i++) {
      try {
        const r = await c.ping(ip, timeoutS * 1000);
        ok++;
        const path = r.Endpoint ? `direct ${r.Endpoint}` : r.Relay ? `relay ${r.Relay}` : await pathTo(c, r.IP);
        process.stdout.write(`pong from ${r.NodeName} (${r.IP}) via ${path || 'ICMP through the tunnel'} in ${(r.LatencySeconds * 1000).toFixed(2)}ms\n`);
      } catch (err) {
        if (!(err instanceof LocalApiError) || err.wireCode !== 'timeout') throw err;
        process.stdout.write(`no reply from ${ip} within ${timeoutS}s\n`);
      }
      if (i + 1 < count) await new Promise((r) => setTimeout(r, 200));
    }
    return ok > 0 ? 0 : 1;
  });
}
