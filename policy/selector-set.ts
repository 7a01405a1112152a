// A resolved selector list (a grant's src, or one dst leg), shared by every grant that spells the same
// list, with its member nodes kept up to date incrementally. Sources also cache their SrcIPs per posture
// list, so compiling 10k nodes formats each distinct source set once, not once per destination.
import { emptyRangeSet, isEmpty, union, type RangeSet } from './ip-range.js';
import type { Selector } from './model.js';
import { addrInRanges, type NodeRec } from './node-index.js';

export class SelectorSet {
  /** Identity selectors (users, groups, tags, autogroup:member/tagged/admin). */
  readonly identity: Selector[] = [];
  hasAll = false;
  hasSelf = false;
  hasInternet = false;
  hasDangerAll = false;
  /** Union of the static parts (hosts, IPs, CIDRs, ipsets). */
  statics: RangeSet = emptyRangeSet();
  /** Nodes matched by identity selectors (not maintained when hasAll/hasDangerAll: everyone is). */
  readonly members = new Set<string>();
  /** Nodes with an address or approved route overlapping `statics`. */
  readonly staticMembers = new Set<string>();
  /** Nodes serving a default route (for autogroup:internet). */
  readonly internetMembers = new Set<string>();
  /** posture key ('' = none, 'self:<login>|…' for autogroup:self) → SrcIPs. */
  readonly srcCache = new Map<string, string[]>();

  constructor(
    readonly key: string,
    readonly selectors: Selector[],
  ) {
    for (const s of selectors) {
      if (s.kind === 'all') this.hasAll = true;
      else if (s.kind === 'prefix') this.statics = union(this.statics, s.ranges);
      else if (s.kind === 'autogroup' && s.name === 'self') this.hasSelf = true;
      else if (s.kind === 'autogroup' && s.name === 'internet') this.hasInternet = true;
      else if (s.kind === 'autogroup' && s.name === 'danger-all') this.hasDangerAll = true;
      else this.identity.push(s);
    }
  }

  get everyone(): boolean {
    return this.hasAll || this.hasDangerAll;
  }

  get hasStatics(): boolean {
    return !isEmpty(this.statics);
  }

  /** Does the node overlap the static ranges (an address inside, or a subnet route overlapping)? */
  staticMatch(rec: NodeRec): boolean {
    if (!this.hasStatics) return false;
    for (const a of rec.addrs) if (addrInRanges(a, this.statics)) return true;
    for (const r of rec.routes) {
      if (r.isDefault) continue; // exit routes are reached through autogroup:internet only
      for (const s of r.family === 4 ? this.statics.v4 : this.statics.v6) if (s.start <= r.range.end && s.end >= r.range.start) return true;
    }
    return false;
  }

  /** Is the node in this set as a destination of any kind (identity, static, internet)? */
  containsAsDst(name: string): boolean {
    return this.everyone || this.members.has(name) || this.staticMembers.has(name) || this.internetMembers.has(name);
  }
}

/** Canonical key: same selectors in any order share one set. */
export function selectorKey(selectors: Selector[]): string {
  return selectors
    .map((s) => s.text)
    .sort()
    .join('\u0000');
}
