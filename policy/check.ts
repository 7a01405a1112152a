// checkPolicy: the whole load-time pipeline that `policy check` and control's policy updates run —
// parse and validate, then compile and evaluate `tests` (against the given tailnet, or one synthesized
// from the identities the policy names, so tests run without a tailnet file too).
import type { Diagnostic } from '../types/errors.js';
import type { Tailnet } from '../types/tailnet.js';
import { PolicyCompiler, type CompileOptions } from './compiler.js';
import { ERR, sortDiagnostics } from './diagnostics.js';
import type { Policy } from './model.js';
import { parsePolicy } from './parse-policy.js';
import { synthesizeTailnet } from './policy-tests.js';

export function checkPolicy(text: string, file: string, tailnet?: Tailnet, options: CompileOptions = {}): { policy: Policy | null; diagnostics: Diagnostic[] } {
  const parsed = parsePolicy(text, file);
  if (!parsed.policy) return parsed;
  let diagnostics: Diagnostic[];
  try {
    const compiler = new PolicyCompiler(parsed.policy, tailnet ?? synthesizeTailnet(parsed.policy), options);
    diagnostics = compiler.runTests();
  } catch (err) {
    diagnostics = [{ file, line: 1, col: 1, code: ERR.SYNTAX, message: `internal error while compiling the policy: ${(err as Error).message}` }];
  }
  diagnostics = sortDiagnostics(diagnostics);
  return { policy: diagnostics.length === 0 ? parsed.policy : null, diagnostics };
}
