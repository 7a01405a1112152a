// Who may put which tags on a node (control.md "Tags"). A requested tag is permitted when it is declared
// in `tagOwners` and: the key's user is an admin (policy.md: `[]` means only admins may apply a tag, so
// admins may apply every declared tag), or one of its owners is the user, a group containing the user,
// `autogroup:member`, or a tag that is itself permitted (a tag may own another tag; this closes
// transitively). Tags an auth key was created with are permitted as they are. Pure.
import { parse as parseJsonc, type ParseError } from 'jsonc-parser';

export interface TagRules {
  groups: Map<string, Set<string>>;
  tagOwners: Map<string, string[]>;
  /** True when the policy has neither `grants` nor `acls` (the allow-all compatibility quirk). */
  allowAll: boolean;
}

/** Extracts what registration needs from an (already validated) policy text. */
export function tagRulesFromPolicyText(text: string): TagRules {
  const errors: ParseError[] = [];
  const doc = parseJsonc(text, errors, { allowTrailingComma: true, disallowComments: false }) as unknown;
  const obj = typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? (doc as Record<string, unknown>) : {};
  const groups = new Map<string, Set<string>>();
  const tagOwners = new Map<string, string[]>();
  const g = obj.groups;
  if (typeof g === 'object' && g !== null) {
    for (const [name, members] of Object.entries(g as Record<string, unknown>)) {
      if (Array.isArray(members)) groups.set(name, new Set(members.filter((m): m is string => typeof m === 'string')));
    }
  }
  const t = obj.tagOwners;
  if (typeof t === 'object' && t !== null) {
    for (const [tag, owners] of Object.entries(t as Record<string, unknown>)) {
      if (Array.isArray(owners)) tagOwners.set(tag, owners.filter((o): o is string => typeof o === 'string'));
    }
  }
  return { groups, tagOwners, allowAll: !('grants' in obj) && !('acls' in obj) };
}

export interface TagRequest {
  login: string;
  isAdmin: boolean;
  /** Tags the auth key was created with. */
  keyTags: readonly string[];
  requested: readonly string[];
}

/** The requested tags that are NOT permitted (empty when all are), in request order, deduplicated. */
export function deniedTags(rules: TagRules, req: TagRequest): string[] {
  const permitted = new Set<string>();
  for (const t of req.keyTags) if (rules.tagOwners.has(t)) permitted.add(t);
  const ownsDirectly = (owner: string): boolean => {
    if (owner === req.login) return true;
    if (owner === 'autogroup:admin') return req.isAdmin;
    if (owner === 'autogroup:member') return true;
    if (owner.startsWith('group:')) return rules.groups.get(owner)?.has(req.login) ?? false;
    return false;
  };
  for (const [tag, owners] of rules.tagOwners) if (req.isAdmin || owners.some(ownsDirectly)) permitted.add(tag);
  // A permitted tag confers every tag it owns; iterate to a fixed point.
  let grew = true;
  while (grew) {
    grew = false;
    for (const [tag, owners] of rules.tagOwners) {
      if (!permitted.has(tag) && owners.some((o) => o.startsWith('tag:') && permitted.has(o))) {
        permitted.add(tag);
        grew = true;
      }
    }
  }
  const denied: string[] = [];
  for (const t of req.requested) if (!permitted.has(t) && !denied.includes(t)) denied.push(t);
  return denied;
}

/** The refusal text the agent shows (a contract: localapi.md, control.md). */
export function tagsRefusal(denied: readonly string[]): string {
  return `requested tags [${denied.join(' ')}] are invalid or not permitted`;
}
