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

describe('autogroup:self with a wildcard or mixed source (item 2)', () => {
  it('an acl with src * reaches each untagged device from its owner\'s devices only', () => {
    const { rules, errors } = check(`"acls": [{"action": "accept", "src": ["*"], "dst": ["autogroup:self:22"]}]`);
    expect(errors).toEqual([]);
    expect(rules('alice-1')).toEqual([{ SrcIPs: ['100.64.0.1', '100.64.0.2', 'fd7a:115c:a1e0::1', 'fd7a:115c:a1e0::2'], DstPorts: [{ IP: '100.64.0.1', Ports: { First: 22, Last: 22 } }, { IP: 'fd7a:115c:a1e0::1', Ports: { First: 22, Last: 22 } }] }]);
    expect(rules('bob-1')[0].SrcIPs).toEqual(['100.64.0.3', 'fd7a:115c:a1e0::3']);
    expect(rules('web')).toEqual([]);
  });
  it('autogroup:self mixed with a tag in one acl dst list: the tag gets the whole source', () => {
    const { rules, errors } = check(`"acls": [{"action": "accept", "src": ["*"], "dst": ["autogroup:self:*", "tag:web:443"]}]`);
    expect(errors).toEqual([]);
    expect(rules('web')[0].SrcIPs).toEqual(['10.1.0.0/16', ...WILDCARD_V4, ...WILDCARD_V6]);
    expect(rules('bob-1')[0].SrcIPs).toEqual(['100.64.0.3', 'fd7a:115c:a1e0::3']);
  });
  it.each([
    { name: 'grant with src *', body: `"grants": [{"src": ["*"], "dst": ["autogroup:self"], "ip": ["*"]}]` },
    { name: 'acl with a tag among the sources', body: `"acls": [{"action": "accept", "src": ["autogroup:member", "tag:web"], "dst": ["autogroup:self:*"]}]` },
    { name: 'acl with an IP source', body: `"acls": [{"action": "accept", "src": ["100.64.0.3"], "dst": ["autogroup:self:*"]}]` },
  ])('rejected: $name', ({ body }) => {
    expect(check(body).errors.join('\n')).toMatch(/dst "autogroup:self": autogroup:self can only be used with users, groups, or supported autogroups$/);
  });
});

describe('rejections Tailscale does not make (item 4)', () => {
  it.each([
    { name: 'empty src', g: `{"src": [], "dst": ["tag:web"], "ip": ["*"]}` },
    { name: 'empty dst', g: `{"src": ["*"], "dst": [], "ip": ["*"]}` },
  ])('a grant with an $name is accepted and grants nothing', ({ g }) => {
    const { rules, errors } = check(`"grants": [${g}]`);
    expect(errors).toEqual([]);
    for (const n of TAILNET.nodes) expect(rules(n.name)).toEqual([]);
  });
});

describe('capability grants and companions (item 5)', () => {
  it('a capability toward * covers the node\'s own addresses, not the routes it serves', () => {
    const { rules } = check(`"grants": [{"src": ["alice@example.com"], "dst": ["*"], "app": {"example.com/cap/x": [{}]}}]`);
    expect(rules('router')[0].CapGrant).toEqual([{ Dsts: ['100.64.0.20/32', 'fd7a:115c:a1e0::20/128'], CapMap: { 'example.com/cap/x': [{}] } }]);
  });
  it('a capability toward a served subnet goes nowhere: capabilities name nodes, not routes', () => {
    const { rules, errors } = check(`"grants": [{"src": ["*"], "dst": ["10.1.0.0/16"], "app": {"example.com/cap/x": [{}]}, "via": ["tag:router"]}]`);
    expect(errors).toEqual([]);
    expect(rules('router')).toEqual([]);
  });
  it.each([
    { cap: 'tailscale.com/cap/drive', companion: 'tailscale.com/cap/drive-sharer' },
    { cap: 'tailscale.com/cap/relay', companion: 'tailscale.com/cap/relay-target' },
  ])('$cap gives each source $companion from the destinations', ({ cap, companion }) => {
    const { rules, errors } = check(`"grants": [{"src": ["bob@example.com"], "dst": ["tag:web"], "app": {"${cap}": [{}]}}]`);
    expect(errors).toEqual([]);
    expect(rules('web')).toEqual([{ SrcIPs: ['100.64.0.3', 'fd7a:115c:a1e0::3'], CapGrant: [{ Dsts: ['100.64.0.10/32', 'fd7a:115c:a1e0::10/128'], CapMap: { [cap]: [{}] } }] }]);
    expect(rules('bob-1')).toEqual([{ SrcIPs: ['100.64.0.10', 'fd7a:115c:a1e0::10'], CapGrant: [{ Dsts: ['100.64.0.3/32', 'fd7a:115c:a1e0::3/128'], CapMap: { [companion]: [] } }] }]);
    expect(rules('alice-1')).toEqual([]);
  });
  it('other capabilities, Tailscale\'s or not, have no companion', () => {
    const { rules, errors } = check(`"grants": [{"src": ["bob@example.com"], "dst": ["tag:web"], "app": {"tailscale.com/cap/webui": [{}], "example.com/cap/drive": [{}]}}]`);
    expect(errors).toEqual([]);
    expect(rules('bob-1')).toEqual([]);
  });
  it('Tailscale\'s grantable capabilities are accepted; others in its domain are not', () => {
    for (const cap of ['tailscale.com/cap/webui', 'tailscale.com/cap/kubernetes', 'tailscale.com/cap/tsidp']) {
      expect(check(`"grants": [{"src": ["*"], "dst": ["*"], "app": {"${cap}": [{}]}}]`).errors).toEqual([]);
    }
    for (const cap of ['tailscale.com/cap/funnel', 'tailscale.com/cap/drive-sharer', 'login.tailscale.com/cap/x']) {
      expect(check(`"grants": [{"src": ["*"], "dst": ["*"], "app": {"${cap}": [{}]}}]`).errors.join()).toContain('capability name must not be in the tailscale.com domain');
    }
  });
});

