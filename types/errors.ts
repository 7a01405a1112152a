// The error catalog: one root class, GrantwireError, with a stable `code` (`ERR_*`) and the standard
// `cause`, and one subclass per failure that callers tell apart (undici's shape: callers branch on the
// class or on `code`, never on the message, which is free to improve).
//
// Network input never throws: parsers return null and callers count the drop. These errors are for local
// misuse (bad config, bad arguments) and for failures reported to a person or an app.
//
// Errors that relay a code from the other side of a wire (the LocalAPI's JSON `code`, control's error
// replies) keep it in `wireCode`; `code` stays ours, so one namespace of `ERR_*` codes covers the tree.
// Every class sets `name` itself (not from the constructor's name) so it survives bundlers and minifiers.
//
// `new GrantwireError(code, message)` with an ad-hoc code is fine for a failure only a person reads
// (e.g. ERR_STATE_FILE); give a failure its own subclass here once a caller needs to catch it by type.

/** A stable machine-readable error code. */
export type ErrorCode = `ERR_${string}`;

/** The root of every error grantwire throws on purpose. */
export class GrantwireError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GrantwireError';
    this.code = code;
  }
}

/** A positioned diagnostic; rendered as `file:line:col: message` (line and col are 1-based). */
export interface Diagnostic {
  file: string;
  line: number;
  col: number;
  message: string;
  code: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.message}`;
}

// ---- command line (cli/args.ts re-exports these) ----

/** Bad flags or arguments; the dispatcher prints the message and the usage, exits 2. */
export class UsageError extends GrantwireError {
  declare readonly code: 'ERR_USAGE';
  constructor(message: string) {
    super('ERR_USAGE', message);
    this.name = 'UsageError';
  }
}

/** `--help` was given: the dispatcher prints the usage on stdout and exits 0. A signal, not a failure. */
export class HelpRequested extends GrantwireError {
  declare readonly code: 'ERR_HELP_REQUESTED';
  constructor() {
    super('ERR_HELP_REQUESTED', 'help');
    this.name = 'HelpRequested';
  }
}

/** One bad query line of `control policy eval`; answered with {"error": …} while the rest continue. */
export class PolicyQueryError extends GrantwireError {
  declare readonly code: 'ERR_POLICY_QUERY';
  constructor(message: string) {
    super('ERR_POLICY_QUERY', message);
    this.name = 'PolicyQueryError';
  }
}

// ---- configuration files (wireguard/config.ts re-exports this) ----

/** A wg-quick style config that does not load; every diagnostic, one per line in the message. */
export class WgConfigError extends GrantwireError {
  declare readonly code: 'ERR_WG_CONFIG';
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[]) {
    super('ERR_WG_CONFIG', diagnostics.map(formatDiagnostic).join('\n'));
    this.name = 'WgConfigError';
    this.diagnostics = diagnostics;
  }
}

// ---- the LocalAPI, client side (localapi/client.ts re-exports these; they are the apps' API) ----

/**
 * Any failed LocalAPI call. `status` is the HTTP status (0 when the daemon was not reached); `wireCode`
 * is the daemon's JSON `code` (`bad_request`, `timeout`, …), `http_<status>` when the answer had none,
 * or the socket's errno (`ENOENT`, `ECONNREFUSED`) when unreachable.
 */
export class LocalApiError extends GrantwireError {
  declare readonly code: 'ERR_LOCALAPI' | 'ERR_PEER_NOT_FOUND' | 'ERR_ACCESS_DENIED' | 'ERR_LOCALAPI_UNREACHABLE' | 'ERR_LOCALAPI_BAD_RESPONSE';
  readonly status: number;
  readonly wireCode: string;
  /** `code` is for the subclasses below. */
  constructor(status: number, wireCode: string, message: string, options?: { cause?: unknown }, code: LocalApiError['code'] = 'ERR_LOCALAPI') {
    super(code, message, options);
    this.name = 'LocalApiError';
    this.status = status;
    this.wireCode = wireCode;
  }
}

/** whois found no node for the address (404). */
export class PeerNotFoundError extends LocalApiError {
  declare readonly code: 'ERR_PEER_NOT_FOUND';
  constructor(message: string) {
    super(404, 'not_found', message, undefined, 'ERR_PEER_NOT_FOUND');
    this.name = 'PeerNotFoundError';
  }
}

/** The daemon refused the request for this caller (403): not root/operator, or a browser header. */
export class AccessDeniedError extends LocalApiError {
  declare readonly code: 'ERR_ACCESS_DENIED';
  constructor(wireCode: string, message: string) {
    super(403, wireCode, message, undefined, 'ERR_ACCESS_DENIED');
    this.name = 'AccessDeniedError';
  }
}

/** The daemon's socket could not be reached (status 0); `wireCode` is the socket's errno, `cause` its error. */
export class LocalApiUnreachableError extends LocalApiError {
  declare readonly code: 'ERR_LOCALAPI_UNREACHABLE';
  constructor(errno: string, message: string, options?: { cause?: unknown }) {
    super(0, errno, message, options, 'ERR_LOCALAPI_UNREACHABLE');
    this.name = 'LocalApiUnreachableError';
  }
}

/** A 2xx answer whose body is not what the endpoint promises (e.g. not JSON): a daemon or proxy bug. */
export class LocalApiBadResponseError extends LocalApiError {
  declare readonly code: 'ERR_LOCALAPI_BAD_RESPONSE';
  constructor(status: number, message: string) {
    super(status, 'bad_response', message, undefined, 'ERR_LOCALAPI_BAD_RESPONSE');
    this.name = 'LocalApiBadResponseError';
  }
}

// ---- the LocalAPI, server side (localapi/types.ts re-exports this) ----

/** An expected failure of a backend call; the server answers `{"error": message, "code": wireCode}` with `status`. */
export class LocalApiFailure extends GrantwireError {
  declare readonly code: 'ERR_LOCALAPI_FAILURE';
  readonly status: number;
  readonly wireCode: string;
  constructor(status: number, wireCode: string, message: string) {
    super('ERR_LOCALAPI_FAILURE', message);
    this.name = 'LocalApiFailure';
    this.status = status;
    this.wireCode = wireCode;
  }
}

// ---- control's client (control/client.ts re-exports these) ----

/** Any failure of a control client call; `wireCode` is control's error code or one of the client's own. */
export class ControlError extends GrantwireError {
  declare readonly code: 'ERR_CONTROL_CLIENT' | 'ERR_CONTROL_REFUSED' | 'ERR_CONTROL_CONNECTION' | 'ERR_CONTROL_BAD_SERVER' | 'ERR_CONTROL_BAD_URL';
  readonly wireCode: string;
  /** `code` is for the subclasses below. */
  constructor(wireCode: string, message: string, options?: { cause?: unknown }, code: ControlError['code'] = 'ERR_CONTROL_CLIENT') {
    super(code, message, options);
    this.name = 'ControlError';
    this.wireCode = wireCode;
  }
}

/** Control answered and said no; `wireCode` is its reason code (`invalid_auth_key`, `node_key_expired`, …). */
export class ControlRefusedError extends ControlError {
  declare readonly code: 'ERR_CONTROL_REFUSED';
  constructor(wireCode: string, message: string) {
    super(wireCode, message, undefined, 'ERR_CONTROL_REFUSED');
    this.name = 'ControlRefusedError';
  }
}

/** The Noise channel closed before control answered. */
export class ControlConnectionError extends ControlError {
  declare readonly code: 'ERR_CONTROL_CONNECTION';
  constructor(message: string) {
    super('connection', message, undefined, 'ERR_CONTROL_CONNECTION');
    this.name = 'ControlConnectionError';
  }
}

/** The server does not speak the control protocol: no upgrade, a malformed key, reply or stream. */
export class ControlBadServerError extends ControlError {
  declare readonly code: 'ERR_CONTROL_BAD_SERVER';
  constructor(message: string) {
    super('bad_server', message, undefined, 'ERR_CONTROL_BAD_SERVER');
    this.name = 'ControlBadServerError';
  }
}

/** The control URL given to the client is unusable (local misuse). */
export class ControlBadUrlError extends ControlError {
  declare readonly code: 'ERR_CONTROL_BAD_URL';
  constructor(message: string) {
    super('bad_url', message, undefined, 'ERR_CONTROL_BAD_URL');
    this.name = 'ControlBadUrlError';
  }
}

// ---- outbound dials (agent/proxy, node/): SOCKS5 and HTTP proxies, embedded nodes ----

/** Why a dial through the tailnet failed; the proxies map it to a SOCKS5 reply code or an HTTP status. */
export type DialFailure = 'not_allowed' | 'unresolved' | 'refused' | 'unreachable' | 'timeout' | 'failed';

/** A dial (TCP connect, UDP bind) through the tailnet failed; `reason` says why, `message` says where. */
export class DialError extends GrantwireError {
  declare readonly code: 'ERR_DIAL';
  readonly reason: DialFailure;
  constructor(reason: DialFailure, message: string, options?: { cause?: unknown }) {
    super('ERR_DIAL', message, options);
    this.name = 'DialError';
    this.reason = reason;
  }
}

// ---- userspace netstack (netstack/) ----

/** Local misuse of the netstack: an address it does not own, a port already bound, a closed stack. */
export class NetstackError extends GrantwireError {
  declare readonly code: 'ERR_NETSTACK_ADDRESS' | 'ERR_NETSTACK_PORT_IN_USE' | 'ERR_NETSTACK_CLOSED' | 'ERR_NETSTACK_ARGUMENT' | 'ERR_NETSTACK_MESSAGE_SIZE';
  constructor(code: NetstackError['code'], message: string) {
    super(code, message);
    this.name = 'NetstackError';
  }
}

/** The POSIX name node:net would use for the same failure (ECONNREFUSED, …), for code ported from it. */
export type PosixConnectionCode = 'ECONNREFUSED' | 'ECONNRESET' | 'ETIMEDOUT' | 'ECONNABORTED' | 'EPIPE';

const POSIX_TO_CODE = {
  ECONNREFUSED: 'ERR_CONNECTION_REFUSED',
  ECONNRESET: 'ERR_CONNECTION_RESET',
  ETIMEDOUT: 'ERR_CONNECTION_TIMEOUT',
  ECONNABORTED: 'ERR_CONNECTION_ABORTED',
  EPIPE: 'ERR_CONNECTION_CLOSED',
} as const;

/**
 * A netstack TCP connection failed: refused (RST to our SYN), reset by the peer, timed out (handshake,
 * retransmissions, keepalive), or aborted locally. `posixCode` is the code node:net would report.
 */
export class ConnectionError extends GrantwireError {
  declare readonly code: (typeof POSIX_TO_CODE)[PosixConnectionCode];
  readonly posixCode: PosixConnectionCode;
  constructor(posixCode: PosixConnectionCode, message: string) {
    super(POSIX_TO_CODE[posixCode], message);
    this.name = 'ConnectionError';
    this.posixCode = posixCode;
  }
}

// ---- relays (relay/client.ts) ----

/**
 * A relay did not prove the key the client pinned for it (the netmap's relay map): it presented another
 * key (`ERR_RELAY_KEY_MISMATCH`) or could not prove the pinned one (`ERR_RELAY_BAD_PROOF`, e.g. an
 * interceptor replaying an old answer). The client sends it nothing, counts it and retries later, as for
 * an unreachable relay; packets go through the other relays meanwhile.
 */
export class RelayAuthError extends GrantwireError {
  declare readonly code: 'ERR_RELAY_KEY_MISMATCH' | 'ERR_RELAY_BAD_PROOF';
  readonly relayURL: string;
  constructor(code: RelayAuthError['code'], relayURL: string, message: string) {
    super(code, message);
    this.name = 'RelayAuthError';
    this.relayURL = relayURL;
  }
}
