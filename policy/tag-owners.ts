// Who may apply which tags (policy.md tagOwners; control.md "Tags"). The one implementation: control
// reaches it through its policy engine (control/policy-engine.ts) when a node registers or re-registers.
// A tag may be applied only when tagOwners declares it, and then
// - by an admin (`[]` means only admins may apply a tag, so admins may apply every declared tag);
// - by an applier already carrying it (the tags an auth key was created with, a tagged node's own tags);
// - by an owner the tag lists: the applier's login, a group containing it, `autogroup:member` (any user),
//   `autogroup:admin` (admins), or a tag the applier carries. Ownership does not chain: a tag owned by
//   tag:b needs an applier carrying tag:b, not one that could merely apply it (Tailscale's reading).
// Pure.
import type { UserRole } from '../types/tailnet.js';
import type { Policy } from './model.js';

export interface TagApplier {
  /** Login of the user applying the tags (an auth key's user, a node's owner). */
  login?: string;
  role?: UserRole;
  /** Tags the applier carries: an auth key's tags, or the tags of the node acting. */
  tags?: readonly string[];
}

/** True when `who` may apply `tag` under `policy`. Undeclared tags are never allowed. */
export function tagOwnersAllow(policy: Policy, tag: string, who: TagApplier): boolean {
  const owners = policy.tagOwners.get(tag);
  if (!owners) return false;
  if (who.role === 'admin' || who.tags?.includes(tag)) return true;
  for (const o of owners) {
    if (o === who.login) return true;
    if (o === 'autogroup:member' && who.login !== undefined) return true;
    if (o.startsWith('group:') && who.login !== undefined && policy.groups.get(o)?.includes(who.login)) return true;
    if (o.startsWith('tag:') && who.tags?.includes(o)) return true;
  }
  return false;
}

/** The requested tags `who` may not apply, in request order, deduplicated (empty when all are allowed). */
export function deniedTags(policy: Policy, who: TagApplier, requested: readonly string[]): string[] {
  const denied: string[] = [];
  for (const t of requested) if (!denied.includes(t) && !tagOwnersAllow(policy, t, who)) denied.push(t);
  return denied;
}
