// `control serve --listen HOST:PORT --state FILE --policy FILE [--ephemeral-timeout DURATION] [--tls-cert F --tls-key F]`
//
// On start, a --policy whose text differs from the active stored version is validated in full and stored
// as a new version. If it is invalid, serve prints every diagnostic and exits 1 (fail fast: an operator
// restarting with a broken file should notice at once); the stored policy is untouched. Without --policy
// the stored active policy is served; with neither, serve refuses to start.
import { parseCommand, parseDuration, requireFlag, UsageError } from '../../cli/args.js';
import { formatDiagnostic } from '../../types/errors.js';
import { streamLogger } from '../logger.js';
import { policyEngine } from '../policy-engine.js';
import { ALLOW_ALL_WARNING, storePolicy } from '../policy-store.js';
import { ControlServer } from '../server.js';
import { openStore, readTextFile } from './common.js';
import { RELAY_FLAGS, RELAY_USAGE, relayFromFlags } from './relay-flags.js';

export const usage = `usage: control serve --listen HOST:PORT --state FILE --policy FILE [flags]

Runs the coordination server: agent registration and map streaming over a Noise channel (POST /noise),
control's public key at GET /key, and the admin API under /api/v1/.

flags:
  --listen HOST:PORT            address to listen on (port 0 picks one; the URL is printed on stdout)
  --state FILE                  SQLite state file (created if missing; default ./.grantwire/control.db)
  --policy FILE                 policy file; stored as a new version when it differs from the active one.
                                An invalid file: diagnostics on stderr, exit 1. Optional once a policy is stored.
  --ephemeral-timeout DURATION  remove ephemeral nodes this long after their stream ends (default 5m)
  --node-key-expiry DURATION    lifetime of a registered node key (default 180d)
  --keepalive DURATION          map stream keep-alive interval (default 15s)
  --insecure-state-perms        start even when the state file is readable by group or others, or owned
                                by another user (by default: refused; the file holds control's private key)
  --tls-cert FILE --tls-key FILE
                                serve HTTPS with this PEM certificate chain and key; agents then use
                                https://HOST:PORT (a private CA: NODE_EXTRA_CA_CERTS on the agent). Without
                                TLS the admin API (/api/v1) answers loopback callers only (403 otherwise).
${RELAY_USAGE}  --debug                       verbose logging
`;

function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):([0-9]{1,5})$/.exec(s);
  if (!m) throw new UsageError(`--listen: expected HOST:PORT, got ${JSON.stringify(s)}`);
  const port = Number(m[3]);
  if (port > 65535) throw new UsageError(`--listen: port out of range: ${port}`);
  return { host: m[1] ?? m[2], port };
}

function durationFlag(v: string | undefined, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  const d = parseDuration(v);
  if (d === null) throw new UsageError(`--${flag}: expected a duration like 30s, 5m, 1h, 7d; got ${JSON.stringify(v)}`);
  return d;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, {
    listen: { type: 'string' },
    state: { type: 'string' },
    policy: { type: 'string' },
    'ephemeral-timeout': { type: 'string' },
    'node-key-expiry': { type: 'string' },
    keepalive: { type: 'string' },
    debug: { type: 'boolean' },
    'insecure-state-perms': { type: 'boolean' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    ...RELAY_FLAGS,
  });
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  const tls = values['tls-cert'] !== undefined ? { cert: readTextFile(values['tls-cert']), key: readTextFile(values['tls-key'] as string) } : undefined;
  const { host, port } = parseListen(requireFlag(values.listen, 'listen'));
  const ephemeralTimeoutMs = durationFlag(values['ephemeral-timeout'], 'ephemeral-timeout', 5 * 60_000);
  const nodeKeyExpiryMs = durationFlag(values['node-key-expiry'], 'node-key-expiry', 180 * 86_400_000);
  const keepAliveMs = durationFlag(values.keepalive, 'keepalive', 15_000);
  const policyText = values.policy !== undefined ? readTextFile(values.policy) : null;
  const logger = streamLogger((line) => process.stderr.write(line), values.debug ?? false);
  const relay = relayFromFlags(values, logger);

  let store: ReturnType<typeof openStore>;
  try {
    store = openStore(values.state, values['insecure-state-perms'] === true);
  } catch (err) {
    process.stderr.write(`control serve: ${(err as Error).message}\n`);
    return 1;
  }
  if (values['insecure-state-perms']) logger.log('warn', 'state file permissions are not checked (--insecure-state-perms)', { state: store.path });
  if (policyText !== null) {
    const r = storePolicy(store, policyEngine, policyText, values.policy as string);
    if (!r.ok) {
      for (const d of r.diagnostics) process.stderr.write(formatDiagnostic(d) + '\n');
      process.stderr.write(`control serve: policy ${values.policy} rejected (${r.diagnostics.length} error${r.diagnostics.length === 1 ? '' : 's'}); not starting\n`);
      store.close();
      return 1;
    }
    if (!r.unchanged) logger.log('info', 'stored new policy version', { version: r.version, file: values.policy });
  } else if (!store.activePolicy()) {
    store.close();
    throw new UsageError('no policy stored yet: pass --policy FILE');
  }

  // Signal handlers first, so a stop request right after "listening" is a clean shutdown.
  const stopped = new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  let server: ControlServer;
  try {
    server = new ControlServer({ store, engine: policyEngine, logger, ephemeralTimeoutMs, nodeKeyExpiryMs, keepAliveMs, tls, relay });
  } catch (err) {
    store.close();
    process.stderr.write(`control serve: ${(err as Error).message}\n`);
    return 1;
  }
  await server.listen(host, port);
  if (!tls) logger.log('info', 'no TLS: the admin API answers loopback callers only (use --tls-cert/--tls-key to open it)');
  const pol = server.coordinator.activePolicy;
  if (server.coordinator.policyAllowsAll) {
    const bar = '!'.repeat(78);
    process.stderr.write(`${bar}\n${ALLOW_ALL_WARNING}\n${bar}\n`);
    logger.log('warn', 'serving an allow-all policy', { version: pol.id });
  }
  logger.log('info', 'control listening', { url: server.url, policyVersion: pol.id, policyFile: pol.file, nodes: store.listNodes().length });
  store.setMeta('listen_url', server.url); // where `control console link` points its links
  process.stdout.write(`listening ${server.url}\n`);

  await stopped;
  logger.log('info', 'control shutting down');
  await server.close();
  store.close();
  return 0;
}
