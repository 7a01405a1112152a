// An embedded node closed with open sockets nobody listens to for 'error' (what an app that relies on
// node.close() to clean up has): no uncaught exception, every socket emits 'close', and the peers learn
// of it at once (a RST through the tunnel, not a timeout). Two nodes on a loopback tailnet, as in
// embedded.test.ts: "sql" accepts one connection and dials one; "client" holds the other ends.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TcpSocket } from '../../netstack/index.js';
import { Node } from '../../node/index.js';
import { startControl, waitUntil, type Harness } from '../control/helpers.js';
import { USERSPACE_POLICY } from './helpers.js';

describe('Node.close() with open sockets and no error listeners', () => {
  let h: Harness;
  const dir = mkdtempSync(join(tmpdir(), 'gwu-close-'));
  let sql: Node;
  let client: Node;
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown): void => {
    uncaught.push(err);
  };

  beforeAll(async () => {
    h = await startControl({ policy: USERSPACE_POLICY });
    h.addUser('alice@example.com', 'admin');
    const common = { controlURL: h.url, upTimeoutMs: 20_000 };
    sql = new Node({ ...common, dir: join(dir, 'sql'), hostname: 'sql', authKey: h.key({ user: 'alice@example.com', tags: ['tag:sql'] }), tags: ['tag:sql'] });
    client = new Node({ ...common, dir: join(dir, 'client'), hostname: 'client', authKey: h.key({ user: 'alice@example.com', tags: ['tag:client'] }), tags: ['tag:client'] });
    await Promise.all([sql.up(), client.up()]);
    await waitUntil(() => Object.values(client.status().Peer ?? {}).some((p) => p.HostName === 'sql'), 10_000, 'client sees sql');
    await waitUntil(() => Object.values(sql.status().Peer ?? {}).some((p) => p.HostName === 'client'), 10_000, 'sql sees client');
    process.on('uncaughtException', onUncaught);
  }, 60_000);

  afterAll(async () => {
    process.off('uncaughtException', onUncaught);
    await client?.close();
    await sql?.close();
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sockets accepted and dialed by the closing node emit close and no error; the peers are reset', async () => {
    // client → sql:443 (accepted on sql) and sql → client:8080 (dialed by sql); only client's ends listen for errors
    const sqlSide: TcpSocket[] = [];
    sql.listen('tcp', 443).on('connection', (s: TcpSocket) => sqlSide.push(s));
    const clientListener = client.listen('tcp', 8080);
    const clientSide: TcpSocket[] = [];
    clientListener.on('connection', (s: TcpSocket) => clientSide.push(s));
    await waitUntil(() => clientListener.listening, 5000, 'client listens');
    clientSide.push(await client.dial('tcp', 'sql:443'));
    sqlSide.push(await sql.dial('tcp', `client:8080`));
    await waitUntil(() => sqlSide.length === 2 && clientSide.length === 2, 10_000, 'both connections up');
    // traffic both ways, and data left unread on sql's side (a close with unread data resets, as a kernel does)
    for (const s of clientSide) s.write('hello\n');
    await waitUntil(() => sqlSide.every((s) => s.readableLength > 0), 10_000, 'data reached sql');

    const peerOutcome = clientSide.map(
      (s) =>
        new Promise<string>((r) => {
          s.on('error', (e: Error & { posixCode?: string }) => r(e.posixCode ?? e.message));
          s.on('close', () => r('close'));
          s.resume();
        }),
    );
    const closed = sqlSide.map((s) => new Promise<Error | null>((r) => s.once('close', () => r(s.errored))));
    expect(sqlSide.every((s) => s.listenerCount('error') === 0)).toBe(true);

    await sql.close();
    expect(await Promise.all(closed)).toEqual([null, null]); // closed, and not by an error
    expect(sqlSide.every((s) => s.destroyed)).toBe(true);
    // the peers were reset through the tunnel (long before any timeout would have told them)
    expect(await Promise.all(peerOutcome)).toEqual(['ECONNRESET', 'ECONNRESET']);
    await new Promise((r) => setTimeout(r, 50));
    expect(uncaught).toEqual([]);
  }, 30_000);
});
