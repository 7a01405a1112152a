// The agent ↔ control messages (control.md "The protocol"), carried as JSON inside the Noise channel
// (control/channel.ts). One connection serves one request: its first client message is `register`,
// `map` or `logout`. A map connection then stays open: control sends a full `netmap`, then `delta`s
// (netmap-diff.ts) and `keepalive`s; the agent may send `update` (new endpoints or hostinfo).
//
// Keys on the wire: machine keys as `mkey:<hex>`, node keys as `nodekey:<hex>`. The machine key is never
// taken from a message: it is the Noise static key that authenticated the channel. The node key is proven
// with `nodeKeyProof` (see node-key-proof.ts). Parsers here take untrusted input and return null or a
// reason, never throw.
import type { Hostinfo, Netmap, NetmapNode } from '../types/netmap.js';
import type { NetmapDelta } from './netmap-diff.js';
import { DiscoPublic, MachinePublic, NodePublic } from '../crypto/key.js';
import { checkRoutes } from '../types/route.js';

export const CONTROL_PROLOGUE = 'grantwire control v1';
/** Path of the HTTP upgrade that carries the Noise channel, and its Upgrade token. */
export const NOISE_PATH = '/noise';
export const NOISE_UPGRADE = 'grantwire-noise-v1';

export interface RegisterRequest {
  type: 'register';
  nodeKey: string;
  nodeKeyProof: string;
  authKey?: string;
  hostname: string;
  hostinfo: Hostinfo;
  requestTags: string[];
}

export interface MapRequest {
  type: 'map';
  nodeKey: string;
  nodeKeyProof: string;
  endpoints: string[];
  hostinfo?: Hostinfo;
  /** Keep-alive interval the agent would like (ms); control clamps it. */
  keepAliveMs?: number;
}

export interface UpdateRequest {
  type: 'update';
  endpoints?: string[];
  hostinfo?: Hostinfo;
}

export interface LogoutRequest {
  type: 'logout';
  nodeKey: string;
  nodeKeyProof: string;
}

export type ClientMessage = RegisterRequest | MapRequest | UpdateRequest | LogoutRequest;

export type ServerMessage =
  | { type: 'registered'; node: NetmapNode }
  | { type: 'netmap'; netmap: Netmap }
  | { type: 'delta'; delta: NetmapDelta }
  | { type: 'keepalive' }
  | { type: 'loggedout' }
  | { type: 'error'; code: string; message: string };

/** Error codes control sends; the agent shows `message`. */
export type ControlErrorCode =
  | 'invalid_auth_key'
  | 'auth_key_expired'
  | 'auth_key_revoked'
  | 'auth_key_used'
  | 'tags_not_permitted'
  | 'node_key_in_use'
  | 'bad_node_key_proof'
  | 'unknown_node'
  | 'node_key_expired'
  | 'bad_request'
  | 'internal';

const PROOF_RE = /^[0-9a-f]{64}$/;
const TAG_RE = /^tag:[A-Za-z0-9][A-Za-z0-9_-]*$/;
const MAX_ENDPOINTS = 64;
const MAX_TAGS = 64;

/** A node key in its canonical text form (lowercase hex only, so stored keys compare as strings). */
export function isNodeKey(s: unknown): s is string {
  return NodePublic.isCanonical(s);
}

export function isMachineKey(s: unknown): s is string {
  return MachinePublic.isCanonical(s);
}

