// `agent logout`: leave the tailnet; control forgets an ephemeral node at once.
import { parseCommand } from '../../cli/args.js';
import { withClient } from './common.js';

export const usage = `usage: agent [--socket PATH] logout

Logs this node out of control and stops it. A new 'agent up --auth-key' is needed afterwards.`;

export async function run(argv: string[]): Promise<number> {
  parseCommand(argv, {});
  return withClient('logout', async (c) => {
    await c.logout();
    return 0;
  });
}
