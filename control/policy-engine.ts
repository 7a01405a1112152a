// The seam between control and the policy engine (policy/index.ts). Control depends only on the small
// interface below, so the coordinator can be driven in tests and benchmarks by the real engine while the
// rest of control never reaches into policy/'s internals. Control never parses policy text itself: what it
// needs to know about a policy (tag ownership, the allow-all quirk) is asked here.
import type { Diagnostic } from '../types/errors.js';
import type { FilterRule, RuleOrigin } from '../types/filter-rule.js';
import type { Tailnet, TailnetNode } from '../types/tailnet.js';
import { checkPolicy, PolicyCompiler } from '../policy/index.js';
import { parseStored, policyTags, type TagPolicy } from './policy-tags.js';

export type { TagApplier } from '../policy/index.js';

export interface CompiledNode {
  rules: FilterRule[];
  origins: RuleOrigin[];
  capMap: Record<string, unknown[]>;
}

/** What control needs from a compiler bound to one policy and one tailnet. */
export interface NodeCompiler {
  compileNode(name: string): CompiledNode;
  /** Node names whose compiled output may have changed. */
  upsertNode(node: TailnetNode): string[];
  removeNode(name: string): string[];
  setNow(now: number): string[];
  nextExpiry(): number | null;
}

export interface PolicyCheck {
  ok: boolean;
  diagnostics: Diagnostic[];
  /** The policy has neither `grants` nor `acls`: Tailscale's allow-all quirk (false when not ok). */
  allowAll: boolean;
}

export type { TagPolicy } from './policy-tags.js';

export interface PolicyEngine {
  /** Full validation, including the policy's `tests`, against the given tailnet. */
  check(text: string, file: string, tailnet: Tailnet): PolicyCheck;
  /** A compiler for a policy that passed check(). */
  compiler(text: string, file: string, tailnet: Tailnet, now: number): NodeCompiler;
  /** Tag ownership of a policy that passed check(). */
  tags(text: string, file: string): TagPolicy;
}

/** The real engine. */
export const policyEngine: PolicyEngine = {
  check(text, file, tailnet) {
    const r = checkPolicy(text, file, tailnet);
    return { ok: r.policy !== null, diagnostics: r.diagnostics, allowAll: r.policy?.allowAll ?? false };
  },
  compiler(text, file, tailnet, now) {
    return new PolicyCompiler(parseStored(text, file), tailnet, { now });
  },
  tags: policyTags,
};
