// One row per error in policy.md's "Errors we must produce": the policy text, the substring the
// diagnostic must point at (its first occurrence gives the expected line:col), the code, and a message part.
import { describe, expect, it } from 'vitest';
import { checkPolicy, parsePolicy } from './index.js';

/** 1-based line/col of the first occurrence of `needle` in `text`. */
/** A `|` in the needle marks the expected spot inside it: `["|group:a"]`. */
function posOf(text: string, needle: string): { line: number; col: number } {
  const bar = needle.indexOf('|');
  const found = text.indexOf(needle.replace('|', ''));
  if (found < 0) throw new Error(`needle ${needle} not in text`);
  const at = found + Math.max(0, bar);
  const before = text.slice(0, at).split('\n');
  return { line: before.length, col: before[before.length - 1].length + 1 };
}

const BASE = `{
  "groups": {"group:eng": ["alice@example.com"]},
  "tagOwners": {"tag:web": ["group:eng"]},
  "hosts": {"db": "10.0.0.5"},
  "postures": {"posture:ok": ["node:os == 'linux'"]},
`;

/** A policy with the given grants (plus BASE definitions). */
const grants = (g: string) => `${BASE}  "grants": [\n    ${g}\n  ],\n}\n`;

interface Row {
  name: string;
  text: string;
  at: string;
  code: string;
  msg: string;
}

