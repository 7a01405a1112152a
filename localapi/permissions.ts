// Who may do what on the LocalAPI, decided from the request alone (pure; the server only gathers the
// inputs). The socket is world-writable on purpose (any local app may ask whois), so the checks here are
// the real boundary:
// - a browser must never drive it: any Origin or Referer header is refused, and the Host header must be
//   the socket's pseudo host (a DNS-rebinding page cannot forge either);
// - reading (whois, status, prefs, metrics, explain, watch) is open to every local user;
// - writing (up, down, logout, prefs PATCH) needs root, the daemon's own uid, or the operator uid, as
//   learnt from SO_PEERCRED. An unknown uid (no native addon) is read-only: fail closed.

export const LOCALAPI_HOST = 'local-agentd.sock';
export const LOCALAPI_PREFIX = '/localapi/v0/';

export type Access = 'read' | 'write';

export interface AccessPolicy {
  /** The daemon's own uid (process.getuid()). */
  daemonUid: number | null;
  /** `--operator` uid, allowed to write too. */
  operatorUid: number | null;
}

/** The access a peer uid gets; `null` (unknown) is read-only. */
export function accessFor(uid: number | null, policy: AccessPolicy): Access {
  if (uid === null || !Number.isInteger(uid) || uid < 0) return 'read';
  if (uid === 0) return 'write';
  if (policy.daemonUid !== null && uid === policy.daemonUid) return 'write';
  if (policy.operatorUid !== null && uid === policy.operatorUid) return 'write';
  return 'read';
}

export interface Endpoint {
  /** Allowed methods → the access each needs. */
  methods: Partial<Record<string, Access>>;
}

/** The endpoint table (localapi.md); names are relative to LOCALAPI_PREFIX. */
export const ENDPOINTS: Readonly<Record<string, Endpoint>> = {
  whois: { methods: { GET: 'read' } },
  status: { methods: { GET: 'read' } },
  prefs: { methods: { GET: 'read', PATCH: 'write' } },
  up: { methods: { POST: 'write' } },
  down: { methods: { POST: 'write' } },
  logout: { methods: { POST: 'write' } },
  explain: { methods: { GET: 'read' } },
  netcheck: { methods: { GET: 'read' } },
  metrics: { methods: { GET: 'read' } },
  // Not in the spec table: `agent ping` (one ICMP echo through the tunnel). Read-level, like a ping.
  ping: { methods: { POST: 'read' } },
  watch: { methods: { GET: 'read' } },
};

export type Admission =
  | { ok: true; endpoint: string }
  | { ok: false; status: number; code: string; message: string; allow?: string };

export interface RequestFacts {
  method: string;
  /** Path without the query string. */
  path: string;
  host: string | undefined;
  hasOrigin: boolean;
  hasReferer: boolean;
  access: Access;
}

/** Decides whether a request reaches its handler, in the order: browser checks, route, method, access. */
export function admit(req: RequestFacts): Admission {
  if (req.hasOrigin || req.hasReferer) {
    return { ok: false, status: 403, code: 'forbidden', message: 'requests with an Origin or Referer header are refused (browsers may not use the LocalAPI)' };
  }
  if (req.host !== LOCALAPI_HOST) {
    return { ok: false, status: 403, code: 'forbidden', message: `invalid Host header ${JSON.stringify(req.host ?? '')}; expected ${LOCALAPI_HOST}` };
  }
  if (!req.path.startsWith(LOCALAPI_PREFIX)) {
    return { ok: false, status: 404, code: 'not_found', message: `no such endpoint: ${req.path}` };
  }
  const name = req.path.slice(LOCALAPI_PREFIX.length);
  const ep = Object.prototype.hasOwnProperty.call(ENDPOINTS, name) ? ENDPOINTS[name] : undefined;
  if (!ep) return { ok: false, status: 404, code: 'not_found', message: `no such endpoint: ${req.path}` };
  const need = Object.prototype.hasOwnProperty.call(ep.methods, req.method) ? ep.methods[req.method] : undefined;
  if (!need) {
    const allow = Object.keys(ep.methods).join(', ');
    return { ok: false, status: 405, code: 'method_not_allowed', message: `${req.method} not allowed on ${req.path}; use ${allow}`, allow };
  }
  if (need === 'write' && req.access !== 'write') {
    return { ok: false, status: 403, code: 'access_denied', message: `${req.method} ${req.path} needs root, the daemon's user or the operator` };
  }
  return { ok: true, endpoint: name };
}
