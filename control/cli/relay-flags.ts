// The NAT-traversal flags of `control serve` (kept here so serve.ts gains only hook lines):
//   --no-relay                 no relay inside control (STUN still answers unless --stun-port off)
//   --stun-port PORT|off       STUN on this UDP port (default: the control port number)
//   --extra-relay NAME=URL;key=KEY[;stun=PORT]   list a standalone relay in the relay map (repeatable)
//   --relay-secret-file FILE   shared secret standalone relays present to POST /relay/authorize
//   --relay-recheck DURATION   how often the relay re-asks control about connected nodes (default 5s)
import { parseDuration, UsageError } from '../../cli/args.js';
import { ControlRelay, parseRelayFlag } from '../relay-hook.js';
import type { Logger } from '../logger.js';
import { readTextFile } from './common.js';

export const RELAY_FLAGS = {
  'no-relay': { type: 'boolean' },
  'stun-port': { type: 'string' },
  'extra-relay': { type: 'string', multiple: true },
  'relay-secret-file': { type: 'string' },
  'relay-recheck': { type: 'string' },
} as const;

export const RELAY_USAGE = `  --no-relay                    do not run the relay inside control (at /relay on the same listener)
  --stun-port PORT|off          answer STUN binding requests on this UDP port (default: the control port)
  --extra-relay NAME=URL;key=relaykey:HEX[;stun=PORT]
                                list a standalone relay (\`control relay\`) in the relay map (repeatable);
                                KEY is what \`control relay --key-file F --print-key\` prints: agents pin it
  --relay-secret-file FILE      shared secret standalone relays present to POST /relay/authorize
  --relay-recheck DURATION      how often relays re-check connected nodes with control (default 5s)
`;

export function relayFromFlags(
  values: { 'no-relay'?: boolean; 'stun-port'?: string; 'extra-relay'?: string[]; 'relay-secret-file'?: string; 'relay-recheck'?: string },
  logger: Logger,
): ControlRelay {
  let stunPort: number | null = 0;
  const sp = values['stun-port'];
  if (sp === 'off') stunPort = null;
  else if (sp !== undefined) {
    if (!/^[0-9]{1,5}$/.test(sp) || Number(sp) > 65535) throw new UsageError(`--stun-port: expected a port or "off", got ${JSON.stringify(sp)}`);
    stunPort = Number(sp);
  }
  const extraRelays = (values['extra-relay'] ?? []).map((t) => {
    const r = parseRelayFlag(t);
    if (!r) throw new UsageError(`--extra-relay: expected NAME=URL;key=relaykey:HEX[;stun=PORT] (the key from \`control relay --key-file F --print-key\`), got ${JSON.stringify(t)}`);
    return r;
  });
  const recheck = values['relay-recheck'] === undefined ? undefined : parseDuration(values['relay-recheck']);
  if (recheck === null) throw new UsageError('--relay-recheck: expected a duration like 5s');
  const secret = values['relay-secret-file'] !== undefined ? readTextFile(values['relay-secret-file']).trim() : null;
  if (secret !== null && secret.length < 16) throw new UsageError('--relay-secret-file: the secret must be at least 16 characters');
  return new ControlRelay({
    relay: values['no-relay'] !== true,
    stunPort,
    extraRelays,
    secret,
    ...(recheck !== undefined ? { recheckMs: recheck } : {}),
    log: (level, msg, fields) => logger.log(level, msg, fields as Parameters<Logger["log"]>[2]),
  });
}
