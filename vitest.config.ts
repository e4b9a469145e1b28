import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds dist/ once: the CLI tests spawn it, local worker threads load it.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests start worker threads and processes of their own; two test files
    // at a time keeps a 2-core machine from timing out under load.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
