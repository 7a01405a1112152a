// `agent whois ADDR`: which node owns a tailnet address, and its capabilities toward this node.
import { parseCommand, UsageError } from '../../cli/args.js';
import { PeerNotFoundError } from '../../localapi/client.js';
import { formatWhois } from '../format.js';
import { printJSON, withClient } from './common.js';

export const usage = `usage: agent [--socket PATH] whois [--json] ADDR

ADDR is a tailnet IP, IP:PORT, [IPv6]:PORT or nodekey:HEX. Prints the Machine, its Tags or User, and the
capabilities the policy grants it toward this node.`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, { json: { type: 'boolean' } }, 1);
  if (positionals.length !== 1) throw new UsageError('missing ADDR');
  return withClient('whois', async (c) => {
    try {
      const who = await c.whois(positionals[0]);
      if (values.json) printJSON(who);
      else process.stdout.write(formatWhois(who));
      return 0;
    } catch (err) {
      if (err instanceof PeerNotFoundError) {
        process.stderr.write(`agent whois: ${positionals[0]}: ${err.message}\n`);
        return 1;
      }
      throw err;
    }
  });
}
