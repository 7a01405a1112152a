// Who may apply a tag (policy.md, tagOwners): control uses this when a key or an admin assigns tags.
// `[]` means only admins; owners may be users, groups, autogroup:admin/member, or other tags (a device
// carrying an owning tag may tag others).
import type { Policy } from './model.js';

export interface TagApplier {
  /** Login of the user applying the tag (absent for a tagged device acting). */
  login?: string;
  role?: 'admin' | 'member';
  /** Tags of the device acting, if it is a tagged device. */
  tags?: string[];
}

/** True when `who` may apply `tag` under `policy`. Unknown tags are never allowed. */
export function tagOwnersAllow(policy: Policy, tag: string, who: TagApplier): boolean {
  const owners = policy.tagOwners.get(tag);
  if (!owners) return false;
  if (who.role === 'admin') return true;
  for (const o of owners) {
    if (o === 'autogroup:admin') continue;
    if (o === 'autogroup:member' && who.login && !(who.tags?.length)) return true;
    if (o.startsWith('group:') && who.login && policy.groups.get(o)?.includes(who.login)) return true;
    if (o.startsWith('tag:') && who.tags?.includes(o)) return true;
    if (o === who.login) return true;
  }
  return false;
}
