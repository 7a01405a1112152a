// The embedded SQL playground on a loopback tailnet: a caller granted the warehouse sees only it, a
// caller the policy lets in without the capability gets 403 from the app, and one with no grant at all
// never reaches it (it is not even a peer, and the node's filter would drop it).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Node } from '../node/index.js';
import { startControl, waitUntil, type Harness } from '../test/control/helpers.js';
import { getOver } from '../test/userspace/helpers.js';
import { startEmbeddedTailsql, type EmbeddedTailsql } from './tailsql-embedded.js';

const POLICY = `{
  "tagOwners": {"tag:tailsql": ["alice@example.com"], "tag:analyst": ["alice@example.com"], "tag:eng": ["alice@example.com"], "tag:other": ["alice@example.com"]},
  "grants": [
    {"src": ["tag:analyst"], "dst": ["tag:tailsql"], "ip": ["tcp:443"], "app": {"example.com/cap/tailsql": [{"dataSrc": ["warehouse"]}]}},
    {"src": ["tag:eng"], "dst": ["tag:tailsql"], "ip": ["tcp:443"]},
  ],
}`;

describe('examples/tailsql-embedded', () => {
  let h: Harness;
  const dir = mkdtempSync(join(tmpdir(), 'gwu-tailsql-'));
  let app: EmbeddedTailsql;
  const callers: Record<string, Node> = {};

  beforeAll(async () => {
    h = await startControl({ policy: POLICY });
    h.addUser('alice@example.com', 'admin');
    app = await startEmbeddedTailsql({ dir: join(dir, 'tailsql'), controlURL: h.url, authKey: h.key({ user: 'alice@example.com', tags: ['tag:tailsql'] }), tags: ['tag:tailsql'] });
    for (const tag of ['analyst', 'eng', 'other']) {
      callers[tag] = new Node({ dir: join(dir, tag), hostname: tag, controlURL: h.url, authKey: h.key({ user: 'alice@example.com', tags: [`tag:${tag}`] }), tags: [`tag:${tag}`] });
    }
    await Promise.all(Object.values(callers).map((n) => n.up()));
    await waitUntil(() => Object.values(callers.eng.status().Peer ?? {}).some((p) => p.HostName === 'tailsql'), 10_000, 'eng sees tailsql');
  }, 60_000);

  afterAll(async () => {
    await Promise.all(Object.values(callers).map((n) => n.close()));
    await app?.close();
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    { who: 'analyst', path: '/', status: 200, body: { caller: 'tag:analyst', sources: ['warehouse'] } },
    { who: 'analyst', path: '/query?src=warehouse', status: 200, body: { caller: 'tag:analyst', src: 'warehouse' } },
    { who: 'analyst', path: '/query?src=finance', status: 403, body: { caller: 'tag:analyst' } },
    { who: 'eng', path: '/', status: 403, body: { caller: 'tag:eng' } },
  ])('$who GET $path → $status', async ({ who, path, status, body }) => {
    const s = await callers[who].dial('tcp', 'tailsql:443');
    const r = await getOver(s, path, 'tailsql');
    expect(r.status).toBe(status);
    expect(r.body).toMatchObject(body);
  });

  it('a caller with no grant never reaches the playground (peers by policy: neither is the other\'s peer), and explain says why', async () => {
    const other = callers.other;
    expect(Object.values(other.status().Peer ?? {}).some((p) => p.HostName === 'tailsql')).toBe(false);
    expect(Object.values(app.node.status().Peer ?? {}).some((p) => p.HostName === 'other')).toBe(false);
    await expect(other.dial('tcp', 'tailsql:443')).rejects.toThrow();
    const e = app.node.explain({ src: other.addresses[0], dst: app.node.addresses[0], proto: 6, dport: 443 });
    expect(e).toMatchObject({ Verdict: 'drop', Reason: 'no_rule' });
  });
});
