// `agent down`: disconnect from the tailnet but stay logged in (`agent up` resumes).
import { parseCommand } from '../../cli/args.js';
import { withClient } from './common.js';

export const usage = `usage: agent [--socket PATH] down

Stops the node: the tunnel goes down and the map stream closes; keys and login are kept.`;

export async function run(argv: string[]): Promise<number> {
  parseCommand(argv, {});
  return withClient('down', async (c) => {
    await c.down();
    return 0;
  });
}
