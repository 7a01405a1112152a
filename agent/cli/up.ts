// `agent up`: log in to control (when given a key) and start the node; returns once the node runs.
import { parseCommand, UsageError } from '../../cli/args.js';
import { resolveAuthKey } from './auth-key-source.js';
import { printJSON, withClient } from './common.js';
import { anyRouteFlag, normalizeBoolFlags, ROUTE_FLAG_OPTIONS, ROUTE_FLAGS_USAGE, routePrefsFromFlags } from './route-flags.js';

export const usage = `usage: agent [--socket PATH] up [--login-server URL] [--auth-key KEY|file:PATH|-] [--advertise-tags tag:a,tag:b]
                [--hostname NAME] [--timeout SECONDS] [--json]
                ${ROUTE_FLAGS_USAGE}

Connects this node to the tailnet. The first time (or after logout) give --login-server and --auth-key;
later 'agent up' alone resumes. --auth-key file:PATH reads the key from a file and --auth-key - from stdin,
so it does not show in the process list (a literal KEY does, to every local user). --login-server may be
https:// (control with --tls-cert; trust a private CA with NODE_EXTRA_CA_CERTS on the daemon). Returns once the node is running, or exits 1 with control's reason
(e.g. "requested tags [tag:x] are invalid or not permitted").
Routes: --advertise-routes offers subnets to the tailnet and --advertise-exit-node the Internet (both wait
for approval: control nodes routes approve, or the policy's autoApprovers); --accept-routes uses other
nodes' subnet routes; --exit-node sends default traffic through that peer.`;

const TAG_RE = /^tag:[a-zA-Z0-9][a-zA-Z0-9-]*$/;

export function parseTags(text: string): string[] {
  const tags = text.split(',').map((t) => t.trim()).filter((t) => t !== '');
  for (const t of tags) if (!TAG_RE.test(t)) throw new UsageError(`invalid tag ${JSON.stringify(t)}: tags look like tag:name`);
  return tags;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(normalizeBoolFlags(argv), {
    ...ROUTE_FLAG_OPTIONS,
    'login-server': { type: 'string' },
    'auth-key': { type: 'string' },
    'advertise-tags': { type: 'string' },
    hostname: { type: 'string' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
  });
  const url = values['login-server'];
  if (url !== undefined && !/^https?:\/\/[^/]+/.test(url)) throw new UsageError(`--login-server must be an http(s) URL, got ${JSON.stringify(url)}`);
  let timeoutMs: number | undefined;
  if (values.timeout !== undefined) {
    const s = Number(values.timeout);
    if (!(s > 0)) throw new UsageError('--timeout must be a positive number of seconds');
    timeoutMs = s * 1000;
  }
  const tags = values['advertise-tags'] !== undefined ? parseTags(values['advertise-tags']) : undefined;
  const authKey = values['auth-key'] !== undefined ? await resolveAuthKey(values['auth-key']) : undefined;
  return withClient('up', async (c) => {
    const routePrefs = anyRouteFlag(values) ? routePrefsFromFlags(values, values['advertise-routes'] !== undefined && values['advertise-exit-node'] !== undefined ? [] : ((await c.prefs()).AdvertiseRoutes ?? [])) : {};
    const st = await c.up({
      ...routePrefs,
      ...(url !== undefined ? { ControlURL: url } : {}),
      ...(authKey !== undefined ? { AuthKey: authKey } : {}),
      ...(values.hostname !== undefined ? { Hostname: values.hostname } : {}),
      ...(tags !== undefined ? { AdvertiseTags: tags } : {}),
      ...(timeoutMs !== undefined ? { TimeoutMs: timeoutMs } : {}),
    });
    if (values.json) printJSON(st);
    else process.stdout.write(`Running as ${st.Self?.HostName ?? '?'} (${st.TailscaleIPs.join(', ')})\n`);
    return 0;
  });
}
