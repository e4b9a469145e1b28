/**
 * Runs once per `vitest run`, before any test file:
 * - builds fj (the CLI tests spawn dist/src/cli/main.js and the local
 *   executor's threads load dist/src/runtime/thread-entry.js);
 * - gives the run a validator cache of its own (FJ_CACHE_DIR, inherited by the
 *   test workers and every CLI they spawn), so no test reads or writes the
 *   user's ~/.cache/fj; removed after the run;
 * - starts a fresh record of reliability figures (test/.tmp/reliability/,
 *   tagged with this run's id), so a table printed afterwards holds this run's
 *   scenarios only: a skipped or failed one cannot keep an old passing row;
 * - lists the broker's queues, so that its teardown deletes the ones the
 *   tests left behind (test/helpers/test-queues.ts; not for the cluster
 *   project, whose brokers are its own and go with it).
 *
 * Type errors do not stop the tests (tsc still writes the JavaScript; `npm run
 * typecheck` is where they fail), but a build that leaves the entry points
 * missing does.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { deleteLeftBehind, listQueues } from './helpers/test-queues.js';

const root = join(import.meta.dirname, '..');
/** Where the reliability scenarios record their figures (see test/reliability/harness.ts). */
export const RECORDS = join(root, 'test', '.tmp', 'reliability');

export default async function setup(project?: TestProject): Promise<() => Promise<void>> {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    await promisify(execFile)(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: root });
  } catch (err) {
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    process.stderr.write(
      `global-setup: tsc reported errors (tests run on the JavaScript it emitted):\n${stdout}${stderr}\n`,
    );
  }
  for (const entry of ['dist/src/cli/main.js', 'dist/src/runtime/thread-entry.js', 'dist/tasks/wordcount.js']) {
    if (!existsSync(join(root, entry))) throw new Error(`global-setup: the build did not produce ${entry}`);
  }

  const cache = mkdtempSync(join(tmpdir(), 'fj-test-cache-'));
  const saved = process.env.FJ_CACHE_DIR;
  process.env.FJ_CACHE_DIR = join(cache, 'fj');

  // Only a run of the reliability project starts a new record (a main-only run leaves the last one alone).
  if (project?.name === 'reliability') {
    rmSync(RECORDS, { recursive: true, force: true });
    mkdirSync(RECORDS, { recursive: true });
    const runId = `${new Date().toISOString()}-${randomUUID().slice(0, 8)}`;
    writeFileSync(join(RECORDS, 'run.json'), `${JSON.stringify({ runId })}\n`);
    process.env.FJ_TEST_RUN_ID = runId;
  } else if (project?.name === 'cluster') {
    // The cluster scenarios (run after the reliability project) add their rows to its last record.
    let runId: string | undefined;
    try {
      runId = (JSON.parse(readFileSync(join(RECORDS, 'run.json'), 'utf8')) as { runId?: string }).runId;
    } catch {
      runId = undefined;
    }
    if (!runId) {
      mkdirSync(RECORDS, { recursive: true });
      runId = `${new Date().toISOString()}-${randomUUID().slice(0, 8)}`;
      writeFileSync(join(RECORDS, 'run.json'), `${JSON.stringify({ runId })}\n`);
    }
    process.env.FJ_TEST_RUN_ID = runId;
  }

  const queuesBefore = project?.name === 'cluster' ? undefined : await listQueues();

  return async () => {
    if (queuesBefore !== undefined) process.stderr.write(`global-teardown: ${await deleteLeftBehind(queuesBefore)}\n`);
    rmSync(cache, { recursive: true, force: true });
    if (saved === undefined) delete process.env.FJ_CACHE_DIR;
    else process.env.FJ_CACHE_DIR = saved;
  };
}
