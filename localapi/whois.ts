// whois: "which tailnet node owns this address, and what may it do here?", answered from an index built
// once per netmap (a Map from canonical address text and from node key to the node), so a lookup is one
// parse and one Map read. Capabilities are computed on first use per peer with the filter's capsFor and
// cached until the next netmap replaces the index. Pure: no I/O.
import { formatIP, parseAddrPort, parseIP, parsePrefix } from '../types/ip.js';
import { TAGGED_DEVICES_USER, type Netmap, type NetmapNode, type UserProfile } from '../types/netmap.js';
import type { WhoIsResponse, WhoIsUserProfile, WhoisAddr } from './types.js';
import { NodePublic } from '../crypto/key.js';

/** Capabilities the policy grants `src` toward `dst` (addresses as text), or null for none. */
export type CapsFor = (src: string, dst: string) => Record<string, unknown[]> | null;

/** The common case, `a.b.c.d` or `a.b.c.d:port`, checked in one pass; canonical when octets pass below. */
const V4_RE = /^((?:0|[1-9][0-9]{0,2})\.(?:0|[1-9][0-9]{0,2})\.(?:0|[1-9][0-9]{0,2})\.(?:0|[1-9][0-9]{0,2}))(?::([0-9]{1,5}))?$/;

function v4Fast(text: string): WhoisAddr | null {
  const m = V4_RE.exec(text);
  if (!m) return null;
  const ip = m[1];
  let start = 0;
  for (let i = 0; i <= ip.length; i++) {
    if (i === ip.length || ip.charCodeAt(i) === 46) {
      if (Number(ip.slice(start, i)) > 255) return null;
      start = i + 1;
    }
  }
  if (m[2] === undefined) return { kind: 'ip', ip, port: null };
  const port = Number(m[2]);
  return port <= 65535 ? { kind: 'ip', ip, port } : null;
}

/**
 * Parses whois' `addr`: `IP`, `IP:PORT`, `[v6]:PORT` or `nodekey:HEX`. Returns null for anything else
 * (the server answers 400). The IP comes back in canonical text so it can key a Map.
 */
export function parseWhoisAddr(text: string): WhoisAddr | null {
  if (typeof text !== 'string' || text.length === 0 || text.length > 80) return null;
  const c = text.charCodeAt(0);
  if (c >= 48 && c <= 57 && text.indexOf(':') === text.lastIndexOf(':')) {
    const fast = v4Fast(text);
    if (fast) return fast;
  }
  if (text.startsWith(NodePublic.prefix)) {
    const key = NodePublic.tryParse(text);
    return key ? { kind: 'nodekey', key: NodePublic.text(key) } : null;
  }
  const bare = parseIP(text);
  if (bare) return { kind: 'ip', ip: formatIP(bare.bytes), port: null };
  const ap = parseAddrPort(text);
  if (ap) return { kind: 'ip', ip: formatIP(ap.addr.bytes), port: ap.port };
  return null;
}

/** The address part of a CIDR (`100.64.0.2/32` → `100.64.0.2`), canonical; null if malformed. */
export function addrOfPrefix(cidr: string): string | null {
  const p = parsePrefix(cidr);
  return p ? formatIP(p.bytes) : null;
}

function fqdn(name: string): string {
  return name.endsWith('.') ? name : `${name}.`;
}

function profileOf(node: NetmapNode, users: Map<number, UserProfile>): WhoIsUserProfile {
  const u = node.tags.length > 0 ? TAGGED_DEVICES_USER : users.get(node.user);
  if (!u) return { ID: node.user, LoginName: `user-${node.user}`, DisplayName: '' };
  return { ID: u.id, LoginName: u.loginName, DisplayName: u.displayName };
}

/** The WhoIsResponse `Node` part, also used by status. */
export function whoisNode(node: NetmapNode): WhoIsResponse['Node'] {
  return {
    ID: node.id,
    StableID: node.stableId,
    Name: fqdn(node.name),
    User: node.tags.length > 0 ? TAGGED_DEVICES_USER.id : node.user,
    Key: node.nodeKey,
    Addresses: [...node.addresses],
    Tags: [...node.tags],
    Hostinfo: { Hostname: node.hostinfo.hostname, OS: node.hostinfo.os, ...(node.hostinfo.osVersion ? { OSVersion: node.hostinfo.osVersion } : {}) },
    Online: node.online,
    ComputedName: node.hostinfo.hostname || node.name.split('.')[0],
  };
}

interface Entry {
  node: NetmapNode;
  isSelf: boolean;
  response: WhoIsResponse | null;
}

/** Immutable per netmap: build a new one when the netmap changes and swap the reference. */
export class WhoisIndex {
  private readonly byAddr = new Map<string, Entry>();
  private readonly byKey = new Map<string, Entry>();
  private readonly users = new Map<number, UserProfile>();
  private readonly selfV4: string | null;
  private readonly selfV6: string | null;

  constructor(
    netmap: Netmap | null,
    private readonly capsFor: CapsFor,
  ) {
    let v4: string | null = null;
    let v6: string | null = null;
    if (netmap) {
      for (const u of netmap.userProfiles) this.users.set(u.id, u);
      for (const a of netmap.self.addresses) {
        const ip = addrOfPrefix(a);
        if (!ip) continue;
        if (ip.includes(':')) v6 ??= ip;
        else v4 ??= ip;
      }
      this.add(netmap.self, true);
      for (const p of netmap.peers) this.add(p, false);
    }
    this.selfV4 = v4;
    this.selfV6 = v6;
  }

  private add(node: NetmapNode, isSelf: boolean): void {
    const e: Entry = { node, isSelf, response: null };
    for (const a of node.addresses) {
      const ip = addrOfPrefix(a);
      if (ip && !this.byAddr.has(ip)) this.byAddr.set(ip, e);
    }
    this.byKey.set(node.nodeKey.toLowerCase(), e);
  }

  get size(): number {
    return this.byKey.size;
  }

  lookup(addr: WhoisAddr): WhoIsResponse | null {
    const e = addr.kind === 'ip' ? this.byAddr.get(addr.ip) : this.byKey.get(addr.key);
    if (!e) return null;
    e.response ??= this.build(e);
    return e.response;
  }

  private build(e: Entry): WhoIsResponse {
    return { Node: whoisNode(e.node), UserProfile: profileOf(e.node, this.users), CapMap: e.isSelf ? null : this.capsOf(e.node) };
  }

  /** CapMap from the peer's first address toward this node's first address of the same family. */
  private capsOf(node: NetmapNode): Record<string, unknown[]> | null {
    for (const a of node.addresses) {
      const src = addrOfPrefix(a);
      if (!src) continue;
      const dst = src.includes(':') ? this.selfV6 : this.selfV4;
      if (!dst) continue;
      const caps = this.capsFor(src, dst);
      return caps && Object.keys(caps).length > 0 ? caps : null;
    }
    return null;
  }
}
