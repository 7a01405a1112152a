// `control users add LOGIN [--role admin|member] [--name NAME] --state FILE`, `users list [--json]`,
// and `users token LOGIN` (an admin API bearer token, printed once on stdout; only its hash is kept).
import { parseCommand, UsageError } from '../../cli/args.js';
import type { UserRole } from '../../types/tailnet.js';
import { addUser, createApiToken } from '../admin-ops.js';
import { formatTime, STATE_FLAG, table, withStore } from './common.js';

export const usage = `usage:
  control users add LOGIN [--role admin|member] [--name NAME] --state FILE
  control users list [--json] --state FILE
  control users token LOGIN --state FILE     create an admin API token (printed once)
`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'add': {
      const { values, positionals } = parseCommand(rest, { ...STATE_FLAG, role: { type: 'string' }, name: { type: 'string' } }, 1);
      if (positionals.length !== 1) throw new UsageError('users add: expected LOGIN');
      const role = values.role ?? 'member';
      if (role !== 'admin' && role !== 'member') throw new UsageError(`--role must be admin or member, got ${JSON.stringify(role)}`);
      return withStore(values.state, (store) => {
        const u = addUser(store, positionals[0], role as UserRole, values.name);
        process.stdout.write(`added user ${u.login} (id ${u.id}, ${u.role})\n`);
        return 0;
      });
    }
    case 'list': {
      const { values } = parseCommand(rest, { ...STATE_FLAG, json: { type: 'boolean' } });
      return withStore(values.state, (store) => {
        const users = store.listUsers();
        if (values.json) process.stdout.write(JSON.stringify(users, null, 2) + '\n');
        else process.stdout.write(table([['ID', 'LOGIN', 'NAME', 'ROLE', 'CREATED'], ...users.map((u) => [String(u.id), u.login, u.name, u.role, formatTime(u.created)])]));
        return 0;
      });
    }
    case 'token': {
      const { values, positionals } = parseCommand(rest, STATE_FLAG, 1);
      if (positionals.length !== 1) throw new UsageError('users token: expected LOGIN');
      return withStore(values.state, (store) => {
        process.stdout.write(createApiToken(store, positionals[0]).token + '\n');
        return 0;
      });
    }
    default:
      throw new UsageError(sub === undefined ? 'missing subcommand (add, list, token)' : `unknown subcommand ${sub}`);
  }
}
