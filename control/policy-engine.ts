// The seam between control and the policy engine (policy/index.ts). Control depends only on the small
// interface below, so the coordinator can be driven in tests and benchmarks by the real engine while the
// rest of control never reaches into policy/'s internals. Control never parses policy text itself: what it
// needs to know about a policy (tag ownership, the allow-all quirk) is asked here.
import type { Diagnostic } from '../types/errors.js';
import type { FilterRule, RuleOrigin } from '../types/filter-rule.js';
import type { Tailnet, TailnetNode } from '../types/tailnet.js';
import { checkPolicy, deniedTags, parsePolicy, PolicyCompiler, type Policy, type TagApplier } from '../policy/index.js';

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

/** What control asks about a valid policy's tags (policy/tag-owners.ts) and defaults. */
export interface TagPolicy {
  /** Neither `grants` nor `acls`: Tailscale's allow-all quirk. */
  readonly allowAll: boolean;
  /** True when tagOwners declares the tag. */
  declares(tag: string): boolean;
  /** The requested tags `who` may not apply, in request order, deduplicated. */
  deniedTags(who: TagApplier, requested: readonly string[]): string[];
}

export interface PolicyEngine {
  /** Full validation, including the policy's `tests`, against the given tailnet. */
  check(text: string, file: string, tailnet: Tailnet): PolicyCheck;
  /** A compiler for a policy that passed check(). */
  compiler(text: string, file: string, tailnet: Tailnet, now: number): NodeCompiler;
  /** Tag ownership of a policy that passed check(). */
  tags(text: string, file: string): TagPolicy;
}

/** Parses a stored (already validated) policy; its tests ran when it was stored. One entry memo: the
 * coordinator asks for the compiler and the tags of the same text one after the other. */
let last: { text: string; file: string; policy: Policy } | null = null;
function parseStored(text: string, file: string): Policy {
  if (last && last.text === text && last.file === file) return last.policy;
  const r = parsePolicy(text, file);
  if (!r.policy) {
    throw new Error(`policy ${file} does not compile: ${r.diagnostics.map((d: Diagnostic) => d.message).join('; ')}`);
  }
  last = { text, file, policy: r.policy };
  return r.policy;
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
  tags(text, file) {
    const policy = parseStored(text, file);
    return {
      allowAll: policy.allowAll,
      declares: (tag) => policy.tagOwners.has(tag),
      deniedTags: (who, requested) => deniedTags(policy, who, requested),
    };
  },
};
