// The `control policy check|compile` contracts, by spawning bin/control (tsx startup ~0.5 s each, so few
// cases): exit codes, `ok`, `file:line:col: message` on stderr, --json on stdout, compile's JSON shape.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/control');
const TD = join(ROOT, 'policy/testdata');

function control(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(BIN, args, { encoding: 'utf8', cwd: ROOT, timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('control policy check', () => {
  it('prints ok and exits 0 for a good policy, running its tests without a tailnet', () => {
    expect(control('policy', 'check', '--policy', join(TD, 'least-privilege.hujson'))).toEqual({ code: 0, stdout: 'ok\n', stderr: '' });
  });

  it('prints every diagnostic as file:line:col: message and exits 1', () => {
    const file = join(TD, 'errors.hujson');
    const r = control('policy', 'check', '--policy', file, '--tailnet', join(TD, 'tailnet.json'));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const golden = JSON.parse(readFileSync(join(TD, 'errors.json'), 'utf8')).diagnostics as string[];
    expect(r.stderr).toBe(golden.map((d) => d.replace(/^errors\.hujson/, file)).join('\n') + '\n');
  });

  it("prints Tailscale's message text for the rejections Tailscale makes, after file:line:col", () => {
    const file = join(TD, 'tailscale-rejections.hujson');
    const r = control('policy', 'check', '--policy', file);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    for (const text of [
      "tag names must start with a letter, after 'tag:'",
      'dst "0.0.0.0/0": to allow all IP addresses, use "*" or "autogroup:internet"',
      'dst "::/0": to allow all IP addresses, use "*" or "autogroup:internet"',
      'capability name must not be in the tailscale.com domain',
      'cannot use app grants with autogroup:internet',
      'autogroup:self can only be used with users, groups, or supported autogroups',
      'users in dst are only allowed from the same user',
      'test(s) failed',
    ]) {
      expect(lines.find((l) => l.includes(text)) ?? `(no line with ${text})`).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `));
    }
  });

  it('--json prints the diagnostics as a JSON list on stdout', () => {
    const r = control('policy', 'check', '--json', '--policy', join(TD, 'errors.hujson'));
    expect(r.code).toBe(1);
    const list = JSON.parse(r.stdout);
    expect(list.length).toBeGreaterThan(10);
    expect(list[0]).toEqual({ file: join(TD, 'errors.hujson'), line: 3, col: 49, code: 'ERR_POLICY_NESTED_GROUP', message: expect.stringContaining('groups do not nest') });
  });
});

describe('control policy compile', () => {
  it('prints {"<node>": FilterRule[]} for every node, equal to the golden', () => {
    const r = control('policy', 'compile', '--policy', join(TD, 'least-privilege.hujson'), '--tailnet', join(TD, 'least-privilege.tailnet.json'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(readFileSync(join(TD, 'least-privilege.json'), 'utf8')).rules);
  });

  it('--node limits the output; an unknown node or a bad policy exits 1; missing flags exit 2', () => {
    const one = control('policy', 'compile', '--policy', join(TD, 'app-capabilities.hujson'), '--tailnet', join(TD, 'app-capabilities.tailnet.json'), '--node', 'go');
    expect(one.code).toBe(0);
    expect(Object.keys(JSON.parse(one.stdout))).toEqual(['go']);
    const unknown = control('policy', 'compile', '--policy', join(TD, 'app-capabilities.hujson'), '--tailnet', join(TD, 'app-capabilities.tailnet.json'), '--node', 'nope');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown node "nope"');
    const bad = control('policy', 'compile', '--policy', join(TD, 'errors.hujson'), '--tailnet', join(TD, 'tailnet.json'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/errors\.hujson:3:49: group "group:eng": member "group:ops" is a group; groups do not nest/);
    expect(control('policy', 'compile', '--policy', join(TD, 'errors.hujson')).code).toBe(2);
  });
});
