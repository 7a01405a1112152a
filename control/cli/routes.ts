// `control nodes routes [--json]`: every node's advertised, approved and primary subnet routes;
// `control nodes routes approve|unapprove NODE PREFIX...`: an admin's approval (routes.ts). A running
// server applies an approval within 1 s; the primary column is what the running server last elected.
import { parseCommand, UsageError } from '../../cli/args.js';
import { approveRoutes, routeSummaries, unapproveRoutes, type NodeRoutes } from '../routes.js';
import { STATE_FLAG, table, withStore } from './common.js';

function list(routes: readonly string[]): string {
  return routes.join(',') || '-';
}

function print(rows: NodeRoutes[], json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return;
  }
  const body = rows.map((r) => [String(r.id), r.name, list(r.advertised), list(r.approved), list(r.autoApproved), list(r.effective), list(r.primary)]);
  process.stdout.write(table([['ID', 'NAME', 'ADVERTISED', 'APPROVED', 'AUTO-APPROVED', 'SERVING', 'PRIMARY'], ...body]));
}

export async function runRoutes(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === 'approve' || verb === 'unapprove') {
    const { values, positionals } = parseCommand(rest, { ...STATE_FLAG, json: { type: 'boolean' } }, Infinity);
    if (positionals.length < 2) throw new UsageError(`nodes routes ${verb}: expected NODE PREFIX...`);
    const [node, ...prefixes] = positionals;
    return withStore(values.state, (store) => {
      const r = verb === 'approve' ? approveRoutes(store, node, prefixes) : unapproveRoutes(store, node, prefixes);
      print([r], values.json === true);
      return 0;
    });
  }
  const { values } = parseCommand(argv, { ...STATE_FLAG, json: { type: 'boolean' } });
  return withStore(values.state, (store) => {
    print(routeSummaries(store), values.json === true);
    return 0;
  });
}
