// Control asks the policy engine, never the policy text, about tags and the allow-all quirk.
import { describe, expect, it } from 'vitest';
import { policyEngine } from './policy-engine.js';

const POLICY = `{
  // HuJSON: comments and trailing commas
  "groups": {"group:eng": ["alice@example.com"],},
  "tagOwners": {"tag:web": ["group:eng"], "tag:ci": []},
  "grants": [],
}`;

describe('policyEngine.tags', () => {
  const tags = policyEngine.tags(POLICY, 'p.hujson');
  it.each([
    { name: 'declared', tag: 'tag:web', want: true },
    { name: 'declared with no owners', tag: 'tag:ci', want: true },
    { name: 'undeclared', tag: 'tag:db', want: false },
  ])('declares: $name', ({ tag, want }) => expect(tags.declares(tag)).toBe(want));

  it('answers tag ownership from policy/tag-owners.ts', () => {
    expect(tags.deniedTags({ login: 'alice@example.com', role: 'member' }, ['tag:web', 'tag:ci', 'tag:db'])).toEqual(['tag:ci', 'tag:db']);
    expect(tags.deniedTags({ login: 'bob@example.com', role: 'admin' }, ['tag:web', 'tag:ci'])).toEqual([]);
  });

  it.each([
    { name: 'grants present', text: POLICY, want: false },
    { name: 'neither grants nor acls', text: '{}', want: true },
    { name: 'acls present', text: '{"acls": []}', want: false },
  ])('allow-all quirk: $name', ({ text, want }) => {
    expect(policyEngine.tags(text, 'p.hujson').allowAll).toBe(want);
    expect(policyEngine.check(text, 'p.hujson', { users: [], nodes: [] }).allowAll).toBe(want);
  });

  it('refuses a policy that does not parse (stored policies were validated)', () => {
    expect(() => policyEngine.tags('{"grants": [', 'bad.hujson')).toThrow(/does not compile/);
    expect(policyEngine.check('{"grants": [', 'bad.hujson', { users: [], nodes: [] })).toMatchObject({ ok: false, allowAll: false });
  });
});
