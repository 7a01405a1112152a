// `control policy eval`: the JSON-lines contract of issue 3, run as the real command.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const POLICY = join(ROOT, 'policy/testdata/least-privilege.hujson');
const TAILNET = join(ROOT, 'policy/testdata/least-privilege.tailnet.json');

function evalLines(lines: unknown[], policy = POLICY, tailnet = TAILNET): { out: unknown[]; status: number | null } {
  const input = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
  const r = spawnSync(join(ROOT, 'bin/control'), ['policy', 'eval', '--policy', policy, '--tailnet', tailnet], { input, encoding: 'utf8' });
  return { out: r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)), status: r.status };
}

describe('control policy eval', () => {
  it('answers each query line in order, running real packets through the destination filter', () => {
    const queries = [
      { q: { from: 'alice-laptop', to: 'prod-1', proto: 'tcp', dport: 22 }, want: { verdict: 'accept', reason: 'rule' } },
      { q: { from: 'alice-laptop', to: 'prod-1', proto: 'tcp', dport: 22, family: 6 }, want: { verdict: 'accept', reason: 'rule' } },
      { q: { from: 'bob-laptop', to: 'prod-1', proto: 'tcp', dport: 22 }, want: { verdict: 'drop', reason: 'no_rule' } },
      { q: { from: 'alice-laptop', to: 'prod-1', proto: 'tcp', dport: 80 }, want: { verdict: 'drop', reason: 'no_rule' } },
      { q: { from: 'alice-laptop', to: 'prod-1', proto: 'udp', dport: 22 }, want: { verdict: 'drop', reason: 'no_rule' } },
      { q: { from: 'alice-laptop', to: 'prod-1', proto: 'icmp' }, want: { verdict: 'accept', reason: 'rule' } },
      { q: { from: 'alice-laptop', to: 'prod-1', proto: 'icmp', family: 6 }, want: { verdict: 'accept', reason: 'rule' } },
      { q: { from: 'bob-laptop', to: 'prod-1', proto: 'icmp', family: 6 }, want: { verdict: 'accept', reason: 'rule' } }, // tcp:5432 for bob's jit posture
      { q: { from: 'alice-laptop', to: 'prod-1', proto: 47 }, want: { verdict: 'drop', reason: 'no_rule' } },
      { q: { from: 'alice-laptop', to: 'prod-1', proto: 'sctp', dport: 22 }, want: { verdict: 'drop', reason: 'no_rule' } },
      { q: { from: 'alice-laptop', to: 'prod-1', proto: 'tcp', dport: 22, dstIP: '100.64.0.99' }, want: { verdict: 'drop', reason: 'not_local' } },
      { q: { from: 'carol-laptop', to: 'sql-1', proto: 'tcp', dport: 443 }, want: { verdict: 'accept', reason: 'rule' } },
      { q: { whois: { at: 'sql-1', peer: 'carol-laptop' } }, want: { capMap: { 'example.com/cap/tailsql': [{ dataSrc: ['*'] }] } } },
      { q: { whois: { at: 'prod-1', peer: 'alice-laptop' } }, want: { capMap: {} } },
    ];
    const { out, status } = evalLines(queries.map((x) => x.q));
    expect(status).toBe(0);
    expect(out).toEqual(queries.map((x) => x.want));
  });

  it('a bad query line gets an error line and the rest are still answered', () => {
    const { out, status } = evalLines([
      'not json',
      { from: 'nobody', to: 'prod-1', proto: 'tcp', dport: 22 },
      { from: 'alice-laptop', to: 'prod-1', proto: 'bogus' },
      { from: 'alice-laptop', to: 'prod-1', proto: 'tcp', dport: 70000 },
      [1, 2],
      { from: 'alice-laptop', to: 'prod-1', proto: 'tcp', dport: 22 },
    ]);
    expect(status).toBe(0);
    expect(out).toHaveLength(6);
    for (const o of out.slice(0, 5)) expect(Object.keys(o as object)).toEqual(['error']);
    expect((out[1] as { error: string }).error).toContain('unknown node "nobody"');
    expect(out[5]).toEqual({ verdict: 'accept', reason: 'rule' });
  });

  it('a policy that does not compile gives one error line and exit 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gwf-eval-'));
    const bad = join(dir, 'bad.hujson');
    writeFileSync(bad, '{"grants": [{"src": ["group:nope"], "dst": ["*"], "ip": ["*"]}]}');
    const { out, status } = evalLines([{ from: 'alice-laptop', to: 'prod-1', proto: 'tcp', dport: 22 }], bad);
    expect(status).toBe(1);
    expect(out).toHaveLength(1);
    expect((out[0] as { error: string }).error).toMatch(/bad\.hujson:1:\d+: .*group:nope/);
  });
});
