// `control attrs set NODE custom:NAME VALUE [--expiry DURATION]`, `attrs rm NODE custom:NAME`,
// `attrs list [NODE]`. VALUE is JSON when it parses (true, 42, "x"), else the text itself. Custom
// attributes feed srcPosture; at expiry they are removed and the affected netmaps recomputed.
import { parseCommand, parseDuration, UsageError } from '../../cli/args.js';
import { parseAttrValue, removeAttr, requireNode, setAttr } from '../admin-ops.js';
import { formatTime, STATE_FLAG, table, withStore } from './common.js';

export const usage = `usage:
  control attrs set NODE custom:NAME VALUE [--expiry DURATION] --state FILE
  control attrs rm NODE custom:NAME --state FILE
  control attrs list [NODE] [--json] --state FILE
`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'set': {
      const { values, positionals } = parseCommand(rest, { ...STATE_FLAG, expiry: { type: 'string' } }, 3);
      if (positionals.length !== 3) throw new UsageError('attrs set: expected NODE custom:NAME VALUE');
      let expiresInMs: number | null = null;
      if (values.expiry !== undefined) {
        expiresInMs = parseDuration(values.expiry);
        if (expiresInMs === null || expiresInMs <= 0) throw new UsageError(`--expiry: expected a duration like 30s, 5m, 1h, 7d; got ${JSON.stringify(values.expiry)}`);
      }
      const [node, name, raw] = positionals;
      const value = parseAttrValue(raw);
      return withStore(values.state, (store) => {
        const n = setAttr(store, node, name, value, expiresInMs);
        const until = expiresInMs === null ? '' : ` until ${formatTime(Date.now() + expiresInMs)}`;
        process.stdout.write(`${n.hostname}: ${name} = ${JSON.stringify(value)}${until}\n`);
        return 0;
      });
    }
    case 'rm': {
      const { values, positionals } = parseCommand(rest, STATE_FLAG, 2);
      if (positionals.length !== 2) throw new UsageError('attrs rm: expected NODE custom:NAME');
      return withStore(values.state, (store) => {
        if (!removeAttr(store, positionals[0], positionals[1])) {
          process.stderr.write(`control: ${positionals[0]} has no attribute ${positionals[1]}\n`);
          return 1;
        }
        process.stdout.write(`removed ${positionals[1]} from ${positionals[0]}\n`);
        return 0;
      });
    }
    case 'list': {
      const { values, positionals } = parseCommand(rest, { ...STATE_FLAG, json: { type: 'boolean' } }, 1);
      return withStore(values.state, (store) => {
        const now = Date.now();
        const only = positionals[0] !== undefined ? requireNode(store, positionals[0]).id : null;
        const names = new Map(store.listNodes().map((n) => [n.id, n.hostname]));
        const attrs = store.allAttrs().filter((a) => (only === null || a.nodeId === only) && (a.expires === null || a.expires > now));
        if (values.json) {
          process.stdout.write(JSON.stringify(attrs.map((a) => ({ node: names.get(a.nodeId), ...a })), null, 2) + '\n');
        } else {
          process.stdout.write(table([['NODE', 'ATTRIBUTE', 'VALUE', 'EXPIRES'], ...attrs.map((a) => [names.get(a.nodeId) ?? String(a.nodeId), a.name, JSON.stringify(a.value), formatTime(a.expires)])]));
        }
        return 0;
      });
    }
    default:
      throw new UsageError(sub === undefined ? 'missing subcommand (set, rm, list)' : `unknown subcommand ${sub}`);
  }
}
