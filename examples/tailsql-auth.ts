// Authorization for the SQL-playground example (after Tailscale's TailSQL): the caller's capability
// `example.com/cap/tailsql` lists the data sources it may query, `{"dataSrc": ["warehouse"]}`, with "*"
// meaning every source. Several grants concatenate their values; the union is what counts. Pure.

export const TAILSQL_CAP = 'example.com/cap/tailsql';

/** The sources a caller may query, or null when it has no tailsql capability at all (→ 403). */
export function allowedSources(capMap: Record<string, unknown[]> | null, allSources: readonly string[]): string[] | null {
  const values = capMap?.[TAILSQL_CAP];
  if (!Array.isArray(values)) return null;
  const out = new Set<string>();
  for (const v of values) {
    if (typeof v !== 'object' || v === null) continue;
    const ds = (v as { dataSrc?: unknown }).dataSrc;
    if (!Array.isArray(ds)) continue;
    for (const s of ds) {
      if (s === '*') return [...allSources];
      if (typeof s === 'string' && allSources.includes(s)) out.add(s);
    }
  }
  return allSources.filter((s) => out.has(s));
}
