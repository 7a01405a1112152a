// `control relay --listen HOST:PORT --control URL --secret-file FILE --key-file FILE [--no-stun] [--recheck DURATION]`:
// a standalone relay (relay/standalone.ts). It asks control (POST /relay/authorize with the shared secret,
// which control serve reads from --relay-secret-file) whether each node key may connect, and re-asks
// every --recheck for connected nodes. Its static key lives in --key-file (created 0600 on first start);
// `--print-key` prints the public half and exits. List it in control's relay map with
// `control serve --extra-relay NAME=http://HOST:PORT;key=relaykey:…;stun=PORT`: agents pin that key.
import { parseCommand, parseDuration, requireFlag, UsageError } from '../../cli/args.js';
import { RelayPrivate, RelayPublic } from '../../crypto/key.js';
import { GrantwireError } from '../../types/errors.js';
import { remoteAuthorizer } from '../../relay/remote-auth.js';
import { StandaloneRelay } from '../../relay/standalone.js';
import { streamLogger } from '../logger.js';
import { readTextFile } from './common.js';
import { loadOrCreateRelayKeyFile } from './relay-key.js';

export const usage = `usage: control relay --listen HOST:PORT --control URL --secret-file FILE --key-file FILE [flags]
       control relay --key-file FILE --print-key

Runs a standalone relay: nodes of control's tailnet connect to it at /relay (HTTP upgrade) and it forwards
their packets by node key. STUN answers on the same port number over UDP.

flags:
  --listen HOST:PORT      address to listen on (TCP for the relay, UDP for STUN)
  --control URL           control's URL (asked whether a node key is authorized)
  --secret-file FILE      shared secret; the same file as control serve --relay-secret-file
  --key-file FILE         the relay's private key (created 0600 on first start); agents pin its public
                          half, which control serve lists: --extra-relay NAME=URL;key=relaykey:HEX
  --print-key             print the public key (relaykey:HEX) from --key-file, creating it if needed; exit
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
    'key-file': { type: 'string' },
    'print-key': { type: 'boolean' },
    debug: { type: 'boolean' },
  });
  const keyFile = requireFlag(values['key-file'], 'key-file');
  let relayKey: Uint8Array;
  try {
    relayKey = loadOrCreateRelayKeyFile(keyFile);
  } catch (err) {
    if (!(err instanceof GrantwireError)) throw err;
    process.stderr.write(`control relay: ${err.message}\n`);
    return 1;
  }
  const publicKey = RelayPublic.text(RelayPrivate.publicKey(relayKey));
  if (values['print-key']) {
    process.stdout.write(`${publicKey}\n`);
    return 0;
  }
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
    { authorize: remoteAuthorizer(controlURL, secret, { cacheMs: Math.min(recheckMs, 2000), log }), privateKey: relayKey, recheckMs, log },
    values['no-stun'] !== true,
  );
  const a = await relay.listen(m[1] ?? m[2], Number(m[3]));
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  process.stdout.write(`listening http://${host}:${a.port}\nrelay key ${publicKey}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await relay.close();
  return 0;
}
