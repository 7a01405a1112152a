// Who may apply which tags (policy/tag-owners.ts), table-driven. The cases control's registration relies
// on (auth key user, admin role, key tags) and the owner kinds tagOwners may list.
import { describe, expect, it } from 'vitest';
import { deniedTags, parsePolicy, tagOwnersAllow, type TagApplier } from './index.js';

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
    "tag:anyone": ["autogroup:member"],
  },
  "grants": [],
}`;
const policy = parsePolicy(POLICY, 'p.hujson').policy!;

const alice: TagApplier = { login: 'alice@example.com', role: 'member' };
const bob: TagApplier = { login: 'bob@example.com', role: 'member' };
const carolAdmin: TagApplier = { login: 'carol@example.com', role: 'admin' };

describe('tagOwnersAllow', () => {
  it.each([
    // owners: users, groups, autogroups, tags
    { name: 'via group', tag: 'tag:web', who: alice, want: true },
    { name: 'direct user', tag: 'tag:db', who: bob, want: true },
    { name: 'not an owner', tag: 'tag:web', who: bob, want: false },
    { name: 'autogroup:member: any user', tag: 'tag:anyone', who: bob, want: true },
    { name: 'autogroup:member: not a tag alone', tag: 'tag:anyone', who: { tags: ['tag:ci'] }, want: false },
    { name: 'autogroup:admin refuses members', tag: 'tag:ci', who: bob, want: false },
    { name: 'autogroup:admin', tag: 'tag:ci', who: carolAdmin, want: true },
    { name: 'an owning tag the applier carries', tag: 'tag:worker', who: { tags: ['tag:ci'] }, want: true },
    // admins, `[]`, undeclared tags
    { name: '[] means admins only (member)', tag: 'tag:admin-only', who: alice, want: false },
    { name: '[] means admins only (admin)', tag: 'tag:admin-only', who: carolAdmin, want: true },
    { name: 'admins may apply any declared tag', tag: 'tag:db', who: carolAdmin, want: true },
    { name: 'undeclared tag, even for admins', tag: 'tag:nope', who: carolAdmin, want: false },
    { name: 'undeclared tag the applier carries', tag: 'tag:nope', who: { login: 'bob@example.com', tags: ['tag:nope'] }, want: false },
    // tags the applier already carries (an auth key's tags, a node's own tags)
    { name: 'carried tags are permitted as they are', tag: 'tag:web', who: { ...bob, tags: ['tag:web'] }, want: true },
  ])('$name', ({ tag, who, want }) => expect(tagOwnersAllow(policy, tag, who)).toBe(want));
});

describe('deniedTags', () => {
  it.each([
    { name: 'all permitted', who: alice, req: ['tag:web'], denied: [] },
    { name: 'only the bad ones are named, in request order', who: alice, req: ['tag:web', 'tag:db', 'tag:x'], denied: ['tag:db', 'tag:x'] },
    { name: 'deduplicated', who: alice, req: ['tag:x', 'tag:x'], denied: ['tag:x'] },
    // Ownership does not chain (Tailscale): tag:ci owns tag:worker, which owns tag:leaf; a key tagged
    // tag:ci may apply tag:worker but not tag:leaf, which needs an applier carrying tag:worker.
    { name: 'a key tag owns what it owns directly', who: { ...bob, tags: ['tag:ci'] }, req: ['tag:worker', 'tag:leaf'], denied: ['tag:leaf'] },
    { name: 'a carried owning tag', who: { ...bob, tags: ['tag:worker'] }, req: ['tag:leaf'], denied: [] },
  ])('$name', ({ who, req, denied }) => expect(deniedTags(policy, who, req)).toEqual(denied));
});
