// `control policy set FILE --state FILE`: validates FILE in full (syntax, references, `tests`) against the
// stored tailnet; on success it becomes the active version (a running server applies it within 1 s); on
// failure every diagnostic is printed as file:line:col: message, nothing changes, exit 1.
import { parseCommand, UsageError } from '../../cli/args.js';
import { formatDiagnostic } from '../../types/errors.js';
import { policyEngine } from '../policy-engine.js';
import { ALLOW_ALL_WARNING, storePolicy } from '../policy-store.js';
import { readTextFile, STATE_FLAG, withStore } from './common.js';

export const usage = `usage: control policy set FILE --state FILE

Validates FILE (including its tests) and makes it the active policy. On failure the running policy stays
and every diagnostic is printed as file:line:col: message (exit 1).
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, STATE_FLAG, 1);
  if (positionals.length !== 1) throw new UsageError('policy set: expected FILE');
  const file = positionals[0];
  const text = readTextFile(file);
  return withStore(values.state, (store) => {
    const r = storePolicy(store, policyEngine, text, file);
    if (!r.ok) {
      for (const d of r.diagnostics) process.stderr.write(formatDiagnostic(d) + '\n');
      const kept = r.version === null ? 'no policy is active' : `version ${r.version} stays active`;
      process.stderr.write(`control policy set: ${file} rejected; ${kept}\n`);
      return 1;
    }
    if (r.allowAll) process.stderr.write(ALLOW_ALL_WARNING + '\n');
    process.stdout.write(r.unchanged ? `policy unchanged (version ${r.version})\n` : `policy version ${r.version} active\n`);
    return 0;
  });
}
