// Example app: a tiny "SQL playground" served on this node's tailnet address. Every request is authorized
// by asking the local agent who the caller is (LocalAPI whois on the connection's remote address) and
// reading the `example.com/cap/tailsql` capability the policy grants that caller: `dataSrc` decides which
// data sources it may query. No capability → 403. The data sources are canned tables: the point is the
// authorization pattern, not SQL.
//
//   node --import tsx examples/tailsql.ts [--listen IP:PORT] [--port 443] [--socket PATH]
//   curl http://100.64.0.1:443/            → who you are and which sources you may query
//   curl http://100.64.0.1:443/query?src=warehouse
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { LocalClient, PeerNotFoundError } from '../localapi/client.js';
import type { WhoIsResponse } from '../localapi/types.js';
import { allowedSources, TAILSQL_CAP } from './tailsql-auth.js';

export const DATA_SOURCES: Record<string, { columns: string[]; rows: unknown[][] }> = {
  warehouse: { columns: ['sku', 'on_hand'], rows: [['widget', 120], ['gadget', 7]] },
  finance: { columns: ['quarter', 'revenue'], rows: [['2026Q3', 1250000]] },
  'prod-db': { columns: ['table', 'rows'], rows: [['users', 48211], ['orders', 918233]] },
};
const ALL = Object.keys(DATA_SOURCES);

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Who is calling: the LocalAPI client (this file) or an embedded node (tailsql-embedded.ts). */
export interface WhoisSource {
  whois(addr: string): Promise<WhoIsResponse>;
}

export function createTailsqlHandler(client: WhoisSource) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // An absolute-form target can be any text (`http://[/`): parse it without throwing, answer 400 later.
    let url: URL | null = null;
    try {
      url = new URL(req.url ?? '/', 'http://tailsql');
    } catch {
      url = null;
    }
    const remote = req.socket.remoteAddress ?? '';
    const port = req.socket.remotePort ?? 0;
    const addr = remote.includes(':') ? `[${remote}]:${port}` : `${remote}:${port}`;
    let who;
    try {
      who = await client.whois(addr);
    } catch (err) {
      if (err instanceof PeerNotFoundError) return send(res, 403, { error: `${remote} is not a tailnet peer` });
      return send(res, 502, { error: `whois failed: ${(err as Error).message}` });
    }
    const caller = who.Node.Tags.length > 0 ? who.Node.Tags.join(',') : who.UserProfile.LoginName;
    const sources = allowedSources(who.CapMap, ALL);
    if (sources === null || sources.length === 0) {
      return send(res, 403, { error: `${caller} (${who.Node.ComputedName}) has no ${TAILSQL_CAP} capability here`, caller });
    }
    if (!url) return send(res, 400, { error: 'malformed request target' });
    if (url.pathname === '/') return send(res, 200, { caller, node: who.Node.ComputedName, sources });
    if (url.pathname === '/query') {
      const src = url.searchParams.get('src') ?? '';
      if (!Object.prototype.hasOwnProperty.call(DATA_SOURCES, src)) return send(res, 404, { error: `no data source ${JSON.stringify(src)}` });
      if (!sources.includes(src)) return send(res, 403, { error: `${caller} may not query ${src}`, caller, sources });
      return send(res, 200, { caller, src, ...DATA_SOURCES[src] });
    }
    return send(res, 404, { error: 'not found' });
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { listen: { type: 'string' }, port: { type: 'string' }, socket: { type: 'string' } } });
  const client = new LocalClient({ socketPath: values.socket });
  let host: string;
  let port = Number(values.port ?? 443);
  if (values.listen) {
    const i = values.listen.lastIndexOf(':');
    host = values.listen.slice(0, i).replace(/^\[|\]$/g, '');
    port = Number(values.listen.slice(i + 1));
  } else {
    // Serve on this node's tailnet IPv4 only: the app is for the tailnet, not the LAN.
    const st = await client.status({ peers: false });
    const ip = st.TailscaleIPs.find((a) => !a.includes(':'));
    if (!ip) throw new Error(`the agent is not running (${st.BackendState}); run 'agent up' first`);
    host = ip;
  }
  const handler = createTailsqlHandler(client);
  const server = createServer((req, res) => {
    handler(req, res).catch((err: unknown) => send(res, 500, { error: (err as Error).message }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  process.stdout.write(`tailsql listening on http://${host.includes(':') ? `[${host}]` : host}:${port}\n`);
  const stop = () => {
    server.close();
    void client.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    process.stderr.write(`tailsql: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
