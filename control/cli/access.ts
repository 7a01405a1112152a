// `control access …`: just-in-time access requests on the control host (issue 15). The shapes are a
// contract (the issue text):
//   control access approvers set ATTR USER_OR_GROUP[,…] [--max DURATION] --state F
//   control access request --as LOGIN --attr custom:X --value V --for DURATION --reason TEXT [--node NODE] [--json] --state F
//   control access approve ID --as LOGIN --state F
//   control access deny ID --as LOGIN --reason TEXT --state F
//   control access revoke ID [--as LOGIN] --state F
//   control access list [--state pending|approved|…] [--json] --state F
// `--state` is both the list filter and the state file: a value that names a request state is the filter,
// any other value the file (write a file literally called `pending` as ./pending).
import { parseCommand, parseDuration, requireFlag, UsageError } from '../../cli/args.js';
import { ACCESS_STATES, isAccessState, type AccessState } from '../access-machine.js';
import {
  accessActor,
  approveRequest,
  cancelRequest,
  createRequest,
  denyRequest,
  formatMs,
  listAccessConfigs,
  listRequests,
  revokeRequest,
  setApprovers,
  type AccessRequest,
} from '../access-requests.js';
import { parseAttrValue } from '../admin-ops.js';
import { cliActor, withActor } from '../audit-log.js';
import type { Store } from '../store.js';
import { formatTime, STATE_FLAG, table, withStore } from './common.js';

export const usage = `usage:
  control access approvers set ATTR USER_OR_GROUP[,…] [--max DURATION] --state FILE
  control access approvers list [--json] --state FILE
  control access request --as LOGIN --attr custom:X --value V --for DURATION --reason TEXT [--node NODE] [--json] --state FILE
  control access approve ID --as LOGIN --state FILE
  control access deny ID --as LOGIN --reason TEXT --state FILE
  control access cancel ID --as LOGIN --state FILE
  control access revoke ID [--as LOGIN] --state FILE
  control access list [--state ${ACCESS_STATES.join('|')}] [--json] --state FILE

Approvers are logins or policy groups (group:name); admins always approve, nobody approves their own
request. --max bounds how long one request for ATTR may ask for (default 24h).
`;

/** Splits the repeated --state values into the list filter (a state name) and the state file. */
export function splitStateFlags(values: readonly string[]): { filter?: AccessState; file?: string } {
  const filters = values.filter(isAccessState);
  const files = values.filter((v) => !isAccessState(v));
  if (filters.length > 1) throw new UsageError(`--state: more than one state filter (${filters.join(', ')}); a state file with such a name is written ./${filters[1]}`);
  if (files.length > 1) throw new UsageError(`--state: more than one state file (${files.join(', ')})`);
  return { filter: filters[0], file: files[0] };
}

function parseId(text: string | undefined): number {
  if (text === undefined || !/^[0-9]{1,15}$/.test(text)) throw new UsageError(`expected a request ID (a number), got ${JSON.stringify(text ?? '')}`);
  return Number(text);
}

function describe(r: AccessRequest): string {
  const on = r.node ?? 'all devices';
  const parts = [`request ${r.id} ${r.state}: ${r.requester} ${r.attribute}=${JSON.stringify(r.value)} for ${formatMs(r.durationMs)} on ${on}`];
  if (r.approver !== null) parts.push(`${r.state === 'denied' ? 'denied' : 'approved'} by ${r.approver}`);
  if (r.state === 'approved' && r.expires !== null) parts.push(`until ${formatTime(r.expires)}`);
  if (r.decisionReason !== null) parts.push(`(${r.decisionReason})`);
  return parts.join(', ') + `\n  reason: ${r.reason}\n`;
}

