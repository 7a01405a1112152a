// `control policy compile --policy FILE --tailnet FILE [--node NAME]`: prints, as JSON on stdout, the
// inbound FilterRule list each node would receive: `{"<node name>": FilterRule[]}` for every node (sorted
// by name) or for the one named. The policy must pass `policy check` (including its tests) first; on any
// error the diagnostics go to stderr as `file:line:col: message` and the exit status is 1.
import { parseCommand, requireFlag } from '../../cli/args.js';
import { checkPolicy, PolicyCompiler } from '../../policy/index.js';
import type { FilterRule } from '../../types/filter-rule.js';
import { loadTailnet, readInput, report } from './policy-check.js';

export const usage = `usage: control policy compile --policy FILE --tailnet FILE [--node NAME]

Compiles the policy for every node of the tailnet (or just NAME) and prints {"<node>": FilterRule[]}.

  --policy FILE   the policy (HuJSON)
  --tailnet FILE  the tailnet file (users, nodes)
  --node NAME     only this node

Exit status: 0 ok, 1 errors (printed as file:line:col: message on stderr), 2 bad usage.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, { policy: { type: 'string' }, tailnet: { type: 'string' }, node: { type: 'string' } });
  const policyPath = requireFlag(values.policy, 'policy');
  const tailnetPath = requireFlag(values.tailnet, 'tailnet');
  const t = loadTailnet(tailnetPath);
  if (!t.tailnet) {
    report(t.diagnostics, false);
    return 1;
  }
  const input = readInput(policyPath);
  if (input.text === null) {
    report(input.diagnostic ? [input.diagnostic] : [], false);
    return 1;
  }
  const { policy, diagnostics } = checkPolicy(input.text, policyPath, t.tailnet);
  if (!policy) {
    report(diagnostics, false);
    return 1;
  }
  const compiler = new PolicyCompiler(policy, t.tailnet);
  const names = compiler.nodeNames();
  if (values.node !== undefined && !names.includes(values.node)) {
    process.stderr.write(`${tailnetPath}: unknown node ${JSON.stringify(values.node)} (nodes: ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', …' : ''})\n`);
    return 1;
  }
  const out: Record<string, FilterRule[]> = {};
  for (const name of values.node !== undefined ? [values.node] : names) out[name] = compiler.compileNode(name).rules;
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  return 0;
}
