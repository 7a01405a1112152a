// Tailscale's wire shapes for a node's packet filter (tailcfg.FilterRule and friends), restated.
// These are what control ships to a node and what the filter compiles; field names are the wire names.
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from './ipproto.js';

/** Inclusive port range. `{First: 0, Last: 65535}` means every port. */
export interface PortRange {
  First: number;
  Last: number;
}

/** A destination: `IP` is a single address, a CIDR, an `A-B` range or `*`. */
export interface NetPortRange {
  IP: string;
  Ports: PortRange;
}

/** Application capabilities granted to the rule's sources when they talk to `Dsts`. */
export interface CapGrant {
  /** CIDRs (single hosts as /32 or /128). */
  Dsts: string[];
  /** Capability name → opaque JSON objects, passed through verbatim. */
  CapMap: Record<string, unknown[]>;
}

/** One inbound rule. `DstPorts` and `CapGrant` never appear together. */
export interface FilterRule {
  /** Single IPs, CIDRs, `A-B` ranges, or `*`. */
  SrcIPs: string[];
  DstPorts?: NetPortRange[];
  /** IP protocol numbers; absent means the default set TCP, UDP, ICMP, ICMPv6. */
  IPProto?: number[];
  CapGrant?: CapGrant[];
}

/** Where a compiled rule came from, for `explain`. Not part of the wire shape; carried beside it. */
export interface RuleOrigin {
  /** "grant" for grants[i], "acl" for acls[i] (converted), "default" for the allow-all quirk. */
  kind: 'grant' | 'acl' | 'default';
  index: number;
  file?: string;
  line?: number;
  col?: number;
}

/** Protocols a rule covers when its `IPProto` is absent (policy.md). */
export const DEFAULT_IPPROTOS: readonly number[] = [IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6];

/** The tailnet address ranges that `src: "*"` compiles to. */
export const TAILNET_V4_RANGE = '100.64.0.0/10';
export const TAILNET_V6_RANGE = 'fd7a:115c:a1e0::/48';
