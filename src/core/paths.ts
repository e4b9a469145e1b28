/** Where fj's own files are, whether running from `dist/` or from the sources. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'schemas'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`fj: cannot find the package root above ${start}`);
    dir = up;
  }
}

/** The fj package root (holds package.json, schemas/, dist/). */
export const packageRoot = findRoot(dirname(fileURLToPath(import.meta.url)));
/** Built-in tasks, compiled. */
export const builtinTasksDir = join(packageRoot, 'dist', 'tasks');
/** Built-in pipelines (`fj run align-campaign`), compiled. */
export const builtinPipelinesDir = join(packageRoot, 'dist', 'pipelines');
/** fj's public entry, compiled: what task modules import (`fj`, `../src/index.js`). */
export const publicEntry = join(packageRoot, 'dist', 'src', 'index.js');
/** The worker-thread entry, compiled. */
export const threadEntry = join(packageRoot, 'dist', 'src', 'runtime', 'thread-entry.js');

/** fj's version, from its package.json. */
export function fjVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
}
