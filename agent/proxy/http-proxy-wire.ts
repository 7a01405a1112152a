// The parts of an HTTP forward proxy's input that node:http leaves to us (RFC 9112 §3.2): the request
// target of CONNECT (authority-form, `host:port`) and of a forwarded request (absolute-form,
// `http://host[:port]/path?query`), and which header fields are hop-by-hop (RFC 9110 §7.6.1) and must not
// be forwarded. Pure; parsers return null on malformed input, never throw.
import { parseIP } from '../../types/ip.js';

export interface ProxyTarget {
  /** An IP literal (no brackets) or a host name, lower-cased. */
  host: string;
  port: number;
}

export interface ForwardTarget extends ProxyTarget {
  /** origin-form for the upstream request: path and query, at least `/`. */
  path: string;
  /** The Host header value to send upstream. */
  hostHeader: string;
}

const MAX_TARGET_LENGTH = 8192;
/** A DNS-ish host name: labels of letters, digits, '-' and '_', dot-separated, optional final dot. */
const HOST_RE = /^(?=.{1,254}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/;

function parsePort(text: string): number | null {
  if (!/^[0-9]{1,5}$/.test(text)) return null;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : null;
}

/** `host`, `[v6]` or `v4` without a port, validated and normalised; null if malformed. */
function parseHost(text: string): string | null {
  if (text.startsWith('[')) {
    if (!text.endsWith(']')) return null;
    const ip = parseIP(text.slice(1, -1));
    return ip && ip.family === 6 ? text.slice(1, -1).toLowerCase() : null;
  }
  const lower = text.toLowerCase();
  if (parseIP(lower)?.family === 4) return lower;
  return HOST_RE.test(lower) ? lower : null;
}

/** Splits `host:port` / `[v6]:port` (port required when `defaultPort` is null). */
function splitHostPort(text: string, defaultPort: number | null): ProxyTarget | null {
  let hostText = text;
  let port = defaultPort;
  const close = text.lastIndexOf(']');
  const colon = text.lastIndexOf(':');
  if (colon > close) {
    hostText = text.slice(0, colon);
    port = parsePort(text.slice(colon + 1));
    if (port === null) return null;
  }
  if (port === null || hostText === '') return null;
  const host = parseHost(hostText);
  return host === null ? null : { host, port };
}

/** CONNECT's authority-form target: `host:port` or `[v6]:port`. */
export function parseConnectTarget(target: string): ProxyTarget | null {
  if (typeof target !== 'string' || target.length === 0 || target.length > MAX_TARGET_LENGTH) return null;
  return splitHostPort(target, null);
}

/** A forwarded request's absolute-form target; only `http:` (a TLS origin goes through CONNECT). */
export function parseAbsoluteTarget(target: string): ForwardTarget | null {
  if (typeof target !== 'string' || target.length > MAX_TARGET_LENGTH) return null;
  const m = /^http:\/\/([^/?#@\s]+)([/?][^\s#]*)?$/i.exec(target);
  if (!m) return null;
  const hp = splitHostPort(m[1], 80);
  if (!hp) return null;
  let path = m[2] ?? '/';
  if (path.startsWith('?')) path = `/${path}`;
  return { ...hp, path, hostHeader: m[1] };
}

/** Hop-by-hop fields (RFC 9110 §7.6.1), plus the proxy's own. */
const HOP_BY_HOP = new Set(['connection', 'proxy-connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/**
 * The header fields of a forwarded request or response, as [name, value] pairs from node's rawHeaders,
 * without hop-by-hop fields and without the fields the Connection header names.
 */
export function endToEndHeaders(rawHeaders: readonly string[]): [string, string][] {
  const named = new Set<string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i].toLowerCase() === 'connection') {
      for (const t of rawHeaders[i + 1].split(',')) named.add(t.trim().toLowerCase());
    }
  }
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const n = rawHeaders[i].toLowerCase();
    if (!HOP_BY_HOP.has(n) && !named.has(n)) out.push([rawHeaders[i], rawHeaders[i + 1]]);
  }
  return out;
}