describe('dst * on an exit node', () => {
  it('covers its exit routes too (Tailscale ships "*", which the exit node applies to forwarded traffic)', () => {
    const { rules } = check(`"acls": [{"action": "accept", "src": ["bob@example.com"], "dst": ["*:*"]}]`);
    const ips = (rules('router')[0].DstPorts ?? []).map((d) => d.IP);
    expect(ips).toEqual(expect.arrayContaining(['0.0.0.0/0', '::/0', '10.1.0.0/16']));
  });
});

describe('tests, as Tailscale evaluates them (items 3 and 4)', () => {
  const GRANT = `"hosts": {"lan": "10.1.0.0/16", "web-ip": "100.64.0.10"},
  "grants": [{"src": ["bob@example.com"], "dst": ["lan", "tag:web"], "ip": ["tcp:22"]}]`;
  it.each([
    { name: 'a host alias of one address', target: 'web-ip:22' },
    { name: 'an IPv4 literal', target: '100.64.0.10:22' },
    { name: 'an IPv6 literal', target: 'fd7a:115c:a1e0::10:22' },
  ])('a destination that is $name passes', ({ target }) => {
    expect(check(`${GRANT}, "tests": [{"src": "bob@example.com", "accept": ["${target}"]}]`).errors).toEqual([]);
  });
  it('an IPv6 literal source is accepted', () => {
    expect(check(`${GRANT}, "tests": [{"src": "fd7a:115c:a1e0::3", "accept": ["tag:web:22"]}]`).errors).toEqual([]);
  });
  it.each([
    { name: 'a host alias of a subnet', target: 'lan:22' },
    { name: 'a CIDR literal', target: '10.1.0.0/16:22' },
    { name: 'a /32 literal', target: '100.64.0.10/32:22' },
  ])('a destination that is $name never passes: test(s) failed', ({ target }) => {
    expect(check(`${GRANT}, "tests": [{"src": "bob@example.com", "accept": ["${target}"]}]`).errors.join()).toContain('test(s) failed');
    expect(check(`${GRANT}, "tests": [{"src": "alice@example.com", "deny": ["${target}"]}]`).errors.join()).toContain('test(s) failed');
  });
  it('a failing test says test(s) failed after our location', () => {
    expect(check(`${GRANT}, "tests": [{"src": "alice@example.com", "accept": ["tag:web:22"]}]`).errors).toEqual([
      expect.stringMatching(/^p\.hujson:\d+:\d+: test 0 \(src alice@example\.com, accept "tag:web:22"\): test\(s\) failed: expected accept, got deny/),
    ]);
  });
});

describe('user selectors', () => {
  it('user:*@domain names every user of that login domain; user:login is a login', () => {
    const tn = { ...TAILNET, users: [...TAILNET.users, { login: 'carol@other.org' }], nodes: [...TAILNET.nodes, { name: 'carol-1', user: 'carol@other.org', tags: [], ips: ['100.64.0.4', 'fd7a:115c:a1e0::4'] }] };
    const { policy, diagnostics } = checkPolicy(`{${TAGS}, "grants": [{"src": ["tag:web"], "dst": ["user:*@example.com"], "ip": ["tcp:22"]}, {"src": ["user:carol@other.org"], "dst": ["tag:web"], "ip": ["tcp:80"]}]}`, 'p.hujson', tn, { now: 0 });
    expect(diagnostics).toEqual([]);
    const c = new PolicyCompiler(policy!, tn, { now: 0 });
    for (const n of ['alice-1', 'alice-2', 'bob-1']) expect(c.compileNode(n).rules.length).toBe(1);
    expect(c.compileNode('carol-1').rules).toEqual([]);
    expect(c.compileNode('web').rules.map((r) => r.SrcIPs)).toEqual([['100.64.0.4', 'fd7a:115c:a1e0::4']]);
  });
});

