// filter/: the packet filter (pure; no I/O). See ../../shared/spec/filter.md. Public API for the agent,
// the data plane and `control policy eval`.
export { compileFilter, type CompileOptions } from './compile.js';
export { CompiledFilter, type CompileStats } from './compiled-filter.js';
export { FilterEngine, type FilterEngineOptions, type RevokedFlow } from './engine.js';
export type { Explanation, NearMiss, RuleRef } from './explain.js';
export { ReferenceMatcher } from './reference.js';
export { ParsedPacket } from './packet.js';
export { parsePacket } from './packet-parser.js';
export { FLOW_TIMEOUT_MS, DEFAULT_MAX_FLOWS } from './flow-table.js';
export { FRAGMENT_TIMEOUT_MS } from './fragment-table.js';
export {
  DROP_REASONS,
  isAccept,
  verdictReason,
  VERDICT_ACCEPT_FLOW,
  VERDICT_ACCEPT_FRAGMENT,
  VERDICT_ACCEPT_OUTBOUND,
  VERDICT_ACCEPT_RULE,
  VERDICT_DROP_FRAGMENT,
  VERDICT_DROP_LINK_LOCAL,
  VERDICT_DROP_MALFORMED,
  VERDICT_DROP_MULTICAST,
  VERDICT_DROP_NO_RULE,
  VERDICT_DROP_NOT_LOCAL,
  VERDICT_DROP_SPOOFED,
  type AcceptReason,
  type DropReason,
  type Verdict,
} from './verdict.js';
