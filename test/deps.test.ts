// Architecture guard: the folder layout is the architecture, and dependencies point one way
// (types → crypto, policy, filter → net → wireguard → control, agent, localapi). Pure cores do no I/O.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync(join(ROOT, dir));
  } catch {
    return out;
  }
  for (const e of entries) {
    const rel = join(dir, e);
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...sourceFiles(rel));
    else if (e.endsWith('.ts') && !e.endsWith('.test.ts') && !e.endsWith('.bench.ts')) out.push(rel);
  }
  return out;
}

function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const re = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  const out: string[] = [];
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) out.push(m[1] ?? m[2]);
  return out;
}

function topFolderOf(file: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const target = relative(ROOT, join(ROOT, file, '..', spec));
  return target.split(sep)[0];
}

// folder → folders it must never import
const FORBIDDEN: Record<string, string[]> = {
  types: ['crypto', 'policy', 'filter', 'wireguard', 'net', 'control', 'agent', 'localapi', 'cli'],
  // primitives, Noise core, keys: only types/ below them
  crypto: ['policy', 'filter', 'wireguard', 'net', 'control', 'agent', 'localapi', 'cli'],
  policy: ['filter', 'wireguard', 'net', 'control', 'agent', 'localapi', 'cli'],
  filter: ['policy', 'wireguard', 'net', 'control', 'agent', 'localapi', 'cli'],
  // the native-addon surface and fakes sit under the device (like wireguard-go's tun/ and conn/)
  net: ['crypto', 'policy', 'filter', 'wireguard', 'control', 'agent', 'localapi', 'cli'],
  wireguard: ['control', 'agent', 'localapi', 'cli'],
  localapi: ['control'],
};
// pure folders: no I/O modules
const PURE = ['types', 'crypto', 'policy', 'filter'];
const IO_MODULES = /^node:(fs|net|dgram|http|https|child_process|os|worker_threads|fs\/promises)$/;
// crypto/ may use only these packages (node:crypto has no I/O); in particular not the native addon.
const CRYPTO_PACKAGES = /^(node:crypto|@noble\/(hashes|ciphers|curves)\/[\w./-]+)$/;

describe('dependency direction', () => {
  for (const [folder, banned] of Object.entries(FORBIDDEN)) {
    it(`${folder}/ imports none of ${banned.join(', ')}`, () => {
      const bad: string[] = [];
      for (const f of sourceFiles(folder)) {
        for (const spec of importsOf(f)) {
          const top = topFolderOf(f, spec);
          if (top && banned.includes(top)) bad.push(`${f} imports ${spec}`);
        }
      }
      expect(bad).toEqual([]);
    });
  }
  for (const folder of PURE) {
    it(`${folder}/ is pure (no I/O imports)`, () => {
      const bad: string[] = [];
      for (const f of sourceFiles(folder)) {
        for (const spec of importsOf(f)) if (IO_MODULES.test(spec)) bad.push(`${f} imports ${spec}`);
      }
      expect(bad).toEqual([]);
    });
  }
  it('crypto/ imports only node:crypto and @noble/* besides relative files', () => {
    const files = sourceFiles('crypto');
    expect(files.length).toBeGreaterThan(0);
    const bad: string[] = [];
    for (const f of files) {
      for (const spec of importsOf(f)) if (!spec.startsWith('.') && !CRYPTO_PACKAGES.test(spec)) bad.push(`${f} imports ${spec}`);
    }
    expect(bad).toEqual([]);
  });
  it('the guard sees imports (self-check)', () => {
    expect(importsOf('control/cli/main.ts')).toContain('../../cli/args.js');
  });
});
