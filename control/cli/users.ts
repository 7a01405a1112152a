// `control users add LOGIN [--role admin|member] [--name NAME] --state FILE`, `users list [--json]`,
// `users token create|list|revoke` (admin API bearer tokens, printed once on stdout; only the hash is
// kept; `users token LOGIN` is the old spelling of create), `users set-role`, `users delete`.
import { parseCommand, parseDuration, UsageError } from '../../cli/args.js';
import type { UserRole } from '../../types/tailnet.js';
import { addUser, createApiToken, deleteUser, revokeApiToken, setUserRole, tokenSummaries } from '../admin-ops.js';
import { parseSecret } from '../secrets.js';
import { formatTime, STATE_FLAG, table, withStore } from './common.js';

export const usage = `usage:
  control users add LOGIN [--role admin|member] [--name NAME] --state FILE
  control users list [--json] --state FILE
  control users token create LOGIN [--expiry DURATION] --state FILE   create an API token (printed once;
                                                a member's reaches only their own access requests)
  control users token list [--json] --state FILE
  control users token revoke ID --state FILE
  control users set-role LOGIN admin|member --state FILE
  control users delete LOGIN --state FILE      also removes their nodes, auth keys and API tokens
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
      // `users token LOGIN` (the old shape) still creates a token; logins always contain '@'.
      const [verb, ...more] = rest;
      if (verb === 'create' || (verb !== undefined && verb.includes('@'))) {
        const { values, positionals } = parseCommand(verb === 'create' ? more : rest, { ...STATE_FLAG, expiry: { type: 'string' } }, 1);
        if (positionals.length !== 1) throw new UsageError('users token create: expected LOGIN');
        let expiresInMs: number | null = null;
        if (values.expiry !== undefined) {
          expiresInMs = parseDuration(values.expiry);
          if (expiresInMs === null) throw new UsageError(`--expiry: expected a duration like 30s, 5m, 1h, 7d; got ${JSON.stringify(values.expiry)}`);
        }
        return withStore(values.state, (store) => {
          process.stdout.write(createApiToken(store, positionals[0], Date.now(), expiresInMs).token + '\n');
          return 0;
        });
      }
      if (verb === 'list') {
        const { values } = parseCommand(more, { ...STATE_FLAG, json: { type: 'boolean' } });
        return withStore(values.state, (store) => {
          const tokens = tokenSummaries(store);
          if (values.json) process.stdout.write(JSON.stringify(tokens, null, 2) + '\n');
          else process.stdout.write(table([['ID', 'USER', 'CREATED', 'EXPIRES', 'LAST USED', 'STATE'], ...tokens.map((t) => [t.id, t.user, formatTime(t.created), formatTime(t.expires), formatTime(t.lastUsed), t.state])]));
          return 0;
        });
      }
      if (verb === 'revoke') {
        const { values, positionals } = parseCommand(more, STATE_FLAG, 1);
        if (positionals.length !== 1) throw new UsageError('users token revoke: expected ID');
        const id = parseSecret(positionals[0], 'gwapi')?.id ?? positionals[0];
        return withStore(values.state, (store) => {
          process.stdout.write(revokeApiToken(store, id) ? `revoked API token ${id}\n` : `API token ${id} was already revoked\n`);
          return 0;
        });
      }
      throw new UsageError('users token: expected create LOGIN, list or revoke ID');
    }
    case 'set-role': {
      const { values, positionals } = parseCommand(rest, STATE_FLAG, 2);
      if (positionals.length !== 2) throw new UsageError('users set-role: expected LOGIN admin|member');
      const role = positionals[1];
      if (role !== 'admin' && role !== 'member') throw new UsageError(`users set-role: role must be admin or member, got ${JSON.stringify(role)}`);
      return withStore(values.state, (store) => {
        const u = setUserRole(store, positionals[0], role);
        process.stdout.write(`user ${u.login} is now ${u.role}\n`);
        return 0;
      });
    }
    case 'delete': {
      const { values, positionals } = parseCommand(rest, STATE_FLAG, 1);
      if (positionals.length !== 1) throw new UsageError('users delete: expected LOGIN');
      return withStore(values.state, (store) => {
        const removed = deleteUser(store, positionals[0]);
        process.stdout.write(`deleted user ${positionals[0]}, ${removed.length} node${removed.length === 1 ? '' : 's'}, and their auth keys and API tokens\n`);
        return 0;
      });
    }
    default:
      throw new UsageError(sub === undefined ? 'missing subcommand (add, list, token, set-role, delete)' : `unknown subcommand ${sub}`);
  }
}
