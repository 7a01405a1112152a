// Architecture guard: ARCHITECTURE.md's table is the one statement of which folder may import which; this
// test reads that table and fails on any edge it does not list, on a listed folder that is missing or empty,
// on an unlisted folder with TypeScript sources, and on I/O modules or unlisted packages in pure folders.
import { builtinModules } from 'node:module';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseArchitectureTable, checkImports, type ArchitectureRow, type SourceFile } from './deps-guard.js';

const ROOT = join(import.meta.dirname, '..');
const TABLE_FILE = 'ARCHITECTURE.md';
// Root files that configure tools rather than ship code; every other root .ts file needs a row.
const ROOT_CONFIG_FILES = new Set(['vitest.config.ts']);
const SKIP_DIRS = new Set(['node_modules', 'build', 'dist', '.git', '.grantwire', 'native']);

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir))) {
    if (SKIP_DIRS.has(e) || e.startsWith('.')) continue;
    const rel = dir === '' ? e : join(dir, e);
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...sourceFiles(rel));
    else if (e.endsWith('.ts') && !e.endsWith('.d.ts') && !ROOT_CONFIG_FILES.has(rel)) out.push(rel);
  }
  return out;
}

function importsOf(text: string): string[] {
  // static import/export … from '…', side-effect `import '…'`, and dynamic import('…')
  const re = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|(?:^|\n)\s*import\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  const out: string[] = [];
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

function load(): { rows: ArchitectureRow[]; files: SourceFile[] } {
  const rows = parseArchitectureTable(readFileSync(join(ROOT, TABLE_FILE), 'utf8'));
  const files = sourceFiles('').map((path) => {
    const imports = importsOf(readFileSync(join(ROOT, path), 'utf8')).map((spec) => {
      if (!spec.startsWith('.')) return { spec, target: null };
      const target = relative(ROOT, join(ROOT, path, '..', spec)).split(sep).join('/');
      return { spec, target };
    });
    return { path: path.split(sep).join('/'), imports };
  });
  return { rows, files };
}

const NODE_BUILTINS = new Set(builtinModules);

describe('architecture guard (ARCHITECTURE.md)', () => {
  const { rows, files } = load();

  it('the table parses and lists the core folders', () => {
    const names = rows.map((r) => r.folder);
    for (const f of ['types', 'policy', 'filter', 'wireguard', 'control', 'agent', 'localapi']) expect(names).toContain(f);
  });

  it('every listed folder exists and has sources; every folder with sources is listed', () => {
    const problems = checkImports(rows, files, NODE_BUILTINS).filter((p) => p.kind === 'folder');
    expect(problems.map((p) => p.message)).toEqual([]);
  });

  it('every import between folders is an edge of the table', () => {
    const problems = checkImports(rows, files, NODE_BUILTINS).filter((p) => p.kind === 'edge');
    expect(problems.map((p) => p.message)).toEqual([]);
  });

  it('pure folders import no I/O module and no unlisted package', () => {
    const problems = checkImports(rows, files, NODE_BUILTINS).filter((p) => p.kind === 'pure');
    expect(problems.map((p) => p.message)).toEqual([]);
  });
});

// The guard's own logic, on a small made-up tree: each kind of violation is caught.
describe('architecture guard catches', () => {
  const table = [
    '| folder | may import | pure | why |',
    '|---|---|---|---|',
    '| `types` | — | yes | base |',
    '| `crypto` | `types` | yes: `node:crypto`, `@noble/hashes` | keys |',
    '| `control` | `types`, `crypto`, `index.ts` | no | server |',
    '| `agent` | `types`, `control/client.ts` | no | daemon |',
  ].join('\n');
  const rows = parseArchitectureTable(table);
  const f = (path: string, ...specs: [string, string | null][]): SourceFile => ({
    path,
    imports: specs.map(([spec, target]) => ({ spec, target })),
  });
  const base = [f('types/a.ts'), f('crypto/k.ts', ['node:crypto', null], ['@noble/hashes/blake2.js', null]), f('control/client.ts'), f('control/server.ts'), f('agent/d.ts', ['../control/client.js', 'control/client.js'])];

  it.each([
    { name: 'a clean tree', files: base, want: [] as string[] },
    { name: 'a backward edge', files: [...base, f('types/b.ts', ['../control/server.js', 'control/server.js'])], want: ['edge'] },
    { name: 'a file edge outside the allowed file', files: [...base, f('agent/e.ts', ['../control/server.js', 'control/server.js'])], want: ['edge'] },
    { name: 'an I/O module in a pure folder', files: [...base, f('crypto/io.ts', ['node:fs', null])], want: ['pure'] },
    { name: 'a bare builtin in a pure folder', files: [...base, f('types/io.ts', ['fs', null])], want: ['pure'] },
    { name: 'an unlisted package in a pure folder', files: [...base, f('types/u.ts', ['undici', null])], want: ['pure'] },
    { name: 'a listed folder that is empty', files: base.filter((x) => !x.path.startsWith('crypto/')), want: ['folder'] },
    { name: 'an unlisted folder', files: [...base, f('relay/r.ts')], want: ['folder'] },
    { name: 'a root file the row lists', files: [...base, f('control/r.ts', ['../index.js', 'index.js'])], want: [] as string[] },
    { name: 'a root file the row does not list', files: [...base, f('agent/r.ts', ['../index.js', 'index.js'])], want: ['edge'] },
    { name: 'an import into an unlisted folder', files: [...base, f('agent/x.ts', ['../relay/r.js', 'relay/r.js'])], want: ['edge'] },
  ])('$name', ({ files, want }) => {
    expect(checkImports(rows, files, NODE_BUILTINS).map((p) => p.kind)).toEqual(want);
  });

  it('a table row with an unknown folder reference is an error', () => {
    expect(() => parseArchitectureTable('| folder | may import | pure | why |\n|---|---|---|---|\n| `a` | b | no | x |')).toThrow(/backticks/);
  });
});
