// `control policy check --policy FILE [--tailnet FILE] [--json]`: validates a policy (syntax, references,
// and its `tests`, run against the tailnet file or against devices synthesized from the policy).
// Exit 0 and `ok` on stdout; exit 1 with every diagnostic on stderr as `file:line:col: message`.
// With --json the diagnostics go to stdout as a JSON list (`[]` when the policy is fine), exit code as above.
import { readFileSync } from 'node:fs';
import { parseCommand, requireFlag } from '../../cli/args.js';
import { formatDiagnostic, type Diagnostic } from '../../types/errors.js';
import { checkPolicy, parseTailnet } from '../../policy/index.js';
import type { Tailnet } from '../../types/tailnet.js';

export const usage = `usage: control policy check --policy FILE [--tailnet FILE] [--json]

Validates a policy file: syntax, references, and its tests section. Without --tailnet, tests run
against devices synthesized from the users and tags the policy names.

  --policy FILE   the policy (HuJSON)
  --tailnet FILE  a tailnet file to run the tests against
  --json          print diagnostics as a JSON list on stdout ([] when ok) instead of text on stderr

Exit status: 0 ok, 1 the policy (or tailnet file) has errors, 2 bad usage.`;

/** Reads a file, turning I/O errors into a diagnostic rather than a stack trace. */
export function readInput(path: string): { text: string | null; diagnostic: Diagnostic | null } {
  try {
    return { text: readFileSync(path, 'utf8'), diagnostic: null };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { text: null, diagnostic: { file: path, line: 1, col: 1, code: 'ERR_POLICY_READ', message: `cannot read file: ${e.code ?? e.message}` } };
  }
}

export function report(diagnostics: Diagnostic[], json: boolean): void {
  if (json) process.stdout.write(JSON.stringify(diagnostics, null, 2) + '\n');
  else for (const d of diagnostics) process.stderr.write(formatDiagnostic(d) + '\n');
}

/** Loads and validates the tailnet file; null plus diagnostics on error. */
export function loadTailnet(path: string): { tailnet: Tailnet | null; diagnostics: Diagnostic[] } {
  const input = readInput(path);
  if (input.text === null) return { tailnet: null, diagnostics: [input.diagnostic as Diagnostic] };
  return parseTailnet(input.text, path);
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, { policy: { type: 'string' }, tailnet: { type: 'string' }, json: { type: 'boolean' } });
  const policyPath = requireFlag(values.policy, 'policy');
  const json = values.json === true;
  let tailnet: Tailnet | undefined;
  if (values.tailnet !== undefined) {
    const t = loadTailnet(requireFlag(values.tailnet, 'tailnet'));
    if (!t.tailnet) {
      report(t.diagnostics, json);
      return 1;
    }
    tailnet = t.tailnet;
  }
  const input = readInput(policyPath);
  if (input.text === null) {
    report([input.diagnostic as Diagnostic], json);
    return 1;
  }
  const { diagnostics } = checkPolicy(input.text, policyPath, tailnet);
  if (diagnostics.length > 0) {
    report(diagnostics, json);
    return 1;
  }
  if (json) report([], true);
  else process.stdout.write('ok\n');
  return 0;
}