export function isTag(s: unknown): s is string {
  return typeof s === 'string' && s.length <= 128 && TAG_RE.test(s);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function shortString(v: unknown, max: number): v is string {
  return typeof v === 'string' && v.length <= max;
}

/** Hostinfo from the wire: unknown fields dropped, strings bounded. */
export function parseHostinfo(v: unknown): Hostinfo | null {
  if (!isObj(v)) return null;
  const { hostname, os, osVersion, agentVersion, routableIPs, discoKey, homeRelay } = v;
  if (hostname !== undefined && !shortString(hostname, 256)) return null;
  if (!shortString(os, 64) || os === '') return null;
  if (osVersion !== undefined && !shortString(osVersion, 64)) return null;
  if (agentVersion !== undefined && !shortString(agentVersion, 64)) return null;
  if (discoKey !== undefined && !DiscoPublic.isCanonical(discoKey)) return null;
  if (homeRelay !== undefined && (!shortString(homeRelay, 64) || !/^[A-Za-z0-9._-]*$/.test(homeRelay))) return null;
  const out: Hostinfo = { hostname: typeof hostname === 'string' ? hostname : '', os };
  if (osVersion !== undefined) out.osVersion = osVersion;
  if (agentVersion !== undefined) out.agentVersion = agentVersion;
  if (routableIPs !== undefined) {
    // Advertised subnet routes: every entry must be a valid route (types/route.ts), or the whole report goes.
    if (!Array.isArray(routableIPs) || !routableIPs.every((r) => shortString(r, 64))) return null;
    const { routes, problems } = checkRoutes(routableIPs as string[]);
    if (problems.length > 0) return null;
    if (routes.length > 0) out.routableIPs = routes;
  }
  if (typeof discoKey === 'string') out.discoKey = discoKey;
  if (typeof homeRelay === 'string' && homeRelay !== '') out.homeRelay = homeRelay;
  return out;
}

/** UDP endpoints `ip:port` / `[v6]:port`; shape-checked only (control relays them, never dials them). */
export function parseEndpoints(v: unknown): string[] | null {
  if (!Array.isArray(v) || v.length > MAX_ENDPOINTS) return null;
  const out: string[] = [];
  for (const e of v) {
    if (!shortString(e, 64) || !/^(\[[0-9a-fA-F:.]+\]|[0-9.]+):[0-9]{1,5}$/.test(e)) return null;
    const port = Number(e.slice(e.lastIndexOf(':') + 1));
    if (port < 1 || port > 65535) return null;
    out.push(e);
  }
  return out;
}

/** Normalises a requested hostname the way DNS labels need it: lowercase, [a-z0-9-], ≤ 63 characters. */
export function sanitizeHostname(name: string): string {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return s === '' ? 'node' : s;
}

/** Parses one client message; a string is the reason it was rejected. */
export function parseClientMessage(text: string): ClientMessage | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'message is not JSON';
  }
  if (!isObj(v)) return 'message is not an object';
  switch (v.type) {
    case 'register': {
      if (!isNodeKey(v.nodeKey)) return 'register: bad nodeKey';
      if (typeof v.nodeKeyProof !== 'string' || !PROOF_RE.test(v.nodeKeyProof)) return 'register: bad nodeKeyProof';
      if (v.authKey !== undefined && !shortString(v.authKey, 256)) return 'register: bad authKey';
      if (!shortString(v.hostname, 256)) return 'register: bad hostname';
      const hostinfo = parseHostinfo(v.hostinfo);
      if (!hostinfo) return 'register: bad hostinfo';
      const tags = v.requestTags ?? [];
      if (!Array.isArray(tags) || tags.length > MAX_TAGS || !tags.every((t) => typeof t === 'string' && t.length <= 128)) {
        return 'register: bad requestTags';
      }
      const msg: RegisterRequest = {
        type: 'register',
        nodeKey: v.nodeKey,
        nodeKeyProof: v.nodeKeyProof,
        hostname: v.hostname,
        hostinfo,
        requestTags: tags as string[],
      };
      if (typeof v.authKey === 'string') msg.authKey = v.authKey;
      return msg;
    }
    case 'map': {
      if (!isNodeKey(v.nodeKey)) return 'map: bad nodeKey';
      if (typeof v.nodeKeyProof !== 'string' || !PROOF_RE.test(v.nodeKeyProof)) return 'map: bad nodeKeyProof';
      const endpoints = parseEndpoints(v.endpoints ?? []);
      if (!endpoints) return 'map: bad endpoints';
      const msg: MapRequest = { type: 'map', nodeKey: v.nodeKey, nodeKeyProof: v.nodeKeyProof, endpoints };
      if (v.hostinfo !== undefined) {
        const hi = parseHostinfo(v.hostinfo);
        if (!hi) return 'map: bad hostinfo';
        msg.hostinfo = hi;
      }
      if (v.keepAliveMs !== undefined) {
        if (typeof v.keepAliveMs !== 'number' || !Number.isFinite(v.keepAliveMs)) return 'map: bad keepAliveMs';
        msg.keepAliveMs = v.keepAliveMs;
      }
      return msg;
    }
    case 'update': {
      const msg: UpdateRequest = { type: 'update' };
      if (v.endpoints !== undefined) {
        const e = parseEndpoints(v.endpoints);
        if (!e) return 'update: bad endpoints';
        msg.endpoints = e;
      }
      if (v.hostinfo !== undefined) {
        const hi = parseHostinfo(v.hostinfo);
        if (!hi) return 'update: bad hostinfo';
        msg.hostinfo = hi;
      }
      return msg;
    }
    case 'logout': {
      if (!isNodeKey(v.nodeKey)) return 'logout: bad nodeKey';
      if (typeof v.nodeKeyProof !== 'string' || !PROOF_RE.test(v.nodeKeyProof)) return 'logout: bad nodeKeyProof';
      return { type: 'logout', nodeKey: v.nodeKey, nodeKeyProof: v.nodeKeyProof };
    }
    default:
      return 'unknown message type';
  }
}

/** Parses one server message (client side). Netmap contents are trusted once the channel is authentic. */
export function parseServerMessage(text: string): ServerMessage | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObj(v) || typeof v.type !== 'string') return null;
  switch (v.type) {
    case 'registered':
      return isObj(v.node) ? (v as unknown as ServerMessage) : null;
    case 'netmap':
      return isObj(v.netmap) && isObj((v.netmap as Record<string, unknown>).self) ? (v as unknown as ServerMessage) : null;
    case 'delta':
      return isObj(v.delta) ? (v as unknown as ServerMessage) : null;
    case 'keepalive':
    case 'loggedout':
      return { type: v.type };
    case 'error':
      return typeof v.code === 'string' && typeof v.message === 'string' ? { type: 'error', code: v.code, message: v.message } : null;
    default:
      return null;
  }
}
