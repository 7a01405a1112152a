// The architecture guard's logic, apart from the file walking so its own tests can feed it a made-up tree:
// parse ARCHITECTURE.md's table and report every import the table does not allow.

export interface ArchitectureRow {
  folder: string;
  /** folders this folder may import (its own folder is always allowed) */
  folders: Set<string>;
  /** single files of other folders this folder may import (`control/client.ts`) */
  files: Set<string>;
  pure: boolean;
  /** for pure folders: the packages and node: modules allowed */
  packages: Set<string>;
}

export interface SourceFile {
  /** path relative to the repository root, `/`-separated */
  path: string;
  /** each import specifier, and for relative ones the resolved path relative to the root */
  imports: { spec: string; target: string | null }[];
}

export interface GuardProblem {
  kind: 'folder' | 'edge' | 'pure';
  message: string;
}

const CODE = /`([^`]+)`/g;

function codeSpans(cell: string): string[] {
  return [...cell.matchAll(CODE)].map((m) => m[1]);
}

/** Rows of the first Markdown table whose header starts with `| folder | may import | pure |`. */
export function parseArchitectureTable(markdown: string): ArchitectureRow[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => /^\|\s*folder\s*\|\s*may import\s*\|\s*pure\s*\|/.test(l));
  if (start < 0) throw new Error('architecture table not found (header "| folder | may import | pure | why |")');
  const rows: ArchitectureRow[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    if (cells.length < 4) throw new Error(`architecture table row has ${cells.length} cells: ${line}`);
    const [folderCell, importCell, pureCell, why] = cells;
    const folder = codeSpans(folderCell)[0];
    if (!folder) throw new Error(`architecture table: folder must be in backticks: ${line}`);
    if (!why) throw new Error(`architecture table: ${folder} has no reason`);
    const row: ArchitectureRow = { folder, folders: new Set(), files: new Set(), pure: /^yes/.test(pureCell), packages: new Set() };
    if (importCell !== '—' && importCell !== '-' && codeSpans(importCell).length === 0) {
      throw new Error(`architecture table: imports of ${folder} must be in backticks: ${importCell}`);
    }
    for (const target of codeSpans(importCell)) (target.includes('/') ? row.files : row.folders).add(target);
    for (const pkg of codeSpans(pureCell)) row.packages.add(pkg);
    rows.push(row);
  }
  return rows;
}

function topOf(path: string): string {
  return path.split('/')[0];
}

function isTestFile(path: string): boolean {
  return path.endsWith('.test.ts');
}

/** `@scope/name/sub.js` → `@scope/name`; `name/sub` → `name`; `node:fs/promises` → `node:fs/promises`. */
function packageOf(spec: string): string {
  if (spec.startsWith('node:')) return spec;
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

function sourcePathOf(target: string): string {
  return target.replace(/\.js$/, '.ts');
}

export function checkImports(rows: ArchitectureRow[], files: SourceFile[], nodeBuiltins: Set<string>): GuardProblem[] {
  const problems: GuardProblem[] = [];
  const byFolder = new Map(rows.map((r) => [r.folder, r]));
  const present = new Set(files.map((f) => topOf(f.path)));
  for (const r of rows) {
    if (!present.has(r.folder)) problems.push({ kind: 'folder', message: `${r.folder}/ is in ARCHITECTURE.md but has no .ts sources (renamed or removed? update the table)` });
  }
  for (const folder of [...present].sort()) {
    if (!byFolder.has(folder)) problems.push({ kind: 'folder', message: `${folder}/ has .ts sources but no row in ARCHITECTURE.md` });
  }
  for (const file of files) {
    const row = byFolder.get(topOf(file.path));
    if (!row) continue;
    const test = isTestFile(file.path);
    for (const { spec, target } of file.imports) {
      if (target !== null) {
        const top = topOf(target);
        if (top === row.folder) continue;
        if (!target.includes('/') && target === 'package.json') continue;
        if (row.folders.has(top)) continue;
        if (row.files.has(sourcePathOf(target))) continue;
        if (!target.includes('/') && row.folders.has(sourcePathOf(target))) continue; // a root file the row lists (`index.ts`)
        if (test && top === 'test') continue;
        problems.push({ kind: 'edge', message: `${file.path} imports ${spec}: ${row.folder}/ → ${target.includes('/') ? top + '/' : target} is not an edge in ARCHITECTURE.md` });
        continue;
      }
      if (!row.pure || test) continue;
      const pkg = packageOf(spec);
      const bare = pkg.replace(/^node:/, '');
      const builtin = pkg.startsWith('node:') || nodeBuiltins.has(bare.split('/')[0]);
      const allowed = builtin ? row.packages.has(`node:${bare}`) : row.packages.has(pkg);
      if (!allowed) {
        problems.push({
          kind: 'pure',
          message: `${file.path} imports ${spec}: ${row.folder}/ is pure and ${builtin ? 'this Node module is not listed' : 'this package is not listed'} in ARCHITECTURE.md`,
        });
      }
    }
  }
  return problems;
}
