// `control nodes list [--json]`, `nodes delete NODE`, `nodes tags NODE tag:a,tag:b` (NODE: hostname or
// ID; an empty tag list makes the node user-owned again). A running server applies changes within 1 s.
import { parseCommand, UsageError } from '../../cli/args.js';
import { deleteNode, nodeSummaries, setNodeTags } from '../admin-ops.js';
import { formatTime, STATE_FLAG, table, withStore } from './common.js';
import { runRoutes } from './routes.js';

export const usage = `usage:
  control nodes list [--json] --state FILE
  control nodes delete NODE --state FILE
  control nodes tags NODE tag:a,tag:b --state FILE     (use "" to remove all tags)
  control nodes routes [--json] --state FILE           advertised / approved / primary subnet routes
  control nodes routes approve|unapprove NODE PREFIX... --state FILE   (exit node: 0.0.0.0/0 ::/0)
`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'list': {
      const { values } = parseCommand(rest, { ...STATE_FLAG, json: { type: 'boolean' } });
      return withStore(values.state, (store) => {
        const nodes = nodeSummaries(store);
        if (values.json) {
          process.stdout.write(JSON.stringify(nodes, null, 2) + '\n');
          return 0;
        }
        const rows = nodes.map((n) => [
          String(n.id),
          n.name,
          n.addresses[0],
          n.tags.length > 0 ? 'tagged-devices' : n.user,
          n.tags.join(',') || '-',
          n.os,
          n.ephemeral ? 'ephemeral' : '-',
          formatTime(n.lastSeen),
          n.expired ? 'expired' : formatTime(n.keyExpiry),
        ]);
        process.stdout.write(table([['ID', 'NAME', 'IP', 'OWNER', 'TAGS', 'OS', 'EPHEMERAL', 'LAST SEEN', 'KEY EXPIRY'], ...rows]));
        return 0;
      });
    }
    case 'delete': {
      const { values, positionals } = parseCommand(rest, STATE_FLAG, 1);
      if (positionals.length !== 1) throw new UsageError('nodes delete: expected NODE');
      return withStore(values.state, (store) => {
        const n = deleteNode(store, positionals[0]);
        process.stdout.write(`deleted node ${n.hostname} (id ${n.id})\n`);
        return 0;
      });
    }
    case 'tags': {
      const { values, positionals } = parseCommand(rest, STATE_FLAG, 2);
      if (positionals.length !== 2) throw new UsageError('nodes tags: expected NODE TAGS');
      const tags = positionals[1].split(',').map((t) => t.trim()).filter((t) => t !== '');
      return withStore(values.state, (store) => {
        const n = setNodeTags(store, positionals[0], tags);
        process.stdout.write(`node ${n.hostname} tags: ${n.tags.join(',') || '(none)'}\n`);
        return 0;
      });
    }
    case 'routes':
      return runRoutes(rest);
    default:
      throw new UsageError(sub === undefined ? 'missing subcommand (list, delete, tags, routes)' : `unknown subcommand ${sub}`);
  }
}
