// Shared by the CLI commands that talk to the daemon: one LocalClient per invocation, and LocalAPI
// failures turned into a one-line message on stderr and exit code 1 (usage errors stay exit 2).
import { LocalApiError, LocalClient } from '../../localapi/client.js';

export async function withClient(command: string, fn: (c: LocalClient) => Promise<number>): Promise<number> {
  // One call per invocation: whois over node:http too, so no command loads undici (~0.1 s, issue 17).
  const client = new LocalClient({ whoisPool: false });
  try {
    return await fn(client);
  } catch (err) {
    if (err instanceof LocalApiError) {
      process.stderr.write(`agent ${command}: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    await client.close();
  }
}

export function printJSON(v: unknown): void {
  process.stdout.write(JSON.stringify(v, null, 2) + '\n');
}
