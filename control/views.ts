// Pure projections of control's rows into the shapes other parts speak: the policy engine's Tailnet
// (types/tailnet.ts) and the netmap's NetmapNode / UserProfile (types/netmap.ts).
import type { NetmapNode, UserProfile } from '../types/netmap.js';
import { TAGGED_DEVICES_USER } from '../types/netmap.js';
import type { PostureValue, Tailnet, TailnetNode } from '../types/tailnet.js';
import { isExitRoute } from '../types/route.js';
import type { AttrRow, NodeRow, UserRow } from './store.js';

/** A node whose key expired (or that logged out) is cut from every netmap and from the policy's view. */
export function isNodeActive(n: NodeRow, now: number): boolean {
  return n.keyExpiry === null || n.keyExpiry > now;
}

/** Posture attributes: what the agent reports about itself, then custom attributes set by admins. */
export function tailnetNodeOf(n: NodeRow, owner: UserRow | undefined, attrs: readonly AttrRow[], now: number): TailnetNode {
  const posture: Record<string, PostureValue> = { 'node:os': n.hostinfo.os };
  if (n.hostinfo.osVersion !== undefined) posture['node:osVersion'] = n.hostinfo.osVersion;
  if (n.hostinfo.agentVersion !== undefined) posture['node:tsVersion'] = n.hostinfo.agentVersion;
  const postureExpiry: Record<string, number> = {};
  for (const a of attrs) {
    if (a.expires !== null && a.expires <= now) continue;
    posture[a.name] = a.value;
    if (a.expires !== null) postureExpiry[a.name] = a.expires;
  }
  const t: TailnetNode = { name: n.hostname, tags: [...n.tags], ips: [n.v4, n.v6], posture };
  if (owner) t.user = owner.login;
  if (Object.keys(postureExpiry).length > 0) t.postureExpiry = postureExpiry;
  if (n.routes.length > 0) t.routes = [...n.routes];
  return t;
}

export function tailnetOf(
  users: Iterable<UserRow>,
  nodes: Iterable<NodeRow>,
  attrsOf: (nodeId: number) => readonly AttrRow[],
  now: number,
): Tailnet {
  const userList = [...users];
  const byId = new Map(userList.map((u) => [u.id, u]));
  return {
    users: userList.map((u) => ({ login: u.login, name: u.name, role: u.role })),
    nodes: [...nodes].filter((n) => isNodeActive(n, now)).map((n) => tailnetNodeOf(n, byId.get(n.userId), attrsOf(n.id), now)),
  };
}

export function userProfileOf(u: UserRow): UserProfile {
  return { id: u.id, loginName: u.login, displayName: u.name };
}

/** The netmap's user id for a node: tagged nodes belong to the tagged-devices pseudo-user. */
export function netmapUserId(n: NodeRow): number {
  return n.tags.length > 0 ? TAGGED_DEVICES_USER.id : n.userId;
}

/**
 * `primary`: the subnet routes this node is the primary router for (control/route-primary.ts); only those,
 * and its exit routes, go into its allowed IPs (cryptokey routing sends a prefix to one peer). Undefined
 * (callers without an election): every effective route.
 */
export function netmapNodeOf(n: NodeRow, online: boolean, withMachineKey: boolean, primary?: readonly string[]): NetmapNode {
  const addresses = [`${n.v4}/32`, `${n.v6}/128`];
  const served = primary === undefined ? n.routes : n.routes.filter((r) => isExitRoute(r) || primary.includes(r));
  const out: NetmapNode = {
    id: n.id,
    stableId: n.stableId,
    name: n.hostname,
    nodeKey: n.nodeKey,
    addresses,
    allowedIPs: [...addresses, ...served],
    endpoints: [...n.endpoints],
    tags: [...n.tags],
    user: netmapUserId(n),
    hostinfo: { ...n.hostinfo, hostname: n.hostinfo.hostname || n.hostname },
    online,
  };
  // The agent accepts an allowed IP outside the tailnet ranges only when it is one of these routes.
  if (n.routes.length > 0) out.routes = [...n.routes];
  if (withMachineKey) out.machineKey = n.machineKey;
  if (n.keyExpiry !== null) out.keyExpiry = n.keyExpiry;
  return out;
}
