import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Builds dist/ once: the CLI tests spawn it, local worker threads load it.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: ['test/{unit,conformance,integration}/**/*.test.ts'],
          // Tests start worker threads and processes of their own; two test files
          // at a time keeps a 2-core machine from timing out under load.
          maxWorkers: 2,
          minWorkers: 1,
        },
      },
      {
        // Crashes, broker restarts, hostile traffic: slower, and one file at a
        // time (a broker restart must not hit another file's jobs).
        extends: true,
        test: {
          name: 'reliability',
          include: ['test/reliability/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
