// Issue 10 item 4: tags after registration. A registered node re-registering with its own keys may keep or
// drop tags; adding one needs an auth key, presented now, whose creator owns the tag. The node's original
// key creator (here an admin) no longer vouches for new tags.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POLICY } from './fixtures.js';
import { LINUX, newAgent, startControl, type Harness } from './helpers.js';

let h: Harness;
beforeAll(async () => {
  h = await startControl({ policy: POLICY });
  h.addUser('alice@example.com');
  h.addUser('bob@example.com');
  h.addUser('root@example.com', 'admin');
});
afterAll(async () => {
  await h.close();
});

type KeyFrom = 'none' | 'bob' | 'alice' | 'bob-revoked' | 'root';

// first: tags of the admin key the node registers with; then: the re-registration's request and key.
const CASES: { name: string; first: string[]; ask: string[]; key: KeyFrom; want: string[] | string }[] = [
  { name: 'no key: adding tag:db (not owned by anyone involved) is refused', first: ['tag:ci'], ask: ['tag:ci', 'tag:db'], key: 'none', want: 'tags_not_permitted' },
  { name: 'no key: swapping tag:ci for tag:web is refused', first: ['tag:ci'], ask: ['tag:web'], key: 'none', want: 'tags_not_permitted' },
  { name: 'no key: keeping the tags is fine', first: ['tag:ci'], ask: ['tag:ci'], key: 'none', want: ['tag:ci'] },
  { name: 'no key: dropping a tag is fine', first: ['tag:ci', 'tag:worker'], ask: ['tag:ci'], key: 'none', want: ['tag:ci'] },
  { name: "bob's key adds tag:db, which bob owns", first: ['tag:ci'], ask: ['tag:ci', 'tag:db'], key: 'bob', want: ['tag:ci', 'tag:db'] },
  { name: "alice's key cannot add tag:db", first: ['tag:ci'], ask: ['tag:ci', 'tag:db'], key: 'alice', want: 'tags_not_permitted' },
  { name: 'a revoked key cannot add tags', first: ['tag:ci'], ask: ['tag:ci', 'tag:db'], key: 'bob-revoked', want: 'auth_key_revoked' },
  { name: "an admin's key presented now may add any declared tag", first: ['tag:ci'], ask: ['tag:ci', 'tag:web'], key: 'root', want: ['tag:ci', 'tag:web'] },
];

describe('re-registration tags', () => {
  it.each(CASES)('$name', async ({ first, ask, key, want }) => {
    const a = newAgent(h.url);
    await a.client.register({ authKey: h.key({ user: 'root@example.com', tags: first }), hostname: 'retag', hostinfo: LINUX });
    const nodeKey = a.client.nodeKey;
    let authKey: string | undefined;
    if (key === 'bob' || key === 'bob-revoked') authKey = h.key({ user: 'bob@example.com' });
    if (key === 'alice') authKey = h.key({ user: 'alice@example.com' });
    if (key === 'root') authKey = h.key({ user: 'root@example.com' });
    if (key === 'bob-revoked') {
      const id = h.store.listAuthKeys().at(-1)?.id as string;
      h.store.revokeAuthKey(id);
    }
    const again = newAgent(h.url, { machine: a.machinePrivateKey, node: a.nodePrivateKey });
    const r = await again.client.register({ authKey, hostname: 'retag', hostinfo: LINUX, requestTags: ask }).then(
      (x) => x.node.tags,
      (err: { wireCode?: string }) => err.wireCode ?? 'threw',
    );
    expect(r).toEqual(want);
    const stored = h.store.nodeByNodeKey(nodeKey)?.tags;
    expect(stored).toEqual(typeof want === 'string' ? [...first].sort() : want);
  });
});
