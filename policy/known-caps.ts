// Tailscale's own peer capabilities (the `tailscale.com` domain) and the companions its control plane
// adds (issue 11, items 3 and 5). Facts restated from Tailscale's public tailcfg documentation and the
// recorded compatibility cases:
// - a policy may grant only Tailscale's known capabilities in the `tailscale.com` domain; any other
//   name there is rejected ("capability name must not be in the tailscale.com domain"), including the
//   companions themselves and the older `https://tailscale.com/cap/...` spellings written without the
//   scheme (e.g. `tailscale.com/cap/ingress`);
// - granting `tailscale.com/cap/drive` (Taildrive: src may access dst's shares) also tells each source
//   that the destination shares folders with it: the source receives `tailscale.com/cap/drive-sharer`
//   from the destination; `tailscale.com/cap/relay` (src may allocate relay endpoints on dst) likewise
//   gives the source `tailscale.com/cap/relay-target` from the destination. The companion rule is the
//   grant reversed (SrcIPs = the destinations, Dsts = the source node's own addresses), with no values.

export const TAILSCALE_CAP_DOMAIN = 'tailscale.com';

/** Known capabilities a policy may grant in the tailscale.com domain. */
export const GRANTABLE_TAILSCALE_CAPS: ReadonlySet<string> = new Set([
  'tailscale.com/cap/webui',
  'tailscale.com/cap/drive',
  'tailscale.com/cap/kubernetes',
  'tailscale.com/cap/relay',
  'tailscale.com/cap/tsidp',
]);

/** Granted capability → the companion its sources receive from its destinations. */
export const COMPANION_CAPS: ReadonlyMap<string, string> = new Map([
  ['tailscale.com/cap/drive', 'tailscale.com/cap/drive-sharer'],
  ['tailscale.com/cap/relay', 'tailscale.com/cap/relay-target'],
]);

/** True when `name` is in Tailscale's domain but not one of the capabilities a policy may grant. */
export function isForbiddenTailscaleCap(name: string): boolean {
  const domain = name.split('/', 1)[0].toLowerCase();
  if (domain !== TAILSCALE_CAP_DOMAIN && !domain.endsWith(`.${TAILSCALE_CAP_DOMAIN}`)) return false;
  return !GRANTABLE_TAILSCALE_CAPS.has(name);
}

/** The companion capabilities of a grant's capability map, sorted, as a CapMap with no values. */
export function companionCapMap(capMap: Readonly<Record<string, unknown[]>> | null): Record<string, unknown[]> | null {
  if (!capMap) return null;
  const names = Object.keys(capMap)
    .map((k) => COMPANION_CAPS.get(k))
    .filter((c): c is string => c !== undefined)
    .sort();
  if (names.length === 0) return null;
  const out: Record<string, unknown[]> = {};
  for (const n of names) out[n] = [];
  return Object.freeze(out);
}
