// What a wildcard source `*` stands for, as Tailscale expands it (issue 11, item 1): the tailnet's
// address ranges minus 100.115.92.0/23, plus every approved subnet route (exit routes excepted; the
// caller adds the routes because they change with the tailnet).
// 100.115.92.0/23 sits inside the CGNAT range 100.64.0.0/10 but is reserved by ChromeOS for its VMs and
// containers, so Tailscale never assigns it to nodes and leaves it out of `*` (v4 becomes the two ranges
// 100.64.0.0-100.115.91.255 and 100.115.94.0-100.127.255.255).
import { TAILNET_V4_RANGE, TAILNET_V6_RANGE } from '../types/filter-rule.js';
import { rangeSetOfStrings, subtract, type RangeSet } from './ip-range.js';

export const CHROMEOS_VM_RANGE = '100.115.92.0/23';

export const WILDCARD_SRC_RANGES: RangeSet = subtract(rangeSetOfStrings([TAILNET_V4_RANGE, TAILNET_V6_RANGE]), rangeSetOfStrings([CHROMEOS_VM_RANGE]));

/**
 * User selectors may name every user of a login domain: `*@example.com` (also written
 * `user:*@example.com`, as Tailscale accepts). True when `login` is `pattern` or falls under it.
 */
export function loginMatches(pattern: string, login: string | null): boolean {
  if (login === null) return false;
  if (pattern.startsWith('*@')) return login.endsWith(pattern.slice(1));
  return login === pattern;
}
