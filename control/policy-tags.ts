// What control asks about a stored policy's tags (policy/tag-owners.ts): declared tags, who may apply
// them, and Tailscale's allow-all quirk. Apart from policy-engine.ts so that the admin commands that only
// check tags (`control nodes tags`) load the policy parser, never the compiler (CLI start-up, issue 17).
import type { Diagnostic } from '../types/errors.js';
import { parsePolicy } from '../policy/parse-policy.js';
import { deniedTags, type TagApplier } from '../policy/tag-owners.js';
import type { Policy } from '../policy/model.js';

/** What control asks about a valid policy's tags (policy/tag-owners.ts) and defaults. */
export interface TagPolicy {
  /** Neither `grants` nor `acls`: Tailscale's allow-all quirk. */
  readonly allowAll: boolean;
  /** True when tagOwners declares the tag. */
  declares(tag: string): boolean;
  /** The requested tags `who` may not apply, in request order, deduplicated. */
  deniedTags(who: TagApplier, requested: readonly string[]): string[];
}

/** Parses a stored (already validated) policy; its tests ran when it was stored. One entry memo: the
 * coordinator asks for the compiler and the tags of the same text one after the other. */
let last: { text: string; file: string; policy: Policy } | null = null;
export function parseStored(text: string, file: string): Policy {
  if (last && last.text === text && last.file === file) return last.policy;
  const r = parsePolicy(text, file);
  if (!r.policy) {
    throw new Error(`policy ${file} does not compile: ${r.diagnostics.map((d: Diagnostic) => d.message).join('; ')}`);
  }
  last = { text, file, policy: r.policy };
  return r.policy;
}

/** Tag ownership of a policy that passed the engine's check(). */
export function policyTags(text: string, file: string): TagPolicy {
  const policy = parseStored(text, file);
  return {
    allowAll: policy.allowAll,
    declares: (tag) => policy.tagOwners.has(tag),
    deniedTags: (who: TagApplier, requested: readonly string[]) => deniedTags(policy, who, requested),
  };
}

/** The groups of a valid policy (group:name → member logins): who may approve access requests. */
export function policyGroups(text: string, file: string): ReadonlyMap<string, readonly string[]> {
  return parseStored(text, file).groups;
}
