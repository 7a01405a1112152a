// The tree uses the one error catalog (types/errors.ts): the public modules re-export its classes (same
// identity, so instanceof works whichever module an app imports from), and no class outside it extends
// Error directly.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as cliArgs from '../cli/args.js';
import * as controlClient from '../control/client.js';
import * as localClient from '../localapi/client.js';
import * as localTypes from '../localapi/types.js';
import * as errors from '../types/errors.js';

describe('error classes', () => {
  it.each([
    // the public modules re-export the catalog's classes (same identity, so instanceof works across them)
    { from: 'localapi/client.ts', mod: localClient as Record<string, unknown>, names: ['LocalApiError', 'PeerNotFoundError', 'AccessDeniedError', 'LocalApiUnreachableError', 'LocalApiBadResponseError'] },
    { from: 'localapi/types.ts', mod: localTypes as Record<string, unknown>, names: ['LocalApiFailure'] },
    { from: 'control/client.ts', mod: controlClient as Record<string, unknown>, names: ['ControlError', 'ControlRefusedError', 'ControlConnectionError', 'ControlBadServerError', 'ControlBadUrlError'] },
    { from: 'cli/args.ts', mod: cliArgs as Record<string, unknown>, names: ['UsageError', 'HelpRequested'] },
  ])('$from re-exports $names', ({ mod, names }) => {
    for (const n of names) expect(mod[n], n).toBe((errors as Record<string, unknown>)[n]);
  });

  it('no error class outside types/errors.ts bypasses the root', () => {
    const root = join(import.meta.dirname, '..');
    const skip = new Set(['node_modules', 'build', 'dist', '.git']);
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const ent of readdirSync(dir, { withFileTypes: true })) {
        if (skip.has(ent.name)) continue;
        const p = join(dir, ent.name);
        if (ent.isDirectory()) walk(p);
        else if (ent.name.endsWith('.ts') && !ent.name.endsWith('.test.ts') && relative(root, p) !== join('types', 'errors.ts')) {
          const text = readFileSync(p, 'utf8');
          for (const m of text.matchAll(/class\s+(\w+)\s+extends\s+(Error|TypeError|RangeError)\b/g)) offenders.push(`${relative(root, p)}: ${m[1]}`);
        }
      }
    };
    walk(root);
    expect(offenders).toEqual([]);
  });
});
