// IANA protocol numbers ↔ the names the policy language uses (policy.md `ip` entries).
const NAMES: Record<number, string> = {
  1: 'icmp',
  2: 'igmp',
  4: 'ipv4',
  6: 'tcp',
  8: 'egp',
  9: 'igp',
  17: 'udp',
  33: 'dccp',
  47: 'gre',
  50: 'esp',
  51: 'ah',
  58: 'icmpv6',
  132: 'sctp',
};

export function protoName(p: number): string {
  return NAMES[p] ?? String(p);
}

/** A protocol name (case-insensitive) or number 0-255; null if neither. */
export function protoNumber(s: string | number): number | null {
  if (typeof s === 'number') return Number.isInteger(s) && s >= 0 && s <= 255 ? s : null;
  const lower = s.toLowerCase();
  for (const [n, name] of Object.entries(NAMES)) if (name === lower) return Number(n);
  if (/^[0-9]{1,3}$/.test(s) && Number(s) <= 255) return Number(s);
  return null;
}