describe('tag names and ssh (item 3)', () => {
  it.each([
    { tag: 'tag:1web', msg: "tag names must start with a letter, after 'tag:'" },
    { tag: 'tag:-web', msg: "tag names must start with a letter, after 'tag:'" },
    { tag: 'tag:', msg: 'tag names must not be empty' },
    { tag: 'tag:web_1', msg: 'tag names can only contain numbers, letters, or dashes' },
    { tag: 'tag:wéb', msg: 'tag names can only contain numbers, letters, or dashes' },
  ])('tagOwners $tag is rejected: $msg', ({ tag, msg }) => {
    const { diagnostics } = checkPolicy(`{"tagOwners": {"${tag}": []}, "grants": []}`, 'p.hujson');
    expect(diagnostics.map(formatDiagnostic).join('\n')).toContain(`tagOwners ${JSON.stringify(tag)}: ${msg}`);
  });
  it('tag:web-2 is a valid tag name', () => {
    expect(checkPolicy(`{"tagOwners": {"tag:web-2": []}, "grants": []}`, 'p.hujson').diagnostics).toEqual([]);
  });
  const ssh = (src: string, dst: string) => check(`"grants": [], "ssh": [{"action": "accept", "src": [${src}], "dst": [${dst}], "users": ["root"]}]`).errors.join('\n');
  it.each([
    { name: 'a tag to a user', src: '"tag:web"', dst: '"alice@example.com"', msg: 'users in dst are only allowed from the same user' },
    { name: 'another user to a user', src: '"bob@example.com"', dst: '"alice@example.com"', msg: 'users in dst are only allowed from the same user' },
    { name: 'a tag to autogroup:member', src: '"tag:web"', dst: '"autogroup:member"', msg: 'tags in src can only reach tags in dst' },
    { name: 'a tag to autogroup:self', src: '"tag:web"', dst: '"autogroup:self"', msg: 'autogroup:self can only be used with users, groups, or supported autogroups' },
  ])('ssh from $name is rejected', ({ src, dst, msg }) => {
    expect(ssh(src, dst)).toContain(msg);
  });
  it.each([
    { name: 'a user to themselves', src: '"alice@example.com"', dst: '"alice@example.com"' },
    { name: 'a tag to a tag', src: '"tag:web"', dst: '"tag:router"' },
    { name: 'members to their own devices and tags', src: '"autogroup:member"', dst: '"autogroup:self", "tag:web"' },
  ])('ssh from $name is accepted', ({ src, dst }) => {
    expect(ssh(src, dst)).toBe('');
  });
});

describe('incremental updates keep the new semantics', () => {
  it('companion rules on the sources follow destinations joining, and user:*@domain follows new users\' devices', () => {
    const body = `{${TAGS}, "grants": [{"src": ["bob@example.com"], "dst": ["tag:web"], "app": {"tailscale.com/cap/drive": [{}]}}, {"src": ["tag:router"], "dst": ["user:*@example.com"], "ip": ["tcp:22"]}]}`;
    const { policy } = checkPolicy(body, 'p.hujson', TAILNET, { now: 0 });
    const c = new PolicyCompiler(policy!, TAILNET, { now: 0 });
    c.compileAll();
    const web2 = { name: 'web-2', tags: ['tag:web'], ips: ['100.64.0.11', 'fd7a:115c:a1e0::11'] };
    const bob2 = { name: 'bob-2', user: 'bob@example.com', tags: [], ips: ['100.64.0.5', 'fd7a:115c:a1e0::5'] };
    expect(c.upsertNode(web2)).toContain('bob-1'); // bob-1's companion rule now lists web-2
    expect(c.upsertNode(bob2)).toEqual(expect.arrayContaining(['web', 'web-2', 'bob-2']));
    const fresh = new PolicyCompiler(policy!, { ...TAILNET, nodes: [...TAILNET.nodes, web2, bob2] }, { now: 0 });
    for (const n of fresh.nodeNames()) expect(JSON.stringify(c.compileNode(n).rules), n).toBe(JSON.stringify(fresh.compileNode(n).rules));
  });
});
