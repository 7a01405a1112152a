// `control access …` as processes, in the shapes the issue fixes, including `access list --state`, where
// the flag is both the filter and the state file (in either order).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitStateFlags } from '../../control/cli/access.js';
import { parseSince } from '../../control/cli/audit.js';
import type { AccessRequest } from '../../control/access-requests.js';
import { seededRng } from '../../types/seeded-rng.js';
import { POLICY } from './fixtures.js';
import { LINUX, newAgent, runControl, startControl, type Harness } from './helpers.js';

let h: Harness;
let state: string[];
const control = (...args: string[]) => runControl([...args, ...state]);
const json = <T>(out: { stdout: string }): T => JSON.parse(out.stdout) as T;

beforeAll(async () => {
  h = await startControl({ policy: POLICY });
  h.addUser('alice@example.com');
  h.addUser('bob@example.com');
  h.addUser('root@example.com', 'admin');
  await newAgent(h.url).client.register({ authKey: h.key({ user: 'alice@example.com' }), hostname: 'alice-laptop', hostinfo: LINUX });
  state = ['--state', h.statePath];
});
afterAll(() => h.close());

describe('control access', () => {
  it('approvers set, request, approve (own refused), list in both --state orders, deny, revoke', async () => {
    expect((await control('access', 'approvers', 'set', 'custom:jit', 'bob@example.com,group:eng', '--max', '4h')).stdout).toContain('bob@example.com, group:eng');
    const req = await control('access', 'request', '--as', 'alice@example.com', '--attr', 'custom:jit', '--value', 'true', '--for', '2h', '--reason', 'db migration', '--json');
    expect(req.code).toBe(0);
    const r = json<AccessRequest>(req);
    expect(r).toMatchObject({ id: expect.any(Number), state: 'pending', requester: 'alice@example.com', attribute: 'custom:jit', value: true });

    const own = await control('access', 'approve', String(r.id), '--as', 'alice@example.com');
    expect(own.code).toBe(1);
    expect(own.stderr).toMatch(/cannot approve their own request/);
    const ok = await control('access', 'approve', String(r.id), '--as', 'bob@example.com');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/approved by bob@example\.com/);
    expect(h.store.attrsOf(h.store.nodeByHostname('alice-laptop')!.id)).toMatchObject([{ name: 'custom:jit', value: true }]);

    // --state as the filter and as the file, in both orders
    for (const args of [['--state', 'approved', ...state], [...state, '--state', 'approved']]) {
      const out = await runControl(['access', 'list', ...args, '--json']);
      expect(out.code).toBe(0);
      const rows = json<AccessRequest[]>(out);
      expect(rows.map((x) => [x.id, x.state])).toEqual([[r.id, 'approved']]);
      expect(rows[0]).toMatchObject({ requester: 'alice@example.com', attribute: 'custom:jit', value: true, nodes: ['alice-laptop'], reason: 'db migration', approver: 'bob@example.com', created: expect.any(Number), expires: expect.any(Number) });
    }
    expect(json<AccessRequest[]>(await runControl(['access', 'list', '--state', 'pending', ...state, '--json']))).toEqual([]);

    const second = json<AccessRequest>(await control('access', 'request', '--as', 'alice@example.com', '--attr', 'custom:jit', '--value', 'true', '--for', '1h', '--reason', 'again', '--json'));
    expect((await control('access', 'deny', String(second.id), '--as', 'root@example.com')).code).toBe(2); // --reason is required
    const denied = await control('access', 'deny', String(second.id), '--as', 'root@example.com', '--reason', 'one is enough');
    expect(denied.stdout).toMatch(/denied by root@example\.com/);
    const revoked = await control('access', 'revoke', String(r.id));
    expect(revoked.stdout).toMatch(/request \d+ revoked/);
    expect(h.store.attrsOf(h.store.nodeByHostname('alice-laptop')!.id)).toEqual([]);
    const all = json<AccessRequest[]>(await control('access', 'list', '--json'));
    expect(all.map((x) => x.state).sort()).toEqual(['denied', 'revoked']);
    expect((await control('access', 'list')).stdout).toMatch(/^ID\s+STATE\s+REQUESTER/);
  }, 120_000);

  it.each([
    { name: 'over the maximum', args: ['request', '--as', 'alice@example.com', '--attr', 'custom:jit', '--value', 'true', '--for', '5h', '--reason', 'x'], code: 1, err: /at most 4h/ },
    { name: 'a bad duration', args: ['request', '--as', 'alice@example.com', '--attr', 'custom:jit', '--value', 'true', '--for', 'soon', '--reason', 'x'], code: 2, err: /--for/ },
    { name: 'no --as', args: ['request', '--attr', 'custom:jit', '--value', 'true', '--for', '1h', '--reason', 'x'], code: 2, err: /--as/ },
    { name: 'a bad id', args: ['approve', 'abc', '--as', 'bob@example.com'], code: 2, err: /request ID/ },
    { name: 'an unknown id', args: ['approve', '999', '--as', 'bob@example.com'], code: 1, err: /no such access request/ },
    { name: 'two state filters', args: ['list', '--state', 'pending', '--state', 'approved'], code: 2, err: /more than one state filter/ },
  ])('$name → exit $code', async ({ args, code, err }) => {
    const out = await control('access', ...args);
    expect(out.code).toBe(code);
    expect(out.stderr).toMatch(err);
  }, 60_000);
});

describe('flag parsers', () => {
  it.each([
    { values: ['pending', '/x/c.db'], want: { filter: 'pending', file: '/x/c.db' } },
    { values: ['/x/c.db', 'revoked'], want: { filter: 'revoked', file: '/x/c.db' } },
    { values: ['./pending'], want: { filter: undefined, file: './pending' } },
    { values: ['ended'], want: { filter: 'ended', file: undefined } },
    { values: [], want: { filter: undefined, file: undefined } },
  ])('splitStateFlags($values)', ({ values, want }) => {
    expect(splitStateFlags(values)).toEqual(want);
  });

  it.each([
    { text: '2h', want: 1_000_000 - 7_200_000 },
    { text: '2030-01-01', want: Date.UTC(2030, 0, 1) },
    { text: '2030-01-01T10:00:00Z', want: Date.UTC(2030, 0, 1, 10) },
    { text: 'yesterday', want: null },
    { text: '2030-13-45', want: null },
  ])('parseSince($text)', ({ text, want }) => {
    expect(parseSince(text, 1_000_000)).toBe(want);
  });

  it('fuzz: random flag values give a result or a usage error, never a crash', () => {
    const next = seededRng(1515);
    const alphabet = 'pendingaprovedxy0123456789-:T./ ';
    const deadline = Date.now() + 2000;
    for (let i = 0; i < 20_000 && Date.now() < deadline; i++) {
      const word = () => Array.from({ length: Math.floor(next() * 12) }, () => alphabet[Math.floor(next() * alphabet.length)]).join('');
      const t = parseSince(word(), 0);
      expect(t === null || Number.isFinite(t)).toBe(true);
      try {
        splitStateFlags([word(), word()]);
      } catch (err) {
        expect((err as Error).name).toBe('UsageError');
      }
    }
  });
});
