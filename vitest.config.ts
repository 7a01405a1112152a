import { defineConfig } from 'vitest/config';

// Tests live beside their module (`*.test.ts`) and in test/ for cross-module and end-to-end suites.
// Network/namespace suites are long; they run serially in their own files and skip without root.
export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'build/**', 'dist/**'],
    // Spawned bin/agent and bin/control run the TypeScript under test (through tsx), not dist/, which may
    // be stale or absent in a checkout (bin/launch.js).
    env: { GRANTWIRE_FROM_SOURCE: '1' },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
