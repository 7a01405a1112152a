import { describe, expect, it } from 'vitest';
import { deniedTags, tagRulesFromPolicyText, tagsRefusal } from './tag-owners.js';

const POLICY = `{
  // comments and trailing commas are fine
  "groups": {"group:eng": ["alice@example.com"],},
  "tagOwners": {
    "tag:web": ["group:eng"],
    "tag:db": ["bob@example.com"],
    "tag:admin-only": [],
    "tag:ci": ["autogroup:admin"],
    "tag:worker": ["tag:ci"],
    "tag:leaf": ["tag:worker"],
  },
  "grants": [],
}`;
const rules = tagRulesFromPolicyText(POLICY);

describe('tag ownership', () => {
  it.each([
    { name: 'via group', login: 'alice@example.com', admin: false, keyTags: [], req: ['tag:web'], denied: [] },
    { name: 'direct user', login: 'bob@example.com', admin: false, keyTags: [], req: ['tag:db'], denied: [] },
    { name: 'not an owner', login: 'bob@example.com', admin: false, keyTags: [], req: ['tag:web'], denied: ['tag:web'] },
    { name: 'undeclared tag', login: 'alice@example.com', admin: false, keyTags: [], req: ['tag:nope'], denied: ['tag:nope'] },
    { name: '[] means admins only (member)', login: 'alice@example.com', admin: false, keyTags: [], req: ['tag:admin-only'], denied: ['tag:admin-only'] },
    { name: '[] means admins only (admin)', login: 'carol@example.com', admin: true, keyTags: [], req: ['tag:admin-only'], denied: [] },
    { name: 'autogroup:admin', login: 'carol@example.com', admin: true, keyTags: [], req: ['tag:ci'], denied: [] },
    { name: 'autogroup:admin refuses members', login: 'bob@example.com', admin: false, keyTags: [], req: ['tag:ci'], denied: ['tag:ci'] },
    { name: 'key tags are permitted', login: 'bob@example.com', admin: false, keyTags: ['tag:web'], req: ['tag:web'], denied: [] },
    { name: 'a key tag owns further tags, transitively', login: 'bob@example.com', admin: false, keyTags: ['tag:ci'], req: ['tag:worker', 'tag:leaf'], denied: [] },
    { name: 'mixed: only the bad ones are named', login: 'alice@example.com', admin: false, keyTags: [], req: ['tag:web', 'tag:db', 'tag:x'], denied: ['tag:db', 'tag:x'] },
  ])('$name', ({ login, admin, keyTags, req, denied }) => {
    expect(deniedTags(rules, { login, isAdmin: admin, keyTags, requested: req })).toEqual(denied);
  });

  it('formats the refusal exactly', () => {
    expect(tagsRefusal(['tag:x'])).toBe('requested tags [tag:x] are invalid or not permitted');
    expect(tagsRefusal(['tag:x', 'tag:y'])).toBe('requested tags [tag:x tag:y] are invalid or not permitted');
  });

  it('detects the allow-all quirk', () => {
    expect(rules.allowAll).toBe(false);
    expect(tagRulesFromPolicyText('{}').allowAll).toBe(true);
    expect(tagRulesFromPolicyText('{"acls": []}').allowAll).toBe(false);
  });
});
