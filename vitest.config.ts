import { defineConfig } from 'vitest/config';

// Tests live beside their module (`*.test.ts`) and in test/ for cross-module and end-to-end suites.
// Network/namespace suites are long; they run serially in their own files and skip without root.
export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'build/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
