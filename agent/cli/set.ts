// `agent set`: change preferences of a running (or stopped) node without logging in again, as Tailscale's
// `tailscale set`. For now: --shields-up (no new inbound connections; replies to our own still pass).
import { parseCommand, UsageError } from '../../cli/args.js';
import type { PrefsPatch } from '../../localapi/types.js';
import { printJSON, withClient } from './common.js';
import { anyRouteFlag, normalizeBoolFlags, ROUTE_FLAG_OPTIONS, ROUTE_FLAGS_USAGE, routePrefsFromFlags } from './route-flags.js';

export const usage = `usage: agent [--socket PATH] set [--shields-up=true|false] [--json]
                ${ROUTE_FLAGS_USAGE}

--shields-up=true drops every new inbound connection (replies to this node's own connections still
pass; connections peers opened are cut). 'agent status' shows "# Shields up" while it is on.`;

function bool(text: string, flag: string): boolean {
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw new UsageError(`--${flag} must be true or false, got ${JSON.stringify(text)}`);
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(normalizeBoolFlags(argv), { ...ROUTE_FLAG_OPTIONS, 'shields-up': { type: 'string' }, json: { type: 'boolean' } });
  const patch: PrefsPatch = {};
  if (values['shields-up'] !== undefined) patch.ShieldsUp = bool(values['shields-up'], 'shields-up');
  if (Object.keys(patch).length === 0 && !anyRouteFlag(values)) throw new UsageError('nothing to set: give --shields-up=true|false or a route flag');
  return withClient('set', async (c) => {
    if (anyRouteFlag(values)) Object.assign(patch, routePrefsFromFlags(values, (await c.prefs()).AdvertiseRoutes ?? []));
    const prefs = await c.patchPrefs(patch);
    if (values.json) printJSON(prefs);
    return 0;
  });
}
