/**
 * Builds fj once before the tests: the CLI tests spawn dist/src/cli/main.js
 * and the local executor's threads load dist/src/worker/thread.js.
 *
 * Type errors do not stop the tests (tsc still writes the JavaScript; `npm run
 * typecheck` is where they fail), but a build that leaves the entry points
 * missing does.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const root = join(import.meta.dirname, '..');

export default async function setup(): Promise<void> {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    await promisify(execFile)(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: root });
  } catch (err) {
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    process.stderr.write(`global-setup: tsc reported errors (tests run on the JavaScript it emitted):\n${stdout}${stderr}\n`);
  }
  for (const entry of ['dist/src/cli/main.js', 'dist/src/worker/thread.js', 'dist/tasks/wordcount.js']) {
    if (!existsSync(join(root, entry))) throw new Error(`global-setup: the build did not produce ${entry}`);
  }
}