const rows: Row[] = [
  { name: 'syntax error', text: '{"grants": [ {"src": ["*"] "dst": ["*"]} ]}', at: '"dst"', code: 'ERR_POLICY_SYNTAX', msg: "expected ','" },
  { name: 'unknown top-level key', text: '{\n  "grants": [],\n  "aclz": [],\n}', at: '"aclz"', code: 'ERR_POLICY_UNKNOWN_KEY', msg: 'unknown top-level key "aclz"' },
  { name: 'unknown group', text: grants('{"src": ["group:ops"], "dst": ["tag:web"], "ip": ["*"]}'), at: '"group:ops"', code: 'ERR_POLICY_UNKNOWN_GROUP', msg: 'grant 0 src "group:ops": group is not defined in groups' },
  { name: 'tag not in tagOwners', text: grants('{"src": ["group:eng"], "dst": ["tag:db"], "ip": ["*"]}'), at: '"tag:db"', code: 'ERR_POLICY_UNKNOWN_TAG', msg: 'grant 0 dst "tag:db": tag is not defined in tagOwners' },
  { name: 'unknown tag in tagOwners owner', text: '{"tagOwners": {"tag:a": ["tag:b"]}, "grants": []}', at: '"tag:b"', code: 'ERR_POLICY_UNKNOWN_TAG', msg: 'owner "tag:b": tag is not defined in tagOwners' },
  { name: 'unknown host', text: grants('{"src": ["group:eng"], "dst": ["dbx"], "ip": ["*"]}'), at: '"dbx"', code: 'ERR_POLICY_UNKNOWN_HOST', msg: 'grant 0 dst "dbx": host is not defined in hosts' },
  { name: 'unknown ipset', text: grants('{"src": ["ipset:corp"], "dst": ["tag:web"], "ip": ["*"]}'), at: '"ipset:corp"', code: 'ERR_POLICY_UNKNOWN_IPSET', msg: 'ipset is not defined in ipsets' },
  { name: 'unknown posture', text: grants('{"src": ["group:eng"], "dst": ["tag:web"], "ip": ["*"], "srcPosture": ["posture:nope"]}'), at: '"posture:nope"', code: 'ERR_POLICY_UNKNOWN_POSTURE', msg: 'posture is not defined in postures' },
  { name: 'unknown posture in defaultSrcPosture', text: '{"defaultSrcPosture": ["posture:x"], "grants": []}', at: '"posture:x"', code: 'ERR_POLICY_UNKNOWN_POSTURE', msg: 'defaultSrcPosture "posture:x": posture is not defined in postures' },
  { name: 'nested group', text: '{"groups": {"group:a": ["a@example.com"], "group:b": ["group:a"]}, "grants": []}', at: '[|"group:a"]', code: 'ERR_POLICY_NESTED_GROUP', msg: 'groups do not nest' },
  { name: 'bad CIDR: host bits', text: grants('{"src": ["10.1.2.3/16"], "dst": ["tag:web"], "ip": ["*"]}'), at: '"10.1.2.3/16"', code: 'ERR_POLICY_BAD_CIDR', msg: 'CIDR has host bits set (did you mean 10.1.0.0/16?)' },
  { name: 'bad CIDR: not an address', text: grants('{"src": ["10.1.2.300"], "dst": ["tag:web"], "ip": ["*"]}'), at: '"10.1.2.300"', code: 'ERR_POLICY_BAD_CIDR', msg: 'not a valid IP address or CIDR' },
  { name: 'bad CIDR in hosts', text: '{"hosts": {"net": "10.0.0.1/8"}, "grants": []}', at: '"10.0.0.1/8"', code: 'ERR_POLICY_BAD_CIDR', msg: 'host bits set' },
  { name: 'bad port', text: grants('{"src": ["group:eng"], "dst": ["tag:web"], "ip": ["tcp:ssh"]}'), at: '"tcp:ssh"', code: 'ERR_POLICY_BAD_PORT', msg: 'bad port "ssh"' },
  { name: 'port out of range', text: grants('{"src": ["group:eng"], "dst": ["tag:web"], "ip": ["tcp:70000"]}'), at: '"tcp:70000"', code: 'ERR_POLICY_BAD_PORT', msg: 'ports go up to 65535' },
  { name: 'descending range', text: grants('{"src": ["group:eng"], "dst": ["tag:web"], "ip": ["tcp:443-80"]}'), at: '"tcp:443-80"', code: 'ERR_POLICY_BAD_PORT', msg: 'range must be ascending' },
  { name: 'port 0', text: grants('{"src": ["group:eng"], "dst": ["tag:web"], "ip": ["0"]}'), at: '"0"', code: 'ERR_POLICY_BAD_PORT', msg: 'port 0 is not allowed' },
  { name: 'port 0 in acl', text: `${BASE} "acls": [{"action": "accept", "src": ["group:eng"], "dst": ["tag:web:0"]}]}`, at: '"tag:web:0"', code: 'ERR_POLICY_BAD_PORT', msg: 'port 0 is not allowed' },
  { name: 'bare icmp', text: grants('{"src": ["group:eng"], "dst": ["tag:web"], "ip": ["icmp"]}'), at: '"icmp"', code: 'ERR_POLICY_BAD_PROTO', msg: 'bare protocol "icmp": write icmp:*' },
  { name: 'unknown protocol name', text: grants('{"src": ["group:eng"], "dst": ["tag:web"], "ip": ["quic:443"]}'), at: '"quic:443"', code: 'ERR_POLICY_BAD_PROTO', msg: 'unknown protocol "quic"' },
  { name: 'ip and app both empty', text: grants('{"src": ["group:eng"], "dst": ["tag:web"]}'), at: '{"src"', code: 'ERR_POLICY_EMPTY_GRANT', msg: 'grant 0: ip and app can not both be empty' },
  { name: 'ip and app both empty (empty lists)', text: grants('{"src": ["group:eng"], "dst": ["tag:web"], "ip": [], "app": {}}'), at: '{"src"', code: 'ERR_POLICY_EMPTY_GRANT', msg: 'ip and app can not both be empty' },
  { name: 'capability name with scheme', text: grants('{"src": ["group:eng"], "dst": ["tag:web"], "app": {"https://example.com/cap/x": [{}]}}'), at: '"https://', code: 'ERR_POLICY_BAD_CAP_NAME', msg: 'must be domain/path without a scheme' },
  { name: 'capability name without path', text: grants('{"src": ["group:eng"], "dst": ["tag:web"], "app": {"example": [{}]}}'), at: '"example"', code: 'ERR_POLICY_BAD_CAP_NAME', msg: 'must look like domain/path' },
  { name: 'capability value not an array', text: grants('{"src": ["group:eng"], "dst": ["tag:web"], "app": {"example.com/cap/x": {"a": 1}}}'), at: '{"a": 1}', code: 'ERR_POLICY_BAD_CAP_VALUE', msg: 'must be an array of JSON objects' },
  { name: 'capability value array of non-objects', text: grants('{"src": ["group:eng"], "dst": ["tag:web"], "app": {"example.com/cap/x": [{"a": 1}, "b"]}}'), at: '"b"', code: 'ERR_POLICY_BAD_CAP_VALUE', msg: 'found string' },
  { name: 'autogroup:self as src', text: grants('{"src": ["autogroup:self"], "dst": ["tag:web"], "ip": ["*"]}'), at: '"autogroup:self"', code: 'ERR_POLICY_BAD_SELF', msg: 'autogroup:self can only be used as a dst' },
  { name: 'autogroup:self with a tag src', text: grants('{"src": ["tag:web"], "dst": ["autogroup:self"], "ip": ["*"]}'), at: '"autogroup:self"', code: 'ERR_POLICY_BAD_SELF', msg: 'autogroup:self can only be used with users, groups, or supported autogroups' },
  { name: 'autogroup:self with * src', text: grants('{"src": ["*"], "dst": ["autogroup:self"], "ip": ["*"]}'), at: '"autogroup:self"', code: 'ERR_POLICY_BAD_SELF', msg: 'grant 0 dst "autogroup:self": autogroup:self can only be used with users, groups, or supported autogroups' },
  { name: 'via with a non-tag', text: grants('{"src": ["group:eng"], "dst": ["db"], "ip": ["*"], "via": ["group:eng"]}'), at: '"via": [|"group:eng"]', code: 'ERR_POLICY_BAD_VIA', msg: 'via can only be a tag' },
  { name: 'autogroup:danger-all as dst', text: grants('{"src": ["group:eng"], "dst": ["autogroup:danger-all"], "ip": ["*"]}'), at: '"autogroup:danger-all"', code: 'ERR_POLICY_BAD_DST', msg: 'cannot use autogroup:danger-all as a dst' },
  { name: 'acl action other than accept', text: `${BASE} "acls": [{"action": "deny", "src": ["group:eng"], "dst": ["tag:web:22"]}]}`, at: '"deny"', code: 'ERR_POLICY_BAD_ACTION', msg: 'action "deny" is not supported; only "accept"' },
  { name: 'bad posture expression', text: `{"postures": {"posture:x": ["node:os = 'linux'"]}, "grants": []}`, at: `"node:os = 'linux'"`, code: 'ERR_POLICY_BAD_POSTURE', msg: 'expected an operator' },
  { name: 'unknown posture attribute', text: `{"postures": {"posture:x": ["node:color == 'red'"]}, "grants": []}`, at: `"node:color`, code: 'ERR_POLICY_BAD_POSTURE', msg: 'unknown attribute node:color' },
  { name: 'posture order on a boolean', text: `{"postures": {"posture:x": ["custom:a >= true"]}, "grants": []}`, at: `"custom:a`, code: 'ERR_POLICY_BAD_POSTURE', msg: 'not booleans' },
  { name: 'host name with @', text: '{"hosts": {"a@b": "10.0.0.1"}, "grants": []}', at: '"a@b"', code: 'ERR_POLICY_BAD_NAME', msg: "must not be empty or contain '@', ':'" },
  { name: 'ipset cycle', text: '{"ipsets": {"ipset:a": ["ipset:b"], "ipset:b": ["ipset:a"]}, "grants": []}', at: '[|"ipset:a"]', code: 'ERR_POLICY_IPSET_CYCLE', msg: 'cycle' },
  { name: 'duplicate key', text: '{"grants": [], "grants": []}', at: '"grants": []}', code: 'ERR_POLICY_DUPLICATE_KEY', msg: 'duplicate key "grants"' },
  { name: 'wrong type', text: '{"grants": {}}', at: '{}', code: 'ERR_POLICY_TYPE', msg: 'grants: expected a list, got an object' },
  { name: 'unknown grant key', text: grants('{"src": ["group:eng"], "dst": ["tag:web"], "ip": ["*"], "ports": [22]}'), at: '"ports"', code: 'ERR_POLICY_UNKNOWN_KEY', msg: 'grant 0: unknown key "ports"' },
  { name: 'empty acl src (grants accept it)', text: `${BASE}  "acls": [{"action": "accept", "src": [], "dst": ["tag:web:*"]}],\n}\n`, at: '[]', code: 'ERR_POLICY_TYPE', msg: 'acl 0 src: must not be empty' },
  // Tailscale's own message text (issue 11), after our location
  { name: 'dst 0.0.0.0/0', text: grants('{"src": ["*"], "dst": ["0.0.0.0/0"], "ip": ["*"]}'), at: '"0.0.0.0/0"', code: 'ERR_POLICY_BAD_DST', msg: 'dst "0.0.0.0/0": to allow all IP addresses, use "*" or "autogroup:internet"' },
  { name: 'dst ::/0', text: grants('{"src": ["*"], "dst": ["::/0"], "ip": ["*"]}'), at: '"::/0"', code: 'ERR_POLICY_BAD_DST', msg: 'dst "::/0": to allow all IP addresses, use "*" or "autogroup:internet"' },
  { name: 'unknown tailscale.com capability', text: grants('{"src": ["*"], "dst": ["*"], "app": {"tailscale.com/cap/ingress": [{}]}}'), at: '"tailscale.com/cap/ingress"', code: 'ERR_POLICY_BAD_CAP_NAME', msg: 'capability name must not be in the tailscale.com domain' },
  { name: 'a companion capability granted directly', text: grants('{"src": ["*"], "dst": ["*"], "app": {"tailscale.com/cap/relay-target": [{}]}}'), at: '"tailscale.com/cap/relay-target"', code: 'ERR_POLICY_BAD_CAP_NAME', msg: 'capability name must not be in the tailscale.com domain' },
  { name: 'app grant toward autogroup:internet', text: grants('{"src": ["*"], "dst": ["autogroup:internet"], "app": {"example.com/cap/x": [{}]}}'), at: '{"example.com', code: 'ERR_POLICY_BAD_DST', msg: 'cannot use app grants with autogroup:internet' },
  { name: 'checkPeriod on accept', text: `${BASE} "ssh": [{"action": "accept", "src": ["group:eng"], "dst": ["tag:web"], "users": ["root"], "checkPeriod": "12h"}]}`, at: '"checkPeriod"', code: 'ERR_POLICY_BAD_SSH', msg: 'checkPeriod is only valid with action "check"' },
];

