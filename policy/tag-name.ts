// Tailscale's tag name rule (its tailcfg CheckTag, restated): `tag:` followed by a non-empty name that
// starts with an ASCII letter and holds only ASCII letters, digits and dashes. Messages are Tailscale's.

/** Why `tag` is not a valid tag name, in Tailscale's words, or null when it is valid. */
export function tagNameProblem(tag: string): string | null {
  if (!tag.startsWith('tag:')) return "tags must start with 'tag:'";
  const name = tag.slice('tag:'.length);
  if (name === '') return 'tag names must not be empty';
  if (!/^[A-Za-z]/.test(name)) return "tag names must start with a letter, after 'tag:'";
  if (!/^[A-Za-z0-9-]+$/.test(name)) return 'tag names can only contain numbers, letters, or dashes';
  return null;
}
