import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Builds dist/ once: the CLI tests spawn it, local worker threads load it.
    // It also gives the run a validator cache of its own (FJ_CACHE_DIR) and
    // clears the reliability figures of earlier runs.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests start worker threads and processes of their own; two test files
    // at a time keeps a 2-core machine from timing out under load. (A
    // root-only option: vitest ignores maxWorkers inside a project.)
    maxWorkers: 2,
    minWorkers: 1,
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: ['test/{unit,conformance,integration}/**/*.test.ts'],
          // Runs before the reliability group, never beside it: the reliability
          // scenarios stop the broker and change its configuration.
          sequence: { groupOrder: 0 },
        },
      },
      {
        // Crashes, broker restarts, hostile traffic: slower, and one file at a
        // time (a broker restart must not hit another file's jobs).
        extends: true,
        test: {
          name: 'reliability',
          include: ['test/reliability/**/*.test.ts'],
          sequence: { groupOrder: 1 },
          // One file at a time (fileParallelism is a root-only option).
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 180_000,
          hookTimeout: 60_000,
        },
      },
      {
        // A three-node RabbitMQ cluster of its own (scripts/rabbit-cluster.sh,
        // network namespaces, root only): nodes killed and cut off mid-job.
        extends: true,
        test: {
          name: 'cluster',
          include: ['test/cluster/**/*.test.ts'],
          sequence: { groupOrder: 2 },
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 240_000,
          hookTimeout: 240_000,
        },
      },
    ],
  },
});