describe('every spec error, with its position', () => {
  it.each(rows)('$name', ({ text, at, code, msg }) => {
    const { policy, diagnostics } = parsePolicy(text, 'p.hujson');
    expect(policy).toBeNull();
    const want = posOf(text, at);
    const hit = diagnostics.find((d) => d.code === code);
    expect(hit, JSON.stringify(diagnostics)).toBeDefined();
    expect(hit).toMatchObject({ file: 'p.hujson', line: want.line, col: want.col });
    expect(hit!.message).toContain(msg);
  });
});

describe('collection', () => {
  it('reports every error, not just the first, sorted by position', () => {
    const text = grants(`{"src": ["group:nope"], "dst": ["tag:nope"], "ip": ["tcp:0", "icmp"]},
    {"src": ["autogroup:self"], "dst": ["autogroup:danger-all"], "ip": ["*"]}`);
    const { diagnostics } = parsePolicy(text, 'p.hujson');
    expect(diagnostics.map((d) => d.code)).toEqual([
      'ERR_POLICY_UNKNOWN_GROUP',
      'ERR_POLICY_UNKNOWN_TAG',
      'ERR_POLICY_BAD_PORT',
      'ERR_POLICY_BAD_PROTO',
      'ERR_POLICY_BAD_SELF',
      'ERR_POLICY_BAD_DST',
    ]);
    const sorted = [...diagnostics].sort((a, b) => a.line - b.line || a.col - b.col);
    expect(diagnostics).toEqual(sorted);
  });

  it('accepts a leading byte-order mark', () => {
    expect(parsePolicy('\uFEFF{"grants": []}', 'bom.hujson').diagnostics).toEqual([]);
  });

  it('counts columns after comments and CRLF line ends', () => {
    const text = '// header\r\n/* block\r\n comment */ {\r\n  "grants": [],\r\n  "bogus": 1, // trailing\r\n}\r\n';
    const { diagnostics } = parsePolicy(text, 'crlf.hujson');
    expect(diagnostics).toEqual([expect.objectContaining({ line: 5, col: 3, code: 'ERR_POLICY_UNKNOWN_KEY' })]);
  });
});

