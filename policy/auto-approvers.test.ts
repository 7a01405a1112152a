// autoApprovers: which advertised routes a node gets without an admin, table-driven over users, groups,
// tags and autogroups, prefix containment and the exit routes.
import { describe, expect, it } from 'vitest';
import type { TailnetNode } from '../types/tailnet.js';
import { AutoApprover } from './auto-approvers.js';
import { parsePolicy } from './parse-policy.js';

const POLICY = `{
  "groups": {"group:net": ["bob@example.com"]},
  "tagOwners": {"tag:router": [], "tag:exit": [], "tag:other": []},
  "grants": [],
  "autoApprovers": {
    "routes": {
      "10.0.0.0/8": ["tag:router"],
      "192.168.1.0/24": ["group:net", "carol@example.com"],
      "172.16.0.0/12": ["autogroup:admin"],
      "2001:db8::/32": ["autogroup:member"],
    },
    "exitNode": ["tag:exit", "alice@example.com"],
  },
}`;

const parsed = parsePolicy(POLICY, 'aa.hujson');
if (!parsed.policy) throw new Error(JSON.stringify(parsed.diagnostics));
const approver = new AutoApprover(parsed.policy, [
  { login: 'alice@example.com', role: 'admin' },
  { login: 'bob@example.com', role: 'member' },
  { login: 'carol@example.com', role: 'member' },
]);

const node = (user: string, tags: string[] = []): TailnetNode => ({ name: 'n', user, tags, ips: ['100.64.0.9'] });

describe('AutoApprover', () => {
  it.each([
    { name: 'tagged router, route inside the entry', n: node('bob@example.com', ['tag:router']), adv: ['10.1.0.0/16'], want: ['10.1.0.0/16'] },
    { name: 'tagged router, the entry itself', n: node('bob@example.com', ['tag:router']), adv: ['10.0.0.0/8'], want: ['10.0.0.0/8'] },
    { name: 'route wider than the entry', n: node('bob@example.com', ['tag:router']), adv: ['10.0.0.0/7'], want: [] },
    { name: 'wrong tag', n: node('bob@example.com', ['tag:other']), adv: ['10.1.0.0/16'], want: [] },
    { name: 'group member', n: node('bob@example.com'), adv: ['192.168.1.0/25'], want: ['192.168.1.0/25'] },
    { name: 'user by login', n: node('carol@example.com'), adv: ['192.168.1.0/24'], want: ['192.168.1.0/24'] },
    { name: 'a tagged node is not its user', n: node('carol@example.com', ['tag:other']), adv: ['192.168.1.0/24'], want: [] },
    { name: 'autogroup:admin', n: node('alice@example.com'), adv: ['172.16.5.0/24'], want: ['172.16.5.0/24'] },
    { name: 'autogroup:admin, not an admin', n: node('bob@example.com'), adv: ['172.16.5.0/24'], want: [] },
    { name: 'autogroup:member, IPv6', n: node('bob@example.com'), adv: ['2001:db8:1::/48'], want: ['2001:db8:1::/48'] },
    { name: 'autogroup:member excludes tagged', n: node('bob@example.com', ['tag:router']), adv: ['2001:db8:1::/48'], want: [] },
    { name: 'exit node by tag', n: node('bob@example.com', ['tag:exit']), adv: ['0.0.0.0/0', '::/0'], want: ['0.0.0.0/0', '::/0'] },
    { name: 'exit node by user', n: node('alice@example.com'), adv: ['0.0.0.0/0', '::/0'], want: ['0.0.0.0/0', '::/0'] },
    { name: 'exit routes are not subnet routes', n: node('bob@example.com', ['tag:router']), adv: ['0.0.0.0/0', '10.2.0.0/16'], want: ['10.2.0.0/16'] },
    { name: 'unlisted user gets nothing', n: node('carol@example.com'), adv: ['10.0.0.0/8', '0.0.0.0/0'], want: [] },
    { name: 'garbage is ignored', n: node('bob@example.com', ['tag:router']), adv: ['not-a-prefix', '10.3.0.0/16'], want: ['10.3.0.0/16'] },
  ])('$name', ({ n, adv, want }) => {
    expect(approver.approve(n, adv)).toEqual(want);
  });

  it('a policy without autoApprovers approves nothing', () => {
    const p = parsePolicy('{"grants": []}', 'none.hujson').policy!;
    expect(new AutoApprover(p, []).approve(node('alice@example.com'), ['10.0.0.0/8', '0.0.0.0/0'])).toEqual([]);
  });
});
