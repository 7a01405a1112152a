// `agent ip`: this node's (or a peer's) tailnet addresses, one per line.
import { parseCommand, UsageError } from '../../cli/args.js';
import type { StatusResponse } from '../../localapi/types.js';
import { withClient } from './common.js';

export const usage = `usage: agent [--socket PATH] ip [-4|-6] [PEER]

Prints this node's tailnet addresses (or PEER's, given as hostname, IP or nodekey:HEX), one per line.`;

export function addressesOf(st: StatusResponse, peer: string | undefined): string[] | null {
  if (peer === undefined) return st.Self ? st.TailscaleIPs : null;
  const all = [...(st.Self ? [st.Self] : []), ...Object.values(st.Peer ?? {})];
  const p = all.find((n) => n.HostName === peer || n.DNSName === peer || n.DNSName === `${peer}.` || n.DNSName.split('.')[0] === peer || n.PublicKey === peer || n.TailscaleIPs.includes(peer));
  return p ? p.TailscaleIPs : null;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, { v4: { type: 'boolean', short: '4' }, v6: { type: 'boolean', short: '6' } }, 1);
  if (values.v4 && values.v6) throw new UsageError('-4 and -6 are exclusive');
  return withClient('ip', async (c) => {
    const st = await c.status({ peers: positionals.length > 0 });
    const ips = addressesOf(st, positionals[0]);
    if (!ips) {
      process.stderr.write(positionals.length > 0 ? `agent ip: no peer named ${positionals[0]}\n` : `agent ip: not running (${st.BackendState})\n`);
      return 1;
    }
    const want = ips.filter((ip) => (values.v4 ? !ip.includes(':') : values.v6 ? ip.includes(':') : true));
    for (const ip of want) process.stdout.write(ip + '\n');
    return want.length > 0 ? 0 : 1;
  });
}