describe('failing tests reject the policy', () => {
  const text = `{
  "groups": {"group:eng": ["alice@example.com"]},
  "tagOwners": {"tag:db": ["group:eng"]},
  "grants": [{"src": ["group:eng"], "dst": ["tag:db"], "ip": ["tcp:5432"]}],
  "tests": [
    {"src": "alice@example.com", "accept": ["tag:db:5432", "tag:db:22"]},
    {"src": "bob@example.com", "deny": ["tag:db:5432"]},
    {"src": "alice@example.com", "proto": "udp", "deny": ["tag:db:5432"]},
  ],
}`;
  it('names the test, the destination and what happened, at the failing entry', () => {
    const { policy, diagnostics } = checkPolicy(text, 't.hujson');
    expect(policy).toBeNull();
    expect(diagnostics).toEqual([
      {
        file: 't.hujson',
        ...posOf(text, '"tag:db:22"'),
        code: 'ERR_POLICY_TEST_FAILED',
        message: 'test 0 (src alice@example.com, accept "tag:db:22"): test(s) failed: expected accept, got deny: no grant allows tcp/22 from alice@example.com to tag:db',
      },
    ]);
  });
  it('reports an unexpected accept', () => {
    const bad = text.replace('"deny": ["tag:db:5432"]}', '"deny": ["tag:db:5432"]}').replace('"src": "bob@example.com"', '"src": "group:eng"');
    const { diagnostics } = checkPolicy(bad, 't.hujson');
    expect(diagnostics.map((d) => d.message)).toContainEqual(expect.stringMatching(/^test 1 \(src group:eng, deny "tag:db:5432"\): test\(s\) failed: expected deny, got accept: tcp\/5432 from group:eng to tag:db is allowed/));
  });
});
