// wg-quick style configuration files: `[Interface]` (PrivateKey, ListenPort, Address, MTU, FwMark) and
// `[Peer]` sections (PublicKey, PresharedKey, AllowedIPs, Endpoint, PersistentKeepalive). Keys are
// case-insensitive, `#` starts a comment anywhere on a line, list values are comma-separated and a key
// may repeat (Address and AllowedIPs accumulate). wg-quick's shell hooks and routing knobs (DNS, Table,
// PreUp/PostUp/PreDown/PostDown, SaveConfig) are accepted with a warning and ignored.
//
// A config file is local input: every problem is collected as a positioned Diagnostic and thrown once
// as a WgConfigError, so the user sees all of them. Secrets never appear in messages.
import { WgConfigError, type Diagnostic } from '../types/errors.js';
import { parsePrefix, parseIP, formatPrefix, maskPrefix, hasHostBits } from '../types/ip.js';
import { keyFromBase64 } from '../crypto/key.js';

export interface WgInterfaceConfig {
  privateKey: Uint8Array;
  listenPort?: number;
  /** Interface addresses with their prefix, canonical text ('100.64.0.1/32', 'fd7a:115c:a1e0::1/48'). */
  addresses: string[];
  mtu?: number;
  fwmark?: number;
}

export interface WgPeerConfig {
  publicKey: Uint8Array;
  presharedKey?: Uint8Array;
  /** Canonical masked prefixes. */
  allowedIPs: string[];
  /** 'ip:port', '[v6]:port' or 'host:port' (resolve with resolveEndpoint). */
  endpoint?: string;
  /** Seconds; absent or 0 means off. */
  persistentKeepalive?: number;
  /** 1-based line of the [Peer] header, for messages. */
  line: number;
}

export interface WgConfig {
  interface: WgInterfaceConfig;
  peers: WgPeerConfig[];
  warnings: Diagnostic[];
}

export { WgConfigError } from '../types/errors.js';

const IGNORED_INTERFACE_KEYS = new Set(['dns', 'table', 'preup', 'postup', 'predown', 'postdown', 'saveconfig']);

/** Splits an endpoint into host and port; null when malformed. Hosts may be names, IPv4 or [IPv6]. */
export function splitEndpoint(text: string): { host: string; port: number } | null {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0 || text[end + 1] !== ':') return null;
    host = text.slice(1, end);
    if (parseIP(host)?.family !== 6) return null;
    portText = text.slice(end + 2);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon <= 0) return null;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) return null;
    if (!/^[A-Za-z0-9.-]+$/.test(host)) return null;
  }
  if (!/^[0-9]{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port < 1 || port > 65535) return null;
  return { host, port };
}

