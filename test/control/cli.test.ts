// The host commands as processes: `control serve` with admin commands working against its state file while
// it runs, startup policy handling (bad file → diagnostics + exit 1; allow-all → loud warning), and the
// output contracts (`keys create` prints only the key).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MESH_POLICY as POLICY } from './fixtures.js';
import { LINUX, newAgent, runControl, waitUntil } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'gwc-cli-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function serve(args: string[]): { child: ChildProcess; url: Promise<string>; out: () => string; err: () => string; exit: Promise<number> } {
  const child = spawn(join(import.meta.dirname, '../../bin/control'), ['serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const url = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', () => {
      const m = /listening (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', () => reject(new Error(`serve exited: ${err}`)));
  });
  url.catch(() => {});
  const exit = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  return { child, url, out: () => out, err: () => err, exit };
}

describe('control serve and admin commands', () => {
  const state = join(dir, 'state', 'control.db');
  const policy = join(dir, 'policy.hujson');
  writeFileSync(policy, POLICY);

  it('refuses to start on a bad --policy, printing every diagnostic', async () => {
    const bad = join(dir, 'bad.hujson');
    writeFileSync(bad, '{\n  "grants": [{"src": ["group:x"], "dst": ["*"], "ip": ["tcp:0"]}],\n}\n');
    const s = serve(['--listen', '127.0.0.1:0', '--state', join(dir, 'bad.db'), '--policy', bad]);
    expect(await s.exit).toBe(1);
    const lines = s.err().trim().split('\n');
    expect(lines.filter((l) => l.startsWith(`${bad}:2:`)).length).toBeGreaterThanOrEqual(2);
    expect(lines[lines.length - 1]).toMatch(/rejected \(\d+ errors?\); not starting/);
  });

  it('warns loudly about an allow-all policy', async () => {
    const empty = join(dir, 'empty.hujson');
    writeFileSync(empty, '{}\n');
    const s = serve(['--listen', '127.0.0.1:0', '--state', join(dir, 'empty.db'), '--policy', empty]);
    await s.url;
    expect(s.err()).toMatch(/WARNING: the policy has neither "grants" nor "acls"/);
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
  });

  it('runs with admin commands taking effect while it serves; keys never logged', async () => {
    expect((await runControl(['users', 'add', 'alice@example.com', '--role', 'admin', '--name', 'Alice', '--state', state])).code).toBe(0);
    expect((await runControl(['users', 'add', 'bob@example.com', '--state', state])).code).toBe(0);
    const dup = await runControl(['users', 'add', 'bob@example.com', '--state', state]);
    expect([dup.code, dup.stderr]).toEqual([1, 'control: user bob@example.com already exists\n']);
    const s = serve(['--listen', '127.0.0.1:0', '--state', state, '--policy', policy, '--ephemeral-timeout', '1s', '--keepalive', '1s']);
    const url = await s.url;

    // keys created while serving work at once; stdout is only the key
    const created = await runControl(['keys', 'create', '--user', 'alice@example.com', '--tags', 'tag:web', '--expiry', '1h', '--state', state]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^gwkey-[0-9a-f]{12}-[A-Za-z0-9_-]+\n$/);
    const key = created.stdout.trim();
    const web = newAgent(url);
    expect((await web.client.register({ authKey: key, hostname: 'web', hostinfo: LINUX })).node.tags).toEqual(['tag:web']);
    const bobKey = (await runControl(['keys', 'create', '--user', 'bob@example.com', '--reusable', '--ephemeral', '--state', state])).stdout.trim();
    const bob = newAgent(url);
    await bob.client.register({ authKey: bobKey, hostname: 'bob', hostinfo: LINUX });
    await web.stream();
    await bob.stream();
    await web.waitFor((nm) => nm.peers.some((p) => p.name === 'bob' && p.online));

    const bad = await runControl(['keys', 'create', '--user', 'bob@example.com', '--tags', 'tag:nope', '--state', state]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('');
    const list = await runControl(['keys', 'list', '--state', state]);
    expect(list.stdout).toMatch(/one-off\s+tag:web .* 1\s+used/);
    expect(list.stdout).toMatch(/reusable,ephemeral/);

    const nodes = JSON.parse((await runControl(['nodes', 'list', '--json', '--state', state])).stdout) as { name: string; ephemeral: boolean; addresses: string[] }[];
    expect(nodes.map((n) => [n.name, n.ephemeral])).toEqual([['web', false], ['bob', true]]);
    expect((await runControl(['nodes', 'list', '--state', state])).stdout).toMatch(/^ID\s+NAME\s+IP/);

    // revocation while serving: the key stops working for new registrations
    const id = key.split('-')[1];
    expect((await runControl(['keys', 'revoke', id, '--state', state])).stdout).toBe(`revoked key ${id}\n`);

    // policy get prints the active text exactly
    expect((await runControl(['policy', 'get', '--state', state])).stdout).toBe(POLICY + '\n');

    // ephemeral bob goes away 1 s after its stream ends
    await bob.stop();
    await web.waitFor((nm) => !nm.peers.some((p) => p.name === 'bob'), 4000);

    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
    await web.stop();
    expect(s.err()).toMatch(/node registered node=web/);
    expect(s.err()).not.toContain(key.slice(19));
    expect(s.err()).not.toContain(bobKey.slice(19));

    // restart without --policy serves the stored one
    const again = serve(['--listen', '127.0.0.1:0', '--state', state]);
    await again.url;
    await waitUntil(() => /policyVersion=1/.test(again.err()), 2000, 'startup log');
    again.child.kill('SIGTERM');
    expect(await again.exit).toBe(0);
  }, 60_000);

  it('usage errors exit 2', async () => {
    const r = await runControl(['keys', 'create', '--state', join(dir, 'x.db')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing required flag --user/);
    expect((await runControl(['attrs', 'set', 'n', 'custom:x', 'v', '--expiry', 'soon', '--state', join(dir, 'x.db')])).code).toBe(2);
    expect((await runControl(['serve', '--listen', 'nope', '--state', join(dir, 'x.db')])).code).toBe(2);
  });
});
