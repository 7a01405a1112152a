// The console's third-party modules, served by control itself from node_modules (no CDN, no build step):
// preact (UI), preact/hooks and htm (JSX-like tagged templates), as the ES module files their packages
// ship. Page script imports them by relative URL (/admin/vendor/preact.js …); a strict CSP forbids the
// inline import map that bare specifiers would need, so the one bare import in hooks (`from "preact"`) is
// rewritten to `./preact.js` when loaded. Loading fails loudly if a package upgrade changes that shape.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { GrantwireError } from '../../types/errors.js';

const require = createRequire(import.meta.url);

/** Served name → [package entry to resolve, ES module file beside it]. */
const FILES: Record<string, [string, string]> = {
  'preact.js': ['preact', 'preact.module.js'],
  'hooks.js': ['preact/hooks', 'hooks.module.js'],
  'htm.js': ['htm', 'htm.module.js'],
};

let cache: Map<string, string> | null = null;

function load(name: string, entry: string, file: string): string {
  let text = readFileSync(join(dirname(require.resolve(entry)), file), 'utf8');
  // The maps are not served; drop the pointer so devtools do not ask for them.
  text = text.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
  if (name === 'hooks.js') {
    const bare = /from\s*"preact"/g;
    const count = text.match(bare)?.length ?? 0;
    if (count !== 1) throw new GrantwireError('ERR_CONTROL_CONSOLE_VENDOR', `preact/hooks: expected one import of "preact", found ${count}; update control/console/vendor.ts`);
    text = text.replace(bare, 'from"./preact.js"');
  }
  return text;
}

/** The module text for a served name, or null for a name that is not one of ours. */
export function vendorModule(name: string): string | null {
  if (!Object.hasOwn(FILES, name)) return null;
  cache ??= new Map(Object.entries(FILES).map(([n, [entry, file]]) => [n, load(n, entry, file)]));
  return cache.get(name) ?? null;
}

export const VENDOR_NAMES: readonly string[] = Object.keys(FILES);
