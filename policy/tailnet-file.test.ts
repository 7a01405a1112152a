// The tailnet file contract (issue 2): valid files load unchanged; each mistake is reported with its
// position; nothing throws.
import { describe, expect, it } from 'vitest';
import { parseTailnet } from './index.js';

const ok = `{
  "users": [{"login": "alice@example.com", "name": "Alice", "role": "admin"}, {"login": "bob@example.com"}],
  "nodes": [
    {"name": "a", "user": "alice@example.com", "tags": [], "ips": ["100.64.0.1", "fd7a:115c:a1e0::1"],
     "posture": {"node:os": "linux", "custom:jit": true}, "postureExpiry": {"custom:jit": 1700000000000}},
    {"name": "r", "tags": ["tag:router"], "ips": ["100.64.0.2"], "routes": ["10.0.0.0/16"]},
  ],
}`;

describe('parseTailnet', () => {
  it('loads a valid file (HuJSON accepted)', () => {
    const { tailnet, diagnostics } = parseTailnet(ok, 't.json');
    expect(diagnostics).toEqual([]);
    expect(tailnet).toEqual({
      users: [{ login: 'alice@example.com', name: 'Alice', role: 'admin' }, { login: 'bob@example.com' }],
      nodes: [
        { name: 'a', user: 'alice@example.com', tags: [], ips: ['100.64.0.1', 'fd7a:115c:a1e0::1'], posture: { 'node:os': 'linux', 'custom:jit': true }, postureExpiry: { 'custom:jit': 1700000000000 } },
        { name: 'r', tags: ['tag:router'], ips: ['100.64.0.2'], routes: ['10.0.0.0/16'] },
      ],
    });
  });

  it.each([
    { name: 'unknown user', edit: ['"user": "alice@example.com", "tags": []', '"user": "carol@example.com", "tags": []'], line: 4, msg: 'user "carol@example.com" is not in users' },
    { name: 'bad ip', edit: ['"100.64.0.2"', '"100.64.0.256"'], line: 6, msg: 'is not an IP address' },
    { name: 'duplicate ip', edit: ['"100.64.0.2"', '"100.64.0.1"'], line: 6, msg: 'already used by another node' },
    { name: 'duplicate node', edit: ['"name": "r"', '"name": "a"'], line: 6, msg: 'duplicate node' },
    { name: 'route with host bits', edit: ['"10.0.0.0/16"', '"10.0.0.1/16"'], line: 6, msg: 'host bits' },
    { name: 'bad role', edit: ['"role": "admin"', '"role": "owner"'], line: 2, msg: 'expected "admin" or "member"' },
    { name: 'bad tag', edit: ['"tag:router"', '"router"'], line: 6, msg: 'must look like tag:name' },
    { name: 'unknown key', edit: ['"routes"', '"route"'], line: 6, msg: 'unknown key "route"' },
    { name: 'bad posture value', edit: ['"node:os": "linux"', '"node:os": ["linux"]'], line: 5, msg: 'value must be a string, number or boolean' },
    { name: 'bad expiry', edit: ['1700000000000', '"soon"'], line: 5, msg: 'expected a time in ms' },
    { name: 'no user and no tags', edit: ['"tags": ["tag:router"]', '"tags": []'], line: 6, msg: 'needs a "user" or at least one tag' },
  ])('$name', ({ edit, line, msg }) => {
    const { tailnet, diagnostics } = parseTailnet(ok.replace(edit[0], edit[1]), 't.json');
    expect(tailnet).toBeNull();
    expect(diagnostics).toEqual([expect.objectContaining({ file: 't.json', line, code: 'ERR_TAILNET_INVALID', message: expect.stringContaining(msg) })]);
  });

  it('reports syntax errors with positions', () => {
    const { diagnostics } = parseTailnet('{"users": [}', 't.json');
    expect(diagnostics[0]).toMatchObject({ line: 1, col: 12, code: 'ERR_POLICY_SYNTAX' });
  });
});
