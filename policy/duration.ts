// Durations in policy files (`checkPeriod: "12h"`), restated here because policy/ may not import cli/
// (the deps guard keeps policy pure and independent of the command-line layer).

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `30s`, `5m`, `12h`, `7d` or a sum like `1h30m` into milliseconds; null if malformed. */
export function parseDuration(text: string): number | null {
  const re = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let end = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * UNITS[m[2]];
    end = re.lastIndex;
  }
  if (text.length === 0 || end !== text.length) return null;
  return Math.round(total);
}
