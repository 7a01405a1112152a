// `agent status`: this node and its peers, one row each (or the full JSON).
import { parseCommand } from '../../cli/args.js';
import { formatStatus } from '../format.js';
import { printJSON, withClient } from './common.js';

export const usage = `usage: agent [--socket PATH] status [--json] [--peers=false]

Prints one row per node: tailnet IP, hostname, owner (alice@ or tagged-devices), OS, state
(-, idle, active; direct IP:PORT, offline). --json prints the LocalAPI status object
(BackendState, Self, Peer keyed by node key).`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, { json: { type: 'boolean' }, peers: { type: 'string' } });
  const peers = values.peers === undefined ? true : values.peers !== 'false';
  return withClient('status', async (c) => {
    const st = await c.status({ peers });
    if (values.json) printJSON(st);
    else process.stdout.write(formatStatus(st));
    return values.json || st.BackendState === 'Running' ? 0 : 1;
  });
}
