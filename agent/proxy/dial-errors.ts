// One table from a failed dial to what each proxy answers: a SOCKS5 reply code (RFC 1928 §6) and an HTTP
// status (RFC 9110 §15: 403 for policy, 504 for a timeout, 502 for every other upstream failure).
import { DialError, type DialFailure } from '../../types/errors.js';
import {
  REP_CONNECTION_REFUSED,
  REP_GENERAL_FAILURE,
  REP_HOST_UNREACHABLE,
  REP_NETWORK_UNREACHABLE,
  REP_NOT_ALLOWED,
  REP_TTL_EXPIRED,
} from './socks5-wire.js';

const TABLE: Record<DialFailure, { socks: number; http: number }> = {
  not_allowed: { socks: REP_NOT_ALLOWED, http: 403 },
  unresolved: { socks: REP_HOST_UNREACHABLE, http: 502 },
  refused: { socks: REP_CONNECTION_REFUSED, http: 502 },
  unreachable: { socks: REP_NETWORK_UNREACHABLE, http: 502 },
  timeout: { socks: REP_TTL_EXPIRED, http: 504 },
  failed: { socks: REP_GENERAL_FAILURE, http: 502 },
};

/** Errno codes of node:net dials (TUN mode, loopback) in the same terms as DialError. */
const ERRNO: Record<string, DialFailure> = {
  ECONNREFUSED: 'refused',
  ECONNRESET: 'refused',
  ECONNABORTED: 'failed',
  ENETUNREACH: 'unreachable',
  EHOSTUNREACH: 'unreachable',
  ETIMEDOUT: 'timeout',
  ENOTFOUND: 'unresolved',
  EACCES: 'not_allowed',
  EPERM: 'not_allowed',
};

export function dialFailureOf(err: unknown): DialFailure {
  if (err instanceof DialError) return err.reason;
  // node:net errors carry the errno in `code`; the netstack's ConnectionError in `posixCode`.
  const e = err as { code?: unknown; posixCode?: unknown } | null;
  const code = typeof e?.posixCode === 'string' ? e.posixCode : typeof e?.code === 'string' ? e.code : undefined;
  return (code && ERRNO[code]) || 'failed';
}

export function socksReplyFor(err: unknown): number {
  return TABLE[dialFailureOf(err)].socks;
}

export function httpStatusFor(err: unknown): number {
  return TABLE[dialFailureOf(err)].http;
}
