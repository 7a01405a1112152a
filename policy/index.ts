// The policy engine's public API (issue 2). Pure: no I/O; the clock is read only when no `now` is given.
// - parsePolicy: HuJSON text → validated Policy, every problem as a positioned Diagnostic (never throws).
// - PolicyCompiler: one policy × one tailnet; compileNode(name) → the node's inbound FilterRules (policy
//   order: grants then acls; per grant one rule per protocol set, then its CapGrant rule), origins
//   index-aligned, and the node's own nodeAttrs capMap. Rules share frozen arrays (SrcIPs, Ports, CapMap)
//   across nodes: read-only. Several grants giving the same capability to a pair produce several CapGrant
//   rules; consumers concatenate the arrays of every matching rule (policy.md). upsertNode / removeNode /
//   setNow / setUsers update incrementally and return the nodes to recompile; nextExpiry schedules setNow.
// - checkPolicy: parse + validate + run `tests` (against the tailnet, or a synthesized one).
// - parseTailnet: the tailnet file, validated with positions.
export type { Policy, Grant, GrantLeg, Selector, SshRule, NodeAttr, TestCase, TestTarget } from './model.js';
export { parsePolicy, TOP_LEVEL_KEYS } from './parse-policy.js';
export { PolicyCompiler, type NodeFilter, type CompileOptions } from './compiler.js';
export { checkPolicy } from './check.js';
export { parseTailnet } from './tailnet-file.js';
export { synthesizeTailnet } from './policy-tests.js';
export { ERR as POLICY_ERRORS } from './diagnostics.js';
export { deniedTags, tagOwnersAllow, type TagApplier } from './tag-owners.js';
export { AutoApprover, prefixCovers } from './auto-approvers.js';
