// The validated policy model: what parsePolicy produces and PolicyCompiler consumes. Every reference is
// resolved or reported at parse time (groups, tags, hosts, ipsets, postures), so compilation against a
// tailnet never meets an unknown name. Positions are kept where later stages report problems.
import type { RuleOrigin } from '../types/filter-rule.js';
import type { Pos } from './diagnostics.js';
import type { RangeSet } from './ip-range.js';
import type { IpSpec } from './ports.js';
import type { PostureCondition } from './posture.js';
import type { PostureValue } from '../types/tailnet.js';

export type AutogroupName = 'member' | 'tagged' | 'admin' | 'self' | 'internet' | 'danger-all';

/** A resolved selector. Host aliases, IPs, CIDRs and ipsets become static address ranges. */
export type Selector =
  | { kind: 'all'; text: string }
  | { kind: 'user'; login: string; text: string }
  | { kind: 'group'; name: string; text: string }
  | { kind: 'tag'; name: string; text: string }
  | { kind: 'autogroup'; name: AutogroupName; text: string }
  | { kind: 'prefix'; ranges: RangeSet; text: string };

/** One destination leg: selectors and what may be reached on them. A grant has one; an acl one per port spec. */
export interface GrantLeg {
  dst: Selector[];
  ip: IpSpec[];
}

/** A grant, or a legacy acl converted to one (origin.kind says which). */
export interface Grant {
  origin: RuleOrigin & { file: string; line: number; col: number };
  src: Selector[];
  legs: GrantLeg[];
  /** App capabilities (name → opaque objects), or null. */
  app: Map<string, unknown[]> | null;
  /** Effective postures: the grant's own `srcPosture`, else `defaultSrcPosture`; empty = none. */
  srcPosture: string[];
  via: string[];
}

export interface SshRule {
  pos: Pos;
  action: 'accept' | 'check';
  src: Selector[];
  dst: Selector[];
  users: string[];
  checkPeriodMs: number | null;
  srcPosture: string[];
}

export interface NodeAttr {
  pos: Pos;
  target: Selector[];
  attr: string[];
  app: Map<string, unknown[]> | null;
}

export interface TestCase {
  pos: Pos;
  index: number;
  srcText: string;
  src: Selector;
  /** Protocols to check; TCP when `proto` is absent. */
  protos: number[];
  protoName: string;
  /** `srcPostureAttrs`: evaluate the src as a device with exactly these posture attributes. */
  srcPosture: Record<string, PostureValue> | null;
  accept: TestTarget[];
  deny: TestTarget[];
}

export interface TestTarget {
  text: string;
  pos: Pos;
  target: Selector;
  port: number;
}

export interface Policy {
  file: string;
  /** group name → member logins. */
  groups: Map<string, string[]>;
  /** tag → owners (logins, groups, autogroup:admin, tags). */
  tagOwners: Map<string, string[]>;
  hosts: Map<string, RangeSet>;
  ipsets: Map<string, RangeSet>;
  postures: Map<string, PostureCondition[]>;
  defaultSrcPosture: string[];
  /** grants in order, then acls (converted) in order. */
  grants: Grant[];
  ssh: SshRule[];
  nodeAttrs: NodeAttr[];
  autoApprovers: { routes: Map<string, Selector[]>; exitNode: Selector[] };
  tests: TestCase[];
  /** Neither `grants` nor `acls` present: Tailscale's empty-policy quirk allows everything. */
  allowAll: boolean;
}
