// The subnet-router and exit-node preferences (issue 14), Tailscale's names where they exist:
// AdvertiseRoutes (exit nodes advertise 0.0.0.0/0 and ::/0 among them), RouteAll (`--accept-routes`),
// ExitNode (a peer's name or tailnet IP; "" for none), ExitNodeAllowLANAccess, NoSNAT
// (`--snat-subnet-routes=false`). The same keys are accepted by `up` and by a prefs PATCH; parsed here
// so the server only lists them.
import { checkRoutes } from '../types/route.js';
import { LocalApiFailure } from './types.js';

export interface RoutePrefs {
  AdvertiseRoutes?: string[];
  RouteAll?: boolean;
  ExitNode?: string;
  ExitNodeAllowLANAccess?: boolean;
  NoSNAT?: boolean;
}

export const ROUTE_PREF_KEYS: readonly (keyof RoutePrefs)[] = ['AdvertiseRoutes', 'RouteAll', 'ExitNode', 'ExitNodeAllowLANAccess', 'NoSNAT'];

function bad(message: string): never {
  throw new LocalApiFailure(400, 'bad_request', message);
}

/** The route prefs present in a request body, validated (routes canonical and sorted). */
export function parseRoutePrefs(o: Record<string, unknown>): RoutePrefs {
  const out: RoutePrefs = {};
  const r = o.AdvertiseRoutes;
  if (r !== undefined) {
    if (!Array.isArray(r) || !r.every((x) => typeof x === 'string')) bad("'AdvertiseRoutes' must be an array of strings");
    const { routes, problems } = checkRoutes(r as string[]);
    if (problems.length > 0) bad(`AdvertiseRoutes: ${problems.join('; ')}`);
    out.AdvertiseRoutes = routes;
  }
  for (const k of ['RouteAll', 'ExitNodeAllowLANAccess', 'NoSNAT'] as const) {
    const v = o[k];
    if (v === undefined) continue;
    if (typeof v !== 'boolean') bad(`'${k}' must be a boolean`);
    out[k] = v;
  }
  if (o.ExitNode !== undefined) {
    if (typeof o.ExitNode !== 'string' || o.ExitNode.length > 256) bad("'ExitNode' must be a peer name or IP (or \"\" for none)");
    out.ExitNode = o.ExitNode;
  }
  return out;
}

/** Route prefs from the agent's state file: what validates is kept, anything else is dropped. */
export function storedRoutePrefs(o: Record<string, unknown>): RoutePrefs {
  const out: RoutePrefs = {};
  for (const k of ROUTE_PREF_KEYS) {
    try {
      Object.assign(out, parseRoutePrefs({ [k]: o[k] }));
    } catch {
      // an unreadable pref falls back to its default (off)
    }
  }
  return out;
}
