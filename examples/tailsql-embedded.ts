// Example app: the SQL playground (tailsql.ts) as an embedded tailnet node. The app is its own node —
// no agent daemon, no TUN, no root: it logs in with an auth key, serves HTTP on its tailnet address, and
// answers each caller from whois in-process (the same `example.com/cap/tailsql` capability check as the
// socket-based example). Run it as an ordinary user:
//
//   node --import tsx examples/tailsql-embedded.ts --dir ~/.tailsql --control-url http://control:8080 \
//        --auth-key file:/path/to/key [--hostname tailsql] [--port 443] [--tags tag:tailsql]
//   curl http://tailsql:443/                 (from any node the policy lets in)
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { Node } from '../node/index.js';
import { createTailsqlHandler } from './tailsql.js';

export interface EmbeddedTailsqlOptions {
  dir: string;
  controlURL: string;
  authKey?: string;
  hostname?: string;
  port?: number;
  tags?: string[];
}

export interface EmbeddedTailsql {
  node: Node;
  http: Server;
  close(): Promise<void>;
}

/** Starts the playground on a new embedded node; resolves once it is up and listening. */
export async function startEmbeddedTailsql(o: EmbeddedTailsqlOptions): Promise<EmbeddedTailsql> {
  const node = new Node({
    dir: o.dir,
    hostname: o.hostname ?? 'tailsql',
    controlURL: o.controlURL,
    ...(o.authKey ? { authKey: o.authKey } : {}),
    ...(o.tags ? { tags: o.tags } : {}),
  });
  const handler = createTailsqlHandler(node);
  const http = createServer((req, res) => {
    handler(req, res).catch((err: unknown) => {
      res.statusCode = 500;
      res.end(JSON.stringify({ error: (err as Error).message }) + '\n');
    });
  });
  // Sockets from the node carry the caller's tailnet address, so whois (and the handler) work unchanged.
  node.listen('tcp', o.port ?? 443).on('connection', (s: Socket) => http.emit('connection', s));
  try {
    await node.up();
  } catch (err) {
    await node.close();
    throw err;
  }
  return {
    node,
    http,
    async close() {
      http.close();
      await node.close();
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { dir: { type: 'string' }, 'control-url': { type: 'string' }, 'auth-key': { type: 'string' }, hostname: { type: 'string' }, port: { type: 'string' }, tags: { type: 'string' } },
  });
  if (!values.dir || !values['control-url']) throw new Error('usage: tailsql-embedded --dir DIR --control-url URL [--auth-key KEY|file:PATH] [--hostname NAME] [--port N] [--tags tag:a,tag:b]');
  const key = values['auth-key'];
  const authKey = key?.startsWith('file:') ? readFileSync(key.slice(5), 'utf8').trim() : key;
  const app = await startEmbeddedTailsql({
    dir: values.dir,
    controlURL: values['control-url'],
    ...(authKey ? { authKey } : {}),
    ...(values.hostname ? { hostname: values.hostname } : {}),
    port: Number(values.port ?? 443),
    ...(values.tags ? { tags: values.tags.split(',') } : {}),
  });
  const port = Number(values.port ?? 443);
  process.stdout.write(`tailsql (embedded node ${values.hostname ?? 'tailsql'}) on http://${app.node.addresses[0]}:${port}\n`);
  const stop = () => void app.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    process.stderr.write(`tailsql-embedded: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