/** Parses a wg-quick file; throws WgConfigError listing every problem with file:line:col. */
export function parseWgConfig(text: string, file = 'config'): WgConfig {
  const errors: Diagnostic[] = [];
  const warnings: Diagnostic[] = [];
  const diag = (list: Diagnostic[], line: number, col: number, code: string, message: string): void => {
    list.push({ file, line, col, message, code });
  };

  let section: 'none' | 'interface' | 'peer' = 'none';
  let sawInterface = false;
  const iface: Partial<WgInterfaceConfig> & { addresses: string[]; keyLine?: number } = { addresses: [] };
  const peers: Array<Partial<WgPeerConfig> & { allowedIPs: string[]; line: number; keyError?: boolean }> = [];
  const seenKeys = new Set<string>();

  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i];
    const hash = raw.indexOf('#');
    const content = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (content === '') continue;
    const col = raw.indexOf(content[0]) + 1;

    if (content.startsWith('[')) {
      const m = /^\[\s*([A-Za-z]+)\s*\]$/.exec(content);
      const name = m?.[1].toLowerCase();
      if (name === 'interface') {
        if (sawInterface) diag(errors, lineNo, col, 'ERR_WG_CONFIG_DUPLICATE_SECTION', 'duplicate [Interface] section');
        sawInterface = true;
        section = 'interface';
      } else if (name === 'peer') {
        section = 'peer';
        peers.push({ allowedIPs: [], line: lineNo });
      } else {
        diag(errors, lineNo, col, 'ERR_WG_CONFIG_SECTION', `unknown section ${content}: expected [Interface] or [Peer]`);
        section = 'none';
      }
      seenKeys.clear();
      continue;
    }

    const eq = content.indexOf('=');
    if (eq <= 0) {
      diag(errors, lineNo, col, 'ERR_WG_CONFIG_SYNTAX', `expected "Key = Value", got ${JSON.stringify(content.slice(0, 40))}`);
      continue;
    }
    const keyText = content.slice(0, eq).trim();
    const key = keyText.toLowerCase();
    const value = content.slice(eq + 1).trim();
    const afterEq = raw.indexOf('=') + 1;
    const valueCol = afterEq + (raw.length - afterEq - raw.slice(afterEq).trimStart().length) + 1;
    const bad = (code: string, message: string): void => diag(errors, lineNo, valueCol, code, `${keyText}: ${message}`);
    const single = (): boolean => {
      if (seenKeys.has(key)) {
        diag(errors, lineNo, col, 'ERR_WG_CONFIG_DUPLICATE_KEY', `${keyText} given twice in this section`);
        return false;
      }
      seenKeys.add(key);
      return true;
    };

    if (section === 'none') {
      diag(errors, lineNo, col, 'ERR_WG_CONFIG_SYNTAX', `${keyText} outside of a section: start with [Interface] or [Peer]`);
      continue;
    }
    if (value === '' && key !== 'address' && key !== 'allowedips') {
      bad('ERR_WG_CONFIG_VALUE', 'empty value');
      continue;
    }

    if (section === 'interface') {
      switch (key) {
        case 'privatekey':
          if (!single()) break;
          try {
            iface.privateKey = keyFromBase64(value);
          } catch {
            bad('ERR_WG_CONFIG_KEY', 'not a valid key (expected 44 characters of base64, as printed by `wg genkey`)');
          }
          break;
        case 'listenport': {
          if (!single()) break;
          const port = /^[0-9]{1,5}$/.test(value) ? Number(value) : NaN;
          if (!(port >= 0 && port <= 65535)) bad('ERR_WG_CONFIG_PORT', `expected a port 0..65535, got ${JSON.stringify(value)}`);
          else iface.listenPort = port;
          break;
        }
        case 'address':
          for (const item of splitList(value)) {
            const p = parsePrefix(item);
            if (p === null) bad('ERR_WG_CONFIG_ADDRESS', `invalid address ${JSON.stringify(item)} (expected IP or IP/len)`);
            else iface.addresses.push(formatPrefix(p));
          }
          break;
        case 'mtu': {
          if (!single()) break;
          const mtu = /^[0-9]{1,5}$/.test(value) ? Number(value) : NaN;
          if (!(mtu >= 576 && mtu <= 65535)) bad('ERR_WG_CONFIG_MTU', `expected 576..65535, got ${JSON.stringify(value)}`);
          else iface.mtu = mtu;
          break;
        }
        case 'fwmark': {
          if (!single()) break;
          const mark = value === 'off' ? 0 : /^(0x[0-9a-fA-F]{1,8}|[0-9]{1,10})$/.test(value) ? Number(value) : NaN;
          if (!(mark >= 0 && mark <= 0xffffffff)) bad('ERR_WG_CONFIG_FWMARK', `expected a 32-bit number or "off", got ${JSON.stringify(value)}`);
          else iface.fwmark = mark;
          break;
        }
        default:
          if (IGNORED_INTERFACE_KEYS.has(key)) {
            diag(warnings, lineNo, col, 'WARN_WG_CONFIG_IGNORED', `${keyText} is a wg-quick setting and is ignored here`);
          } else {
            diag(errors, lineNo, col, 'ERR_WG_CONFIG_UNKNOWN_KEY', `unknown key ${keyText} in [Interface] (expected PrivateKey, ListenPort, Address, MTU, FwMark)`);
          }
      }
      continue;
    }

    const peer = peers[peers.length - 1];
    switch (key) {
      case 'publickey':
        if (!single()) break;
        try {
          peer.publicKey = keyFromBase64(value);
        } catch {
          peer.keyError = true;
          bad('ERR_WG_CONFIG_KEY', 'not a valid key (expected 44 characters of base64)');
        }
        break;
      case 'presharedkey':
        if (!single()) break;
        try {
          peer.presharedKey = keyFromBase64(value);
        } catch {
          bad('ERR_WG_CONFIG_KEY', 'not a valid key (expected 44 characters of base64, as printed by `wg genpsk`)');
        }
        break;
      case 'allowedips':
        for (const item of splitList(value)) {
          const p = parsePrefix(item);
          if (p === null) bad('ERR_WG_CONFIG_ALLOWED_IP', `invalid prefix ${JSON.stringify(item)} (expected IP/len)`);
          else {
            if (hasHostBits(p)) diag(warnings, lineNo, valueCol, 'WARN_WG_CONFIG_HOST_BITS', `${keyText}: ${item} has host bits set; using ${formatPrefix(maskPrefix(p))}`);
            peer.allowedIPs.push(formatPrefix(maskPrefix(p)));
          }
        }
        break;
      case 'endpoint':
        if (!single()) break;
        if (splitEndpoint(value) === null) bad('ERR_WG_CONFIG_ENDPOINT', `expected host:port or [IPv6]:port, got ${JSON.stringify(value)}`);
        else peer.endpoint = value;
        break;
      case 'persistentkeepalive': {
        if (!single()) break;
        const s = value === 'off' ? 0 : /^[0-9]{1,5}$/.test(value) ? Number(value) : NaN;
        if (!(s >= 0 && s <= 65535)) bad('ERR_WG_CONFIG_KEEPALIVE', `expected seconds 0..65535 or "off", got ${JSON.stringify(value)}`);
        else if (s > 0) peer.persistentKeepalive = s;
        break;
      }
      default:
        diag(errors, lineNo, col, 'ERR_WG_CONFIG_UNKNOWN_KEY', `unknown key ${keyText} in [Peer] (expected PublicKey, PresharedKey, AllowedIPs, Endpoint, PersistentKeepalive)`);
    }
  }

  if (!sawInterface) diag(errors, 1, 1, 'ERR_WG_CONFIG_NO_INTERFACE', 'missing [Interface] section');
  else if (iface.privateKey === undefined) diag(errors, 1, 1, 'ERR_WG_CONFIG_NO_PRIVATE_KEY', '[Interface] has no PrivateKey');
  const seenPeers = new Map<string, number>();
  for (const p of peers) {
    if (p.publicKey === undefined) {
      if (!p.keyError) diag(errors, p.line, 1, 'ERR_WG_CONFIG_NO_PUBLIC_KEY', '[Peer] has no PublicKey');
      continue;
    }
    const id = Buffer.from(p.publicKey).toString('hex');
    const first = seenPeers.get(id);
    if (first !== undefined) diag(errors, p.line, 1, 'ERR_WG_CONFIG_DUPLICATE_PEER', `the same PublicKey is already used by the [Peer] on line ${first}`);
    else seenPeers.set(id, p.line);
  }
  if (errors.length > 0) throw new WgConfigError(errors.sort((a, b) => a.line - b.line || a.col - b.col));
  return {
    interface: iface as WgInterfaceConfig,
    peers: peers.map(({ keyError: _unused, ...peer }) => peer as WgPeerConfig),
    warnings,
  };
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