/** Runs an access action in the state file as the CLI actor. */
function act(state: string | undefined, as: string | undefined, fn: (store: Store) => number): Promise<number> {
  return withStore(state, (store) => withActor(cliActor(as), () => fn(store)));
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'approvers': {
      const [verb, ...more] = rest;
      if (verb === 'set') {
        const { values, positionals } = parseCommand(more, { ...STATE_FLAG, max: { type: 'string' } }, 2);
        if (positionals.length < 1) throw new UsageError('access approvers set: expected ATTR USER_OR_GROUP[,…]');
        const list = (positionals[1] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
        let maxMs: number | undefined;
        if (values.max !== undefined) {
          const d = parseDuration(values.max);
          if (d === null || d <= 0) throw new UsageError(`--max: expected a duration like 30m, 8h, 1d; got ${JSON.stringify(values.max)}`);
          maxMs = d;
        }
        return act(values.state, undefined, (store) => {
          const c = setApprovers(store, positionals[0], list, maxMs);
          process.stdout.write(`${c.attr}: approvers ${c.approvers.join(', ') || '(admins only)'}, at most ${formatMs(c.maxMs)} per request\n`);
          return 0;
        });
      }
      if (verb === 'list') {
        const { values } = parseCommand(more, { ...STATE_FLAG, json: { type: 'boolean' } });
        return withStore(values.state, (store) => {
          const all = listAccessConfigs(store);
          if (values.json) process.stdout.write(JSON.stringify(all, null, 2) + '\n');
          else process.stdout.write(table([['ATTRIBUTE', 'APPROVERS', 'MAX'], ...all.map((c) => [c.attr, c.approvers.join(',') || '(admins)', formatMs(c.maxMs)])]));
          return 0;
        });
      }
      throw new UsageError('access approvers: expected set or list');
    }
    case 'request': {
      const { values } = parseCommand(rest, {
        ...STATE_FLAG,
        as: { type: 'string' },
        attr: { type: 'string' },
        value: { type: 'string' },
        for: { type: 'string' },
        reason: { type: 'string' },
        node: { type: 'string' },
        json: { type: 'boolean' },
      });
      const as = requireFlag(values.as, 'as');
      const attr = requireFlag(values.attr, 'attr');
      const value = parseAttrValue(requireFlag(values.value, 'value'));
      const forText = requireFlag(values.for, 'for');
      const durationMs = parseDuration(forText);
      if (durationMs === null || durationMs <= 0) throw new UsageError(`--for: expected a duration like 30m, 2h; got ${JSON.stringify(forText)}`);
      const reason = requireFlag(values.reason, 'reason');
      return act(values.state, as, (store) => {
        const r = createRequest(store, { requester: as, attr, value, durationMs, reason, node: values.node });
        process.stdout.write(values.json ? JSON.stringify(r, null, 2) + '\n' : describe(r));
        return 0;
      });
    }
    case 'approve':
    case 'deny':
    case 'cancel':
    case 'revoke': {
      const { values, positionals } = parseCommand(rest, { ...STATE_FLAG, as: { type: 'string' }, reason: { type: 'string' }, json: { type: 'boolean' } }, 1);
      const id = parseId(positionals[0]);
      const as = sub === 'revoke' ? values.as : requireFlag(values.as, 'as');
      if (values.reason !== undefined && sub !== 'deny') throw new UsageError(`access ${sub}: --reason is for deny`);
      const reason = sub === 'deny' ? requireFlag(values.reason, 'reason') : '';
      return act(values.state, as, (store) => {
        const who = accessActor(store, as ?? null);
        const r =
          sub === 'approve' ? approveRequest(store, id, who)
          : sub === 'deny' ? denyRequest(store, id, who, reason)
          : sub === 'cancel' ? cancelRequest(store, id, who)
          : revokeRequest(store, id, who);
        process.stdout.write(values.json ? JSON.stringify(r.request, null, 2) + '\n' : describe(r.request));
        return 0;
      });
    }
    case 'list': {
      const { values } = parseCommand(rest, { state: { type: 'string', multiple: true }, json: { type: 'boolean' } });
      const { filter, file } = splitStateFlags(values.state ?? []);
      return withStore(file, (store) => {
        const rows = listRequests(store, filter === undefined ? {} : { state: filter });
        if (values.json) {
          process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
          return 0;
        }
        process.stdout.write(
          table([
            ['ID', 'STATE', 'REQUESTER', 'ATTRIBUTE', 'VALUE', 'NODES', 'APPROVER', 'CREATED', 'EXPIRES', 'REASON'],
            ...rows.map((r) => [
              String(r.id),
              r.state,
              r.requester,
              r.attribute,
              JSON.stringify(r.value),
              r.nodes.length > 0 ? r.nodes.join(',') : (r.node ?? '(all)'),
              r.approver ?? '-',
              formatTime(r.created),
              formatTime(r.state === 'pending' ? r.pendingUntil : r.expires),
              r.reason,
            ]),
          ]),
        );
        return 0;
      });
    }
    default:
      throw new UsageError(sub === undefined ? 'missing subcommand (approvers, request, approve, deny, cancel, revoke, list)' : `unknown subcommand ${sub}`);
  }
}
