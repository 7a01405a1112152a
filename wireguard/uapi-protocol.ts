// The WireGuard cross-platform userspace API (wireguard.com/xplatform; wireguard-go device/uapi.go), as
// pure functions: parse a `set=1` body into a typed request, format the `get=1` reply. Keys are
// lowercase hex on this wire (not base64). The socket server (uapi-server.ts) frames requests and
// applies them; this module does no I/O.
//
// A `set` body is validated completely before anything is applied, so a bad line leaves the device
// untouched (wireguard-go applies line by line; all-or-nothing is the safer reading of the same
// protocol and looks the same to `wg set`, which only reads the errno).
import { parsePrefix, formatPrefix, maskPrefix, parseAddrPort } from '../types/ip.js';

/** errno values carried in `errno=N` replies (negated Linux errno, as wireguard-go sends them). */
export const UAPI_OK = 0;
export const UAPI_EINVAL = -22;
export const UAPI_EADDRINUSE = -98;
export const UAPI_EPROTO = -71;
export const UAPI_EIO = -5;

export interface UapiPeerSet {
  publicKey: Uint8Array;
  remove: boolean;
  updateOnly: boolean;
  /** Undefined: unchanged. All-zero key: clear. */
  presharedKey?: Uint8Array;
  /** 'ip:port' or '[v6]:port' as received (already validated). */
  endpoint?: string;
  persistentKeepaliveSec?: number;
  replaceAllowedIPs: boolean;
  /** Canonical masked prefixes to add. */
  allowedIPs: string[];
  /** Prefixes to remove (`allowed_ip=-prefix`). */
  removeAllowedIPs: string[];
}

export interface UapiSetRequest {
  /** Undefined: unchanged; all-zero: clear. */
  privateKey?: Uint8Array;
  listenPort?: number;
  fwmark?: number;
  replacePeers: boolean;
  peers: UapiPeerSet[];
}

export interface UapiPeerState {
  publicKey: Uint8Array;
  presharedKey?: Uint8Array;
  /** 'ip:port' / '[v6]:port', or undefined when not known. */
  endpoint?: string;
  /** Wall-clock ms since the epoch of the last handshake; 0 = never. */
  lastHandshakeUnixMs: number;
  txBytes: number;
  rxBytes: number;
  persistentKeepaliveSec: number;
  allowedIPs: string[];
}

export interface UapiDeviceState {
  privateKey?: Uint8Array;
  listenPort: number;
  fwmark?: number;
  peers: UapiPeerState[];
}

export type UapiParseResult = { ok: true; request: UapiSetRequest } | { ok: false; errno: number; message: string };

const HEX_KEY = /^[0-9a-f]{64}$/i;

function hexKey(v: string): Uint8Array | null {
  return HEX_KEY.test(v) ? new Uint8Array(Buffer.from(v, 'hex')) : null;
}

function u32(v: string, max: number): number | null {
  if (!/^[0-9]{1,10}$/.test(v)) return null;
  const n = Number(v);
  return n <= max ? n : null;
}

/**
 * Parses the lines of a `set=1` request (everything after the `set=1` line, without the terminating
 * blank line). Never throws.
 */
