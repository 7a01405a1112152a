// The policy engine's public API (issue 2). Pure: no I/O, no clock except an injectable `now`.
// parsePolicy validates text; PolicyCompiler compiles a policy per destination node against a tailnet and
// keeps up incrementally; checkPolicy is the whole load-time pipeline including `tests`.
export type { Policy, Grant, GrantLeg, Selector, SshRule, NodeAttr, TestCase, TestTarget } from './model.js';
export { parsePolicy, TOP_LEVEL_KEYS } from './parse-policy.js';
export { PolicyCompiler, type NodeFilter, type CompileOptions } from './compiler.js';
export { checkPolicy } from './check.js';
export { parseTailnet } from './tailnet-file.js';
export { synthesizeTailnet } from './policy-tests.js';
export { ERR as POLICY_ERRORS } from './diagnostics.js';
export { tagOwnersAllow } from './tag-owners.js';
