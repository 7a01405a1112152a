// `control keys create --user LOGIN [--reusable] [--ephemeral] [--tags tag:a,tag:b] [--expiry DURATION]`
// prints ONLY the key on stdout (scripts capture it). `keys list [--json]` shows ids and state, never
// secrets. `keys revoke ID` (the id, or the whole key text).
import { parseCommand, parseDuration, requireFlag, UsageError } from '../../cli/args.js';
import { createAuthKey, keySummaries, revokeAuthKey } from '../admin-ops.js';
import { parseSecret } from '../secrets.js';
import { formatTime, STATE_FLAG, table, withStore } from './common.js';

export const usage = `usage:
  control keys create --user LOGIN [--reusable] [--ephemeral] [--tags tag:a,tag:b] [--expiry DURATION] --state FILE
  control keys list [--json] --state FILE
  control keys revoke ID --state FILE
`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'create': {
      const { values } = parseCommand(rest, {
        ...STATE_FLAG,
        user: { type: 'string' },
        reusable: { type: 'boolean' },
        ephemeral: { type: 'boolean' },
        tags: { type: 'string' },
        expiry: { type: 'string' },
      });
      const user = requireFlag(values.user, 'user');
      let expiresInMs: number | null = null;
      if (values.expiry !== undefined) {
        expiresInMs = parseDuration(values.expiry);
        if (expiresInMs === null) throw new UsageError(`--expiry: expected a duration like 30s, 5m, 1h, 7d; got ${JSON.stringify(values.expiry)}`);
      }
      const tags = values.tags ? values.tags.split(',').map((t) => t.trim()).filter((t) => t !== '') : [];
      return withStore(values.state, (store) => {
        const k = createAuthKey(store, { user, reusable: values.reusable, ephemeral: values.ephemeral, tags, expiresInMs });
        process.stdout.write(k.key + '\n');
        return 0;
      });
    }
    case 'list': {
      const { values } = parseCommand(rest, { ...STATE_FLAG, json: { type: 'boolean' } });
      return withStore(values.state, (store) => {
        const keys = keySummaries(store);
        if (values.json) {
          process.stdout.write(JSON.stringify(keys, null, 2) + '\n');
          return 0;
        }
        const rows = keys.map((k) => [
          k.id,
          k.user,
          [k.reusable ? 'reusable' : 'one-off', k.ephemeral ? 'ephemeral' : ''].filter(Boolean).join(','),
          k.tags.join(',') || '-',
          formatTime(k.expires),
          String(k.uses),
          k.state,
        ]);
        process.stdout.write(table([['ID', 'USER', 'KIND', 'TAGS', 'EXPIRES', 'USES', 'STATE'], ...rows]));
        return 0;
      });
    }
    case 'revoke': {
      const { values, positionals } = parseCommand(rest, STATE_FLAG, 1);
      if (positionals.length !== 1) throw new UsageError('keys revoke: expected ID');
      const id = parseSecret(positionals[0], 'gwkey')?.id ?? positionals[0];
      return withStore(values.state, (store) => {
        if (!store.authKey(id)) {
          process.stderr.write(`control: no such key: ${id}\n`);
          return 1;
        }
        if (!revokeAuthKey(store, id)) process.stdout.write(`key ${id} was already revoked\n`);
        else process.stdout.write(`revoked key ${id}\n`);
        return 0;
      });
    }
    default:
      throw new UsageError(sub === undefined ? 'missing subcommand (create, list, revoke)' : `unknown subcommand ${sub}`);
  }
}
