// `control webhooks set URL --secret S`, `webhooks clear`, `webhooks get [--json]` (the secret is never
// printed): the tailnet's one webhook for access-request and policy events (webhook-outbox.ts). A running
// server delivers them.
import { parseCommand, requireFlag, UsageError } from '../../cli/args.js';
import { cliActor, withActor } from '../audit-log.js';
import { clearWebhook, setWebhook } from '../webhook-admin.js';
import { outboxSize, webhookConfig } from '../webhook-outbox.js';
import { STATE_FLAG, withStore } from './common.js';

export const usage = `usage:
  control webhooks set URL --secret SECRET --state FILE   (SECRET: at least 16 characters)
  control webhooks clear --state FILE
  control webhooks get [--json] --state FILE

Events (JSON, POST) carry the header grantwire-signature: t=UNIX_SECONDS,v1=HEX, where HEX is
HMAC-SHA256(SECRET, "t.BODY"); failed deliveries are retried with exponential backoff.
`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'set': {
      const { values, positionals } = parseCommand(rest, { ...STATE_FLAG, secret: { type: 'string' } }, 1);
      if (positionals.length !== 1) throw new UsageError('webhooks set: expected URL');
      const secret = requireFlag(values.secret, 'secret');
      return withStore(values.state, (store) =>
        withActor(cliActor(undefined), () => {
          setWebhook(store, positionals[0], secret);
          process.stdout.write(`webhook set: ${positionals[0]}\n`);
          return 0;
        }),
      );
    }
    case 'clear': {
      const { values } = parseCommand(rest, STATE_FLAG);
      return withStore(values.state, (store) =>
        withActor(cliActor(undefined), () => {
          process.stdout.write(clearWebhook(store) ? 'webhook cleared\n' : 'no webhook was set\n');
          return 0;
        }),
      );
    }
    case 'get': {
      const { values } = parseCommand(rest, { ...STATE_FLAG, json: { type: 'boolean' } });
      return withStore(values.state, (store) => {
        const c = webhookConfig(store.db);
        const out = { url: c?.url ?? null, queued: outboxSize(store.db) };
        process.stdout.write(values.json ? JSON.stringify(out) + '\n' : `${out.url ?? '(no webhook)'}  ${out.queued} event(s) queued\n`);
        return 0;
      });
    }
    default:
      throw new UsageError(sub === undefined ? 'missing subcommand (set, clear, get)' : `unknown subcommand ${sub}`);
  }
}
