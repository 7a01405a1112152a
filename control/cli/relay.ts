// `control relay --listen HOST:PORT --control URL --secret-file FILE [--no-stun] [--recheck DURATION]`:
// a standalone relay (relay/standalone.ts). It asks control (POST /relay/authorize with the shared secret,
// which control serve reads from --relay-secret-file) whether each node key may connect, and re-asks
// every --recheck for connected nodes. List it in control's relay map with
// `control serve --extra-relay NAME=http://HOST:PORT;stun=PORT`.
import { parseCommand, parseDuration, requireFlag, UsageError } from '../../cli/args.js';
import { remoteAuthorizer } from '../../relay/remote-auth.js';
import { StandaloneRelay } from '../../relay/standalone.js';
import { streamLogger } from '../logger.js';
import { readTextFile } from './common.js';

export const usage = `usage: control relay --listen HOST:PORT --control URL --secret-file FILE [flags]

Runs a standalone relay: nodes of control's tailnet connect to it at /relay (HTTP upgrade) and it forwards
their packets by node key. STUN answers on the same port number over UDP.

flags:
  --listen HOST:PORT      address to listen on (TCP for the relay, UDP for STUN)
  --control URL           control's URL (asked whether a node key is authorized)
  --secret-file FILE      shared secret; the same file as control serve --relay-secret-file
  --recheck DURATION      re-check connected nodes this often (default 5s)
  --no-stun               no STUN server
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, {
    listen: { type: 'string' },
    control: { type: 'string' },
    'secret-file': { type: 'string' },
    recheck: { type: 'string' },
    'no-stun': { type: 'boolean' },
    debug: { type: 'boolean' },
  });
  const listen = requireFlag(values.listen, 'listen');
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):([0-9]{1,5})$/.exec(listen);
  if (!m || Number(m[3]) > 65535) throw new UsageError(`--listen: expected HOST:PORT, got ${JSON.stringify(listen)}`);
  const controlURL = requireFlag(values.control, 'control');
  try {
    new URL(controlURL);
  } catch {
    throw new UsageError(`--control: not a URL: ${JSON.stringify(controlURL)}`);
  }
  const secret = readTextFile(requireFlag(values['secret-file'], 'secret-file')).trim();
  if (secret.length < 16) throw new UsageError('--secret-file: the secret must be at least 16 characters');
  const recheckMs = values.recheck === undefined ? 5000 : parseDuration(values.recheck);
  if (recheckMs === null) throw new UsageError('--recheck: expected a duration like 5s');
  const logger = streamLogger((line) => process.stderr.write(line), values.debug ?? false);
  const log = (l: 'debug' | 'info' | 'warn', msg: string, f?: Record<string, unknown>): void => logger.log(l, msg, f as Parameters<typeof logger.log>[2]);
  const relay = new StandaloneRelay(
    { authorize: remoteAuthorizer(controlURL, secret, { cacheMs: Math.min(recheckMs, 2000), log }), recheckMs, log },
    values['no-stun'] !== true,
  );
  const a = await relay.listen(m[1] ?? m[2], Number(m[3]));
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  process.stdout.write(`listening http://${host}:${a.port}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await relay.close();
  return 0;
}
