import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRng } from '../../types/seeded-rng.js';
import { Store } from '../store.js';
import { consumeSignInLink, createSignInLink, linkUser, MAX_LINK_TTL_MS } from './sign-in-links.js';

describe('one-time sign-in links', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-links-'));
  let store: Store;
  beforeAll(() => {
    store = new Store(join(dir, 'c.db'));
    store.addUser('root@example.com', 'root', 'admin');
    store.addUser('bob@example.com', 'bob', 'member');
  });
  afterAll(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const T0 = 1_800_000_000_000;
  const user = (login: string) => store.userByLogin(login)!;

  it.each([
    { name: 'a fresh link', make: () => createSignInLink(store, user('bob@example.com'), 60_000, T0).secret, at: T0 + 1, want: { userId: 2 } },
    { name: 'at its expiry', make: () => createSignInLink(store, user('bob@example.com'), 60_000, T0).secret, at: T0 + 60_000, want: { refused: 'expired' } },
    { name: 'a wrong secret', make: () => createSignInLink(store, user('bob@example.com'), 60_000, T0).secret.slice(0, -3) + 'xyz', at: T0, want: { refused: 'unknown' } },
    { name: 'an unknown id', make: () => 'gwlnk-0123456789ab-AAAAAAAAAAAAAAAAAAAAAAAA', at: T0, want: { refused: 'unknown' } },
    { name: 'an API token', make: () => 'gwapi-0123456789ab-AAAAAAAAAAAAAAAAAAAAAAAA', at: T0, want: { refused: 'malformed' } },
    { name: 'not a string', make: () => 42 as unknown as string, at: T0, want: { refused: 'malformed' } },
  ])('$name → $want', ({ make, at, want }) => {
    expect(consumeSignInLink(store, make(), at)).toEqual(want);
  });

  it('works once', () => {
    const l = createSignInLink(store, user('root@example.com'), 60_000, T0);
    expect(consumeSignInLink(store, l.secret, T0 + 1)).toEqual({ userId: 1 });
    expect(consumeSignInLink(store, l.secret, T0 + 2)).toEqual({ refused: 'used' });
  });

  it('a wrong secret does not use the link up', () => {
    const l = createSignInLink(store, user('root@example.com'), 60_000, T0);
    expect(consumeSignInLink(store, l.secret.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')), T0)).toEqual({ refused: 'unknown' });
    expect(consumeSignInLink(store, l.secret, T0)).toEqual({ userId: 1 });
  });

  it('refuses lifetimes outside (0, 24h]', () => {
    for (const ttl of [0, -1, MAX_LINK_TTL_MS + 1, Number.NaN]) expect(() => createSignInLink(store, user('bob@example.com'), ttl, T0)).toThrow(/between/);
  });

  it('picks the only admin without --as, and says so when there is no single one', () => {
    expect(linkUser(store, undefined).login).toBe('root@example.com');
    expect(linkUser(store, 'bob@example.com').login).toBe('bob@example.com');
    expect(() => linkUser(store, 'nobody@example.com')).toThrow(/no such user/);
    store.addUser('ops@example.com', 'ops', 'admin');
    expect(() => linkUser(store, undefined)).toThrow(/2 admin users: name one with --as/);
  });

  it('creating a link writes one audit entry, without the secret', () => {
    const count = () => (store.db.prepare("SELECT COUNT(*) AS n FROM audit_log WHERE action = 'console.link'").get() as { n: number }).n;
    const before = count();
    const l = createSignInLink(store, user('bob@example.com'), 60_000, T0);
    expect(count()).toBe(before + 1);
    const row = store.db.prepare("SELECT * FROM audit_log WHERE action = 'console.link' ORDER BY id DESC LIMIT 1").get() as { target: string; summary: string };
    expect(row.target).toBe(l.id);
    expect(row.summary).toContain('bob@example.com');
    expect(JSON.stringify(row)).not.toContain(l.secret.split('-')[2]);
  });

  it('deleting the user deletes their links', () => {
    store.addUser('tmp@example.com', 'tmp', 'member');
    const l = createSignInLink(store, user('tmp@example.com'), 60_000, T0);
    store.deleteUser(user('tmp@example.com').id);
    expect(consumeSignInLink(store, l.secret, T0)).toEqual({ refused: 'unknown' });
  });

  it('fuzz: random and truncated input is refused, never thrown', () => {
    const next = seededRng(15);
    const rng = { int: (n: number) => Math.floor(next() * n) };
    const real = createSignInLink(store, user('bob@example.com'), 60_000, T0).secret;
    const alphabet = 'gwlnk-0123456789abcdefABCDEF_xyz\u0000\u00e9 ';
    for (let i = 0; i < 3000; i++) {
      const text = i % 3 === 0 ? real.slice(0, rng.int(real.length)) : Array.from({ length: rng.int(80) }, () => alphabet[rng.int(alphabet.length)]).join('');
      const r = consumeSignInLink(store, text, T0);
      expect('refused' in r).toBe(true);
    }
    expect(consumeSignInLink(store, real, T0)).toEqual({ userId: 2 });
  });
});
