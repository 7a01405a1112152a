// Starts a CLI (`agent` or `control`) from the compiled JavaScript in dist/, which `npm run build` writes
// and npm ci / npm pack run through `prepare`: no loader at run time, so start-up is node's own plus the
// modules the command needs (`agent --help` about 1.3x `node -e 0`, against 4.8x through tsx: scripts/bench/cli.ts).
//
// GRANTWIRE_FROM_SOURCE=1 runs the TypeScript entry point through tsx (a dev dependency) instead. The test
// suite sets it (vitest.config.ts) so that spawned CLIs run the code under test, never a stale dist/.
// A checkout without dist/ gets a message rather than a silent tsx fallback: the fallback would hide a
// missing build behind a 3-4x slower start, and an installed package always ships dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** @param {'agent' | 'control'} program */
export async function launch(program) {
  const root = new URL('../', import.meta.url);
  if (process.env.GRANTWIRE_FROM_SOURCE === '1') {
    let tsx;
    try {
      tsx = await import('tsx/esm/api');
    } catch {
      process.stderr.write(`${program}: GRANTWIRE_FROM_SOURCE=1 needs tsx (a dev dependency of a checkout; run npm ci there)\n`);
      process.exitCode = 1;
      return;
    }
    tsx.register();
    await import(new URL(`${program}/cli/main.ts`, root).href);
    return;
  }
  const entry = new URL(`dist/${program}/cli/main.js`, root);
  if (!existsSync(entry)) {
    process.stderr.write(
      `${program}: ${fileURLToPath(entry)} is missing: run \`npm run build\` in ${fileURLToPath(root)} ` +
        `(or set GRANTWIRE_FROM_SOURCE=1 to run the TypeScript sources through tsx)\n`,
    );
    process.exitCode = 1;
    return;
  }
  await import(entry.href);
}
