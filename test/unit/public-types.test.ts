/**
 * fj's public types compile in a project without @types/node: the type test
 * project test/types/no-node (`types: []`, library checks on) type-checks a
 * use of fj against the built declarations (dist/src/index.d.ts, built by
 * test/global-setup.ts). A `NodeJS.ProcessEnv` or `Buffer` in a public
 * signature fails it ("Cannot find namespace 'NodeJS'").
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

it('the public declarations need no @types/node', { timeout: 60_000 }, async () => {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const run = promisify(execFile)(
    process.execPath,
    [tsc, '-p', join(root, 'test', 'types', 'no-node', 'tsconfig.json')],
    {
      cwd: root,
    },
  );
  const result = await run.then(
    () => '',
    (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}`,
  );
  expect(result).toBe('');
});
