// `control console link [--as LOGIN] [--expiry DURATION] [--url BASE] [--json] --state FILE`: prints a
// one-time sign-in link for the admin console (console/sign-in-links.ts). The base URL is --url, else the
// address the running `control serve` recorded in the state file, else http://127.0.0.1:8080.
import { parseCommand, parseDuration, UsageError } from '../../cli/args.js';
import { createSignInLink, DEFAULT_LINK_TTL_MS, linkUser } from '../console/sign-in-links.js';
import type { Store } from '../store.js';
import { formatTime, STATE_FLAG, withStore } from './common.js';

export const usage = `usage: control console link [--as LOGIN] [--expiry DURATION] [--url BASE] [--json] --state FILE

Prints a one-time link that signs LOGIN in to the admin console (served by control at /admin). Without
--as: the only admin user. The link works once and expires after --expiry (default 10m, at most 24h);
only its hash is stored. Members may sign in too and see their own devices and requests.

  --as LOGIN         the user the link signs in
  --expiry DURATION  lifetime of the link (default 10m)
  --url BASE         control's URL as the browser reaches it (default: the address serve listens on)
  --json             print {"url", "user", "expires"} instead of the URL alone
  --state FILE       control's state file`;

/** The base URL for console links: what serve recorded (a wildcard listen address made loopback). */
export function consoleBaseUrl(store: Store, override: string | undefined): string {
  const base = override ?? store.getMeta('listen_url') ?? 'http://127.0.0.1:8080';
  return base.replace(/\/+$/, '').replace('//0.0.0.0:', '//127.0.0.1:').replace('//[::]:', '//[::1]:');
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, { ...STATE_FLAG, as: { type: 'string' }, expiry: { type: 'string' }, url: { type: 'string' }, json: { type: 'boolean' } });
  let ttl = DEFAULT_LINK_TTL_MS;
  if (values.expiry !== undefined) {
    const d = parseDuration(values.expiry);
    if (d === null) throw new UsageError(`--expiry: expected a duration like 30s, 5m, 1h; got ${JSON.stringify(values.expiry)}`);
    ttl = d;
  }
  if (values.url !== undefined && !/^https?:\/\/[^/\s]+\/?$/.test(values.url)) throw new UsageError(`--url: expected http(s)://HOST:PORT, got ${JSON.stringify(values.url)}`);
  return withStore(values.state, (store) => {
    const link = createSignInLink(store, linkUser(store, values.as), ttl);
    const url = `${consoleBaseUrl(store, values.url)}/admin/#link=${link.secret}`;
    if (values.json) process.stdout.write(JSON.stringify({ url, user: link.user, expires: link.expires }) + '\n');
    else {
      process.stdout.write(url + '\n');
      process.stderr.write(`one-time sign-in for ${link.user}, valid until ${formatTime(link.expires)}\n`);
    }
    return 0;
  });
}
