// Verdicts are small integers so the per-packet path returns without allocating; accepts are below
// VERDICT_FIRST_DROP, drops at or above it. Each verdict is also a counter slot (see counters.ts).

export type Verdict = number;

export const VERDICT_ACCEPT_RULE = 1;
export const VERDICT_ACCEPT_FLOW = 2;
/** A non-first fragment whose first fragment was accepted. */
export const VERDICT_ACCEPT_FRAGMENT = 3;
/** Outbound packets are always allowed (they only record flow state). */
export const VERDICT_ACCEPT_OUTBOUND = 4;
/**
 * An outbound packet on a tuple whose flow was revoked (a tombstone): still sent, but it opens no flow;
 * for TCP the data plane answers it with an RST toward the local socket (seq = the packet's ACK number).
 */
export const VERDICT_ACCEPT_REVOKED_TUPLE = 5;

export const VERDICT_FIRST_DROP = 16;
export const VERDICT_DROP_MALFORMED = 16;
export const VERDICT_DROP_MULTICAST = 17;
export const VERDICT_DROP_LINK_LOCAL = 18;
export const VERDICT_DROP_NOT_LOCAL = 19;
export const VERDICT_DROP_SPOOFED = 20;
export const VERDICT_DROP_FRAGMENT = 21;
export const VERDICT_DROP_NO_RULE = 22;
/** ShieldsUp: a new inbound connection (replies to the node's own flows still pass). */
export const VERDICT_DROP_SHIELDS_UP = 23;
export const VERDICT_LIMIT = 24;

export type AcceptReason = 'rule' | 'flow' | 'fragment' | 'outbound' | 'revoked_tuple';
export type DropReason = 'malformed' | 'multicast' | 'link_local' | 'not_local' | 'spoofed' | 'fragment' | 'no_rule' | 'shields_up';

const REASONS: string[] = [];
REASONS[VERDICT_ACCEPT_RULE] = 'rule';
REASONS[VERDICT_ACCEPT_FLOW] = 'flow';
REASONS[VERDICT_ACCEPT_FRAGMENT] = 'fragment';
REASONS[VERDICT_ACCEPT_OUTBOUND] = 'outbound';
REASONS[VERDICT_ACCEPT_REVOKED_TUPLE] = 'revoked_tuple';
REASONS[VERDICT_DROP_MALFORMED] = 'malformed';
REASONS[VERDICT_DROP_MULTICAST] = 'multicast';
REASONS[VERDICT_DROP_LINK_LOCAL] = 'link_local';
REASONS[VERDICT_DROP_NOT_LOCAL] = 'not_local';
REASONS[VERDICT_DROP_SPOOFED] = 'spoofed';
REASONS[VERDICT_DROP_FRAGMENT] = 'fragment';
REASONS[VERDICT_DROP_NO_RULE] = 'no_rule';
REASONS[VERDICT_DROP_SHIELDS_UP] = 'shields_up';

export const DROP_REASONS: readonly DropReason[] = ['malformed', 'multicast', 'link_local', 'not_local', 'spoofed', 'fragment', 'no_rule', 'shields_up'];

export function isAccept(v: Verdict): boolean {
  return v > 0 && v < VERDICT_FIRST_DROP;
}

/** 'rule', 'flow', 'fragment', 'outbound' for accepts; the drop reason otherwise; 'unknown' for junk. */
export function verdictReason(v: Verdict): string {
  return REASONS[v] ?? 'unknown';
}

/** The drop verdict for a reason name (for drops decided outside the filter, e.g. `spoofed`). */
export function dropVerdict(reason: DropReason): Verdict {
  const i = REASONS.indexOf(reason, VERDICT_FIRST_DROP);
  if (i < 0) throw new RangeError(`unknown drop reason ${String(reason)}`);
  return i;
}

/** Counter names, one per verdict slot: accepted_rule, drop_no_rule, … */
export function counterName(v: Verdict): string {
  return isAccept(v) ? `accepted_${REASONS[v]}` : `drop_${REASONS[v]}`;
}
