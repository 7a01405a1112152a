// `agent daemon`: the node daemon in the foreground.
import { parseCommand, requireFlag, UsageError } from '../../cli/args.js';
import { resolveSocketPath } from '../../localapi/socket-path.js';
import { GrantwireError } from '../../types/errors.js';
import { parseListenAddr } from '../proxy/listen-addr.js';
import { DEFAULT_TUN_NAME, DEFAULT_WG_PORT, resolveOperator, startDaemon } from '../daemon.js';

export const usage = `usage: agent daemon --state-dir DIR [--socket PATH] [--tun NAME] [--port N] [--operator USER|UID] [--insecure-state-perms]

Runs the node daemon in the foreground (as root, or as any user with --tun userspace): keys and prefs live in DIR (0600), the LocalAPI listens
on PATH (default $GRANTWIRE_SOCKET or /var/run/grantwire/agentd.sock), the tunnel is TUN interface NAME
(default ${DEFAULT_TUN_NAME}; \`userspace\`: no TUN, a userspace netstack, and connections to this node's
tailnet address and port P are forwarded to 127.0.0.1:P on this host) and WireGuard listens on UDP port N (default ${DEFAULT_WG_PORT}; 0 picks one).
--operator lets that user run up/down/logout too. DIR and the key files in it must be private to this
user (no group/other access); otherwise the daemon refuses to start unless --insecure-state-perms. A restarted daemon resumes without a new login.
--socks5-server ADDR (e.g. localhost:1080) serves SOCKS5 (CONNECT, UDP ASSOCIATE) and
--outbound-http-proxy-listen ADDR an HTTP proxy (CONNECT and plain http://) into the tailnet, for programs
on this host; destinations are tailnet names (a peer's host name or MagicDNS name) or addresses.
Stops on SIGINT/SIGTERM.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, {
    'state-dir': { type: 'string' },
    socket: { type: 'string' },
    tun: { type: 'string' },
    port: { type: 'string' },
    operator: { type: 'string' },
    'insecure-state-perms': { type: 'boolean' },
    'socks5-server': { type: 'string' },
    'outbound-http-proxy-listen': { type: 'string' },
  });
  const stateDir = requireFlag(values['state-dir'], 'state-dir');
  const port = values.port === undefined ? DEFAULT_WG_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be 0-65535');
  const tunName = values.tun ?? DEFAULT_TUN_NAME;
  if (!/^[a-zA-Z0-9_.%-]{1,15}$/.test(tunName)) throw new UsageError('--tun must be an interface name of at most 15 characters');
  const proxies = { socks5Server: values['socks5-server'], httpProxyListen: values['outbound-http-proxy-listen'] };
  if (proxies.socks5Server !== undefined) parseListenAddr('socks5-server', proxies.socks5Server);
  if (proxies.httpProxyListen !== undefined) parseListenAddr('outbound-http-proxy-listen', proxies.httpProxyListen);
  let operatorUid: number | null = null;
  try {
    if (values.operator !== undefined) operatorUid = resolveOperator(values.operator);
    const d = await startDaemon({
      stateDir,
      socketPath: resolveSocketPath(values.socket),
      tunName,
      port,
      operatorUid,
      insecureStatePerms: values['insecure-state-perms'] === true,
      proxies,
      log: (l) => process.stderr.write(l + '\n'),
    });
    await new Promise<void>((resolve) => {
      const stop = (sig: string) => {
        process.stderr.write(`agent daemon: ${sig}, shutting down\n`);
        resolve();
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
    await d.close();
    return 0;
  } catch (err) {
    // Setup failures (socket in use, TUN refused, no root, bad state dir) are operator-facing: one line.
    const msg = err instanceof GrantwireError ? err.message : `${(err as Error).message ?? String(err)}`;
    process.stderr.write(`agent daemon: ${msg}\n`);
    return 1;
  }
}
