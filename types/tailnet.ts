// The tailnet file (JSON) that `control policy check|compile|eval` read, and the in-memory tailnet
// that control builds from its state: a contract other tools rely on (issue 2).

export type UserRole = 'admin' | 'member';

export interface TailnetUser {
  login: string;
  name?: string;
  role?: UserRole;
}

/** Posture attribute values; custom attributes may carry an expiry (unset after it). */
export type PostureValue = string | number | boolean;

export interface TailnetNode {
  name: string;
  /** Owner login; tagged nodes keep it for bookkeeping but belong to their tags only. */
  user?: string;
  tags: string[];
  /** One IPv4 and one IPv6 address (either may be absent in hand-written files). */
  ips: string[];
  posture?: Record<string, PostureValue>;
  /** Expiry (ms since epoch) per custom posture attribute; the attribute is unset at and after it. */
  postureExpiry?: Record<string, number>;
  /** Approved subnet routes (CIDRs) this node serves. */
  routes?: string[];
}

export interface Tailnet {
  users: TailnetUser[];
  nodes: TailnetNode[];
}
