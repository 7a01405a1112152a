// One recorded Tailscale case run through our pipeline (checkPolicy, then PolicyCompiler per node) and
// judged: an accepted case passes when every node's rules are semantically equal to the recorded ones
// (a node absent from the recording received no rules); a rejected case passes when we reject too.
import { formatDiagnostic } from '../../../types/errors.js';
import type { FilterRule } from '../../../types/filter-rule.js';
import type { Tailnet } from '../../../types/tailnet.js';
import { checkPolicy, PolicyCompiler } from '../../index.js';
import { semanticDiff } from './semantic-equal.js';

export interface CompatCase {
  name: string;
  category: 'grant' | 'acl' | 'routes' | 'policytest';
  policy: unknown;
  tailnet: Tailnet;
  rules?: Record<string, FilterRule[]>;
  error?: string;
}

export interface CaseResult {
  ok: boolean;
  /** Why it failed (first differences, or the unexpected diagnostics); empty when ok. */
  detail: string;
  /** For rejected cases: our first message contains Tailscale's text. */
  sameMessage?: boolean;
}

/** Parses the JSON-lines text of a case file. (Reading the file is the test's job: policy/ does no I/O.) */
export function parseCases(text: string): CompatCase[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as CompatCase);
}

export function runCase(c: CompatCase): CaseResult {
  const text = typeof c.policy === 'string' ? c.policy : JSON.stringify(c.policy, null, 2);
  const file = `${c.name}.hujson`;
  const { policy, diagnostics } = checkPolicy(text, file, c.tailnet);
  if (c.error !== undefined) {
    if (policy) return { ok: false, detail: `accepted; Tailscale rejects: ${c.error}` };
    const msgs = diagnostics.map(formatDiagnostic);
    return { ok: true, detail: '', sameMessage: msgs.some((m) => m.includes(c.error as string)) };
  }
  if (!policy) return { ok: false, detail: `rejected: ${diagnostics.map(formatDiagnostic).join(' | ')}` };
  const compiler = new PolicyCompiler(policy, c.tailnet);
  const problems: string[] = [];
  for (const node of c.tailnet.nodes) {
    const ours = compiler.compileNode(node.name).rules;
    const theirs = c.rules?.[node.name] ?? [];
    const diff = semanticDiff(ours, theirs, [...node.ips, ...(node.routes ?? [])]);
    if (diff.length > 0) problems.push(`${node.name}: ${diff.slice(0, 3).join('; ')}`);
  }
  return { ok: problems.length === 0, detail: problems.slice(0, 4).join('\n') };
}
