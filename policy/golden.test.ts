// Policy goldens: testdata/NAME.hujson compiled against testdata/NAME.tailnet.json (or the shared
// testdata/tailnet.json) at a fixed clock must produce exactly testdata/NAME.json: the rules per node
// (the `policy compile` shape), non-empty node capMaps, or, for a rejected policy, every diagnostic.
// Regenerate after an intended change with UPDATE_GOLDENS=1 and review the diff.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../types/errors.js';
import { checkPolicy, parseTailnet, PolicyCompiler } from './index.js';

const DIR = join(import.meta.dirname, 'testdata');
const NOW = 2000; // after carol's custom:jit-db expiry (1000), before bob's
const names = readdirSync(DIR)
  .filter((f) => f.endsWith('.hujson'))
  .map((f) => f.slice(0, -'.hujson'.length))
  .sort();

function render(name: string): unknown {
  const own = join(DIR, `${name}.tailnet.json`);
  const tn = parseTailnet(readFileSync(existsSync(own) ? own : join(DIR, 'tailnet.json'), 'utf8'), 'tailnet.json');
  expect(tn.diagnostics).toEqual([]);
  const file = `${name}.hujson`;
  const { policy, diagnostics } = checkPolicy(readFileSync(join(DIR, file), 'utf8'), file, tn.tailnet!, { now: NOW });
  if (!policy) return { diagnostics: diagnostics.map(formatDiagnostic) };
  const compiler = new PolicyCompiler(policy, tn.tailnet!, { now: NOW });
  const rules: Record<string, unknown> = {};
  const capMap: Record<string, unknown> = {};
  for (const [node, f] of compiler.compileAll()) {
    rules[node] = f.rules;
    if (Object.keys(f.capMap).length > 0) capMap[node] = f.capMap;
  }
  return { rules, capMap };
}

describe('policy goldens', () => {
  it('covers the shared examples and every construct', () => {
    expect(names).toEqual(expect.arrayContaining(['least-privilege', 'app-capabilities', 'acls', 'autogroups', 'hosts-ipsets', 'postures', 'protocols', 'app-and-attrs', 'allow-all', 'errors']));
  });
  it.each(names)('%s', (name) => {
    const got = JSON.stringify(render(name), null, 2) + '\n';
    const path = join(DIR, `${name}.json`);
    if (process.env.UPDATE_GOLDENS === '1' || !existsSync(path)) writeFileSync(path, got);
    expect(got).toBe(readFileSync(path, 'utf8'));
  });
});