export function parseSet(lines: readonly string[]): UapiParseResult {
  const req: UapiSetRequest = { replacePeers: false, peers: [] };
  let peer: UapiPeerSet | null = null;
  const fail = (message: string, errno = UAPI_EINVAL): UapiParseResult => ({ ok: false, errno, message });
  for (const line of lines) {
    const eq = line.indexOf('=');
    if (eq <= 0) return fail(`malformed line ${JSON.stringify(line.slice(0, 40))}`);
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'public_key') {
      const k = hexKey(value);
      if (k === null) return fail('public_key: expected 64 hex digits');
      peer = { publicKey: k, remove: false, updateOnly: false, replaceAllowedIPs: false, allowedIPs: [], removeAllowedIPs: [] };
      req.peers.push(peer);
      continue;
    }
    if (peer === null) {
      switch (key) {
        case 'private_key': {
          const k = hexKey(value);
          if (k === null) return fail('private_key: expected 64 hex digits');
          req.privateKey = k;
          break;
        }
        case 'listen_port': {
          const p = u32(value, 65535);
          if (p === null) return fail('listen_port: expected 0..65535');
          req.listenPort = p;
          break;
        }
        case 'fwmark': {
          const m = value === '' ? 0 : u32(value, 0xffffffff);
          if (m === null) return fail('fwmark: expected a 32-bit number');
          req.fwmark = m;
          break;
        }
        case 'replace_peers':
          if (value !== 'true') return fail('replace_peers: only "true" is accepted');
          req.replacePeers = true;
          break;
        default:
          return fail(`unknown device key ${JSON.stringify(key)}`);
      }
      continue;
    }
    switch (key) {
      case 'remove':
        if (value !== 'true') return fail('remove: only "true" is accepted');
        peer.remove = true;
        break;
      case 'update_only':
        if (value !== 'true') return fail('update_only: only "true" is accepted');
        peer.updateOnly = true;
        break;
      case 'preshared_key': {
        const k = hexKey(value);
        if (k === null) return fail('preshared_key: expected 64 hex digits');
        peer.presharedKey = k;
        break;
      }
      case 'endpoint':
        if (parseAddrPort(value) === null) return fail('endpoint: expected ip:port or [ipv6]:port');
        peer.endpoint = value;
        break;
      case 'persistent_keepalive_interval': {
        const s = u32(value, 65535);
        if (s === null) return fail('persistent_keepalive_interval: expected 0..65535');
        peer.persistentKeepaliveSec = s;
        break;
      }
      case 'replace_allowed_ips':
        if (value !== 'true') return fail('replace_allowed_ips: only "true" is accepted');
        peer.replaceAllowedIPs = true;
        break;
      case 'allowed_ip': {
        const removing = value.startsWith('-');
        const p = parsePrefix(removing ? value.slice(1) : value);
        if (p === null) return fail('allowed_ip: expected ip/len');
        (removing ? peer.removeAllowedIPs : peer.allowedIPs).push(formatPrefix(maskPrefix(p)));
        break;
      }
      case 'protocol_version':
        if (value !== '1') return fail('protocol_version: only 1 is supported');
        break;
      default:
        return fail(`unknown peer key ${JSON.stringify(key)}`);
    }
  }
  return { ok: true, request: req };
}

const ZERO_KEY = new Uint8Array(32);

function hex(k: Uint8Array): string {
  return Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('hex');
}

/** The body of a `get=1` reply, ending with `errno=0` and the blank line. */
export function formatGet(state: UapiDeviceState): string {
  const out: string[] = [];
  if (state.privateKey !== undefined) out.push(`private_key=${hex(state.privateKey)}`);
  if (state.listenPort !== 0) out.push(`listen_port=${state.listenPort}`);
  if (state.fwmark) out.push(`fwmark=${state.fwmark}`);
  for (const p of state.peers) {
    out.push(`public_key=${hex(p.publicKey)}`);
    out.push(`preshared_key=${hex(p.presharedKey ?? ZERO_KEY)}`);
    out.push('protocol_version=1');
    if (p.endpoint !== undefined) out.push(`endpoint=${p.endpoint}`);
    const ms = p.lastHandshakeUnixMs > 0 ? p.lastHandshakeUnixMs : 0;
    out.push(`last_handshake_time_sec=${Math.floor(ms / 1000)}`);
    out.push(`last_handshake_time_nsec=${Math.floor(ms % 1000) * 1_000_000}`);
    out.push(`tx_bytes=${p.txBytes}`);
    out.push(`rx_bytes=${p.rxBytes}`);
    out.push(`persistent_keepalive_interval=${p.persistentKeepaliveSec}`);
    for (const a of p.allowedIPs) out.push(`allowed_ip=${a}`);
  }
  out.push('errno=0', '', '');
  return out.join('\n');
}

/** A reply carrying only a status. */
export function formatErrno(errno: number): string {
  return `errno=${errno}\n\n`;
}
