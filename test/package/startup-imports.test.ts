// Start-up guard (issue 17): what the package root and the quick CLI commands load before doing anything.
// Follows static imports (type-only imports are erased, dynamic import() is lazy by definition) from an
// entry file and checks that heavy modules stay out of its closure: undici (~0.1 s to import), SQLite, the
// policy compiler, the native addon. The timings behind it are in scripts/bench/cli.ts.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

/** Specifiers of the value imports of a file: `import x from`, `import { a } from`, `export … from`, `import 'x'`. */
function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const re = /(?:^|\n)\s*(import|export)\s+(type\s)?[^'";]*?from\s+['"]([^'"]+)['"]|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g;
  const out: string[] = [];
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (m[4] !== undefined) out.push(m[4]);
    else if (m[2] === undefined) out.push(m[3]);
  }
  return out;
}

/** Every module the entry loads eagerly: repo files relative to the root, packages by name. */
function closure(entry: string): Set<string> {
  const seen = new Set<string>();
  const stack = [join(ROOT, entry)];
  while (stack.length > 0) {
    const file = stack.pop() as string;
    const rel = relative(ROOT, file);
    if (seen.has(rel)) continue;
    seen.add(rel);
    for (const spec of staticImports(file)) {
      if (spec.startsWith('.')) {
        const ts = join(dirname(file), spec).replace(/\.js$/, '.ts');
        if (!existsSync(ts)) throw new Error(`${rel}: cannot find ${spec}`);
        stack.push(ts);
      } else if (!spec.startsWith('node:')) seen.add(spec);
    }
  }
  return seen;
}

const HEAVY = [
  { name: 'undici', test: (m: string) => m === 'undici' },
  { name: 'SQLite', test: (m: string) => m === 'better-sqlite3' },
  { name: 'the policy compiler', test: (m: string) => m.endsWith('policy/compiler.ts') },
  { name: 'the native addon', test: (m: string) => m.endsWith('native-addon.ts') },
];

describe('eager imports of the entry points', () => {
  it.each([
    { entry: 'index.ts', banned: ['undici', 'SQLite', 'the policy compiler', 'the native addon'] },
    { entry: 'agent/cli/main.ts', banned: ['undici', 'SQLite', 'the policy compiler', 'the native addon'] },
    { entry: 'agent/cli/status.ts', banned: ['undici', 'SQLite', 'the policy compiler', 'the native addon'] },
    { entry: 'agent/cli/whois.ts', banned: ['undici', 'SQLite', 'the policy compiler', 'the native addon'] },
    { entry: 'control/cli/main.ts', banned: ['undici', 'SQLite', 'the policy compiler', 'the native addon'] },
    { entry: 'control/cli/nodes.ts', banned: ['undici', 'the policy compiler', 'the native addon'] },
  ])('$entry loads none of: $banned', ({ entry, banned }) => {
    const mods = [...closure(entry)];
    const hits = HEAVY.filter((h) => banned.includes(h.name)).flatMap((h) => mods.filter(h.test).map((m) => `${h.name}: ${m}`));
    expect(hits).toEqual([]);
  });

  // Self-checks: the walker does see what it must keep out.
  it.each([
    { entry: 'control/cli/serve.ts', want: 'better-sqlite3' },
    { entry: 'policy/index.ts', want: 'policy/compiler.ts' },
  ])('$entry does load $want (the guard sees imports)', ({ entry, want }) => {
    expect([...closure(entry)]).toContain(want);
  });
});
