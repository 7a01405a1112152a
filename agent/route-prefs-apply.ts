// The route prefs (localapi/route-prefs.ts) as the backend merges them: the ones a request sets, and
// whether anything that changes routing differs. Pure.
import { ROUTE_PREF_KEYS, type RoutePrefs } from '../localapi/route-prefs.js';

export type { RoutePrefs } from '../localapi/route-prefs.js';

/** The route prefs present in `req` (an up request or a prefs patch). */
export function routePrefsOf(req: RoutePrefs): RoutePrefs {
  const out: RoutePrefs = {};
  for (const k of ROUTE_PREF_KEYS) if (req[k] !== undefined) (out as Record<string, unknown>)[k] = req[k];
  return out;
}

export function routePrefsChanged(a: RoutePrefs, b: RoutePrefs): boolean {
  return ROUTE_PREF_KEYS.some((k) => JSON.stringify(a[k] ?? null) !== JSON.stringify(b[k] ?? null));
}
