// `agent metrics`: the daemon's counters in Prometheus text format.
import { parseCommand } from '../../cli/args.js';
import { withClient } from './common.js';

export const usage = `usage: agent [--socket PATH] metrics

Prints the daemon's metrics (Prometheus text format): filter decisions and drops by reason, packets and
bytes per peer, handshakes.`;

export async function run(argv: string[]): Promise<number> {
  parseCommand(argv, {});
  return withClient('metrics', async (c) => {
    process.stdout.write(await c.metrics());
    return 0;
  });
}
