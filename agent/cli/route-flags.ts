// The route flags `agent up` and `agent set` share (issue 14), Tailscale's names:
//   --advertise-routes 10.0.0.0/24,…   --advertise-exit-node[=false]   --accept-routes[=false]
//   --exit-node NAME|IP ("" for none)   --exit-node-allow-lan-access[=false]   --snat-subnet-routes=true|false
// A flag that is not given leaves its pref as it is. --advertise-routes and --advertise-exit-node each
// change only their part of the advertised routes (subnets vs 0.0.0.0/0 + ::/0).
import { UsageError } from '../../cli/args.js';
import type { RoutePrefs } from '../../localapi/route-prefs.js';
import { checkRoutes, EXIT_ROUTES, isExitRoute, sortRoutes } from '../../types/route.js';

const BOOL_FLAGS = ['advertise-exit-node', 'accept-routes', 'exit-node-allow-lan-access', 'snat-subnet-routes'] as const;

export const ROUTE_FLAG_OPTIONS = {
  'advertise-routes': { type: 'string' },
  'advertise-exit-node': { type: 'string' },
  'accept-routes': { type: 'string' },
  'exit-node': { type: 'string' },
  'exit-node-allow-lan-access': { type: 'string' },
  'snat-subnet-routes': { type: 'string' },
} as const;

export const ROUTE_FLAGS_USAGE = `[--advertise-routes PREFIX,…] [--advertise-exit-node[=false]] [--accept-routes[=false]]
                [--exit-node NAME|IP] [--exit-node-allow-lan-access[=false]] [--snat-subnet-routes=true|false]`;

/** `--accept-routes` alone means `--accept-routes=true` (parseArgs string options need a value). */
export function normalizeBoolFlags(argv: string[]): string[] {
  return argv.map((a) => ((BOOL_FLAGS as readonly string[]).includes(a.slice(2)) && a.startsWith('--') ? `${a}=true` : a));
}

function bool(text: string, flag: string): boolean {
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw new UsageError(`--${flag} must be true or false, got ${JSON.stringify(text)}`);
}

export type RouteFlagValues = Partial<Record<keyof typeof ROUTE_FLAG_OPTIONS, string>>;

export function anyRouteFlag(v: RouteFlagValues): boolean {
  return Object.keys(ROUTE_FLAG_OPTIONS).some((k) => v[k as keyof RouteFlagValues] !== undefined);
}

/** The prefs the flags set; `current` is the node's AdvertiseRoutes (the part a flag does not name stays). */
export function routePrefsFromFlags(v: RouteFlagValues, current: readonly string[]): RoutePrefs {
  const out: RoutePrefs = {};
  const subnetText = v['advertise-routes'];
  const exitText = v['advertise-exit-node'];
  if (subnetText !== undefined || exitText !== undefined) {
    let subnets = current.filter((r) => !isExitRoute(r));
    let exit = current.some(isExitRoute);
    if (subnetText !== undefined) {
      const list = subnetText.split(',').map((s) => s.trim()).filter((s) => s !== '');
      const { routes, problems } = checkRoutes(list);
      if (problems.length > 0) throw new UsageError(`--advertise-routes: ${problems.join('; ')}`);
      if (routes.some(isExitRoute)) throw new UsageError('--advertise-routes: use --advertise-exit-node for 0.0.0.0/0 and ::/0');
      subnets = routes;
    }
    if (exitText !== undefined) exit = bool(exitText, 'advertise-exit-node');
    out.AdvertiseRoutes = sortRoutes([...subnets, ...(exit ? EXIT_ROUTES : [])]);
  }
  if (v['accept-routes'] !== undefined) out.RouteAll = bool(v['accept-routes'], 'accept-routes');
  if (v['exit-node'] !== undefined) out.ExitNode = v['exit-node'].trim();
  if (v['exit-node-allow-lan-access'] !== undefined) out.ExitNodeAllowLANAccess = bool(v['exit-node-allow-lan-access'], 'exit-node-allow-lan-access');
  if (v['snat-subnet-routes'] !== undefined) out.NoSNAT = !bool(v['snat-subnet-routes'], 'snat-subnet-routes');
  return out;
}
