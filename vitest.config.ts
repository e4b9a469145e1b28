import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests start worker threads and processes of their own; two test files
    // at a time keeps a 2-core machine from timing out under load.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
