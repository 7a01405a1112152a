// Tailscale's compile semantics that the recorded compatibility cases revealed (issue 11), one small
// hand-written policy each: what `*` stands for as a source, autogroup:self with wildcard or mixed
// sources, the rejections Tailscale makes (word for word) and those it does not, and the companion
// capabilities of Tailscale's own capabilities.
import { describe, expect, it } from 'vitest';
import type { FilterRule } from '../types/filter-rule.js';
import { formatDiagnostic } from '../types/errors.js';
import type { Tailnet } from '../types/tailnet.js';
import { checkPolicy, PolicyCompiler } from './index.js';

const TAILNET: Tailnet = {
  users: [
    { login: 'alice@example.com', role: 'admin' },
    { login: 'bob@example.com', role: 'member' },
  ],
  nodes: [
    { name: 'alice-1', user: 'alice@example.com', tags: [], ips: ['100.64.0.1', 'fd7a:115c:a1e0::1'] },
    { name: 'alice-2', user: 'alice@example.com', tags: [], ips: ['100.64.0.2', 'fd7a:115c:a1e0::2'] },
    { name: 'bob-1', user: 'bob@example.com', tags: [], ips: ['100.64.0.3', 'fd7a:115c:a1e0::3'] },
    { name: 'web', tags: ['tag:web'], ips: ['100.64.0.10', 'fd7a:115c:a1e0::10'] },
    { name: 'router', tags: ['tag:router'], ips: ['100.64.0.20', 'fd7a:115c:a1e0::20'], routes: ['10.1.0.0/16', '0.0.0.0/0', '::/0'] },
  ],
};
const TAGS = `"tagOwners": {"tag:web": ["alice@example.com"], "tag:router": ["alice@example.com"]}`;

function check(body: string): { rules: (node: string) => FilterRule[]; errors: string[] } {
  const { policy, diagnostics } = checkPolicy(`{${TAGS},\n${body}}`, 'p.hujson', TAILNET, { now: 0 });
  const compiler = policy ? new PolicyCompiler(policy, TAILNET, { now: 0 }) : null;
  return {
    rules: (node) => JSON.parse(JSON.stringify(compiler?.compileNode(node).rules ?? null)) as FilterRule[],
    errors: diagnostics.map(formatDiagnostic),
  };
}

const WILDCARD_V4 = ['100.64.0.0-100.115.91.255', '100.115.94.0-100.127.255.255'];
const WILDCARD_V6 = ['fd7a:115c:a1e0::/48'];

describe('wildcard sources (item 1)', () => {
  it('* leaves out 100.115.92.0/23 and adds approved subnet routes, not exit routes', () => {
    const { rules, errors } = check(`"grants": [{"src": ["*"], "dst": ["tag:web"], "ip": ["tcp:443"]}]`);
    expect(errors).toEqual([]);
    expect(rules('web')[0].SrcIPs).toEqual(['10.1.0.0/16', ...WILDCARD_V4, ...WILDCARD_V6]);
  });
  it('the same for capability grants', () => {
    const { rules } = check(`"grants": [{"src": ["*"], "dst": ["tag:web"], "app": {"example.com/cap/x": [{}]}}]`);
    expect(rules('web')).toEqual([{ SrcIPs: ['10.1.0.0/16', ...WILDCARD_V4, ...WILDCARD_V6], CapGrant: [{ Dsts: ['100.64.0.10/32', 'fd7a:115c:a1e0::10/128'], CapMap: { 'example.com/cap/x': [{}] } }] }]);
  });
});
