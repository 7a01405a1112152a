// `control audit list [--since D] [--actor L] [--action A] [--limit N] [--json] --state F`: the audit log
// (audit-log.ts), oldest first. --since takes a duration back from now (`2h`) or an ISO time.
import { parseCommand, parseDuration, UsageError } from '../../cli/args.js';
import { listAudit } from '../audit-log.js';
import { formatTime, STATE_FLAG, table, withStore } from './common.js';

export const usage = `usage:
  control audit list [--since DURATION|ISO-TIME] [--actor LOGIN] [--action ACTION] [--limit N] [--json] --state FILE
`;

/** `2h` (ago) or an ISO date/time; null when neither. */
export function parseSince(text: string, now = Date.now()): number | null {
  const d = parseDuration(text);
  if (d !== null) return now - d;
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return null;
  const t = Date.parse(text);
  return Number.isNaN(t) ? null : t;
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'list') throw new UsageError(sub === undefined ? 'missing subcommand (list)' : `unknown subcommand ${sub}`);
  const { values } = parseCommand(rest, {
    ...STATE_FLAG,
    since: { type: 'string' },
    actor: { type: 'string' },
    action: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
  });
  let since: number | undefined;
  if (values.since !== undefined) {
    const t = parseSince(values.since);
    if (t === null) throw new UsageError(`--since: expected a duration (2h, 7d) or an ISO time; got ${JSON.stringify(values.since)}`);
    since = t;
  }
  let limit: number | undefined;
  if (values.limit !== undefined) {
    if (!/^[1-9][0-9]{0,4}$/.test(values.limit)) throw new UsageError(`--limit: expected 1-99999, got ${JSON.stringify(values.limit)}`);
    limit = Number(values.limit);
  }
  return withStore(values.state, (store) => {
    const entries = listAudit(store.db, { since, actor: values.actor, action: values.action, limit });
    if (values.json) {
      process.stdout.write(JSON.stringify(entries, null, 2) + '\n');
      return 0;
    }
    process.stdout.write(table([['TIME', 'ACTOR', 'VIA', 'ACTION', 'TARGET', 'SUMMARY'], ...entries.map((e) => [formatTime(e.time), e.actor, e.via, e.action, e.target, e.summary])]));
    return 0;
  });
}
