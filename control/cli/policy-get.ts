// `control policy get --state FILE [--version N] [--list]`: prints the active policy text (or a stored
// version) exactly as it was set; --list shows the stored versions.
import { parseCommand, UsageError } from '../../cli/args.js';
import { formatTime, STATE_FLAG, table, withStore } from './common.js';

export const usage = `usage: control policy get --state FILE [--version N] [--list] [--json]
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, { ...STATE_FLAG, version: { type: 'string' }, list: { type: 'boolean' }, json: { type: 'boolean' } });
  if (values.version !== undefined && !/^[0-9]+$/.test(values.version)) throw new UsageError('--version: expected a number');
  return withStore(values.state, (store) => {
    const active = store.activePolicy();
    if (values.list) {
      const rows = store.listPolicies().map((p) => ({ version: p.id, file: p.file, created: p.created, active: p.id === active?.id }));
      if (values.json) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      else process.stdout.write(table([['VERSION', 'FILE', 'CREATED', 'ACTIVE'], ...rows.map((r) => [String(r.version), r.file, formatTime(r.created), r.active ? '*' : ''])]));
      return 0;
    }
    const p = values.version !== undefined ? store.listPolicies().find((x) => x.id === Number(values.version)) : active;
    if (!p) {
      process.stderr.write(values.version !== undefined ? `control: no policy version ${values.version}\n` : 'control: no policy has been set\n');
      return 1;
    }
    if (values.json) process.stdout.write(JSON.stringify({ version: p.id, file: p.file, created: p.created, active: p.id === active?.id, text: p.text }) + '\n');
    else process.stdout.write(p.text.endsWith('\n') ? p.text : p.text + '\n');
    return 0;
  });
}
