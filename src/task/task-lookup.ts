/**
 * Which file a task spec names, without loading anything: a built-in task's
 * name (`wordcount`), a built-in pipeline's (`align-campaign`), the name of a module in the project's `tasks/` folder
 * (`primes` for `./tasks/primes.ts` or `.js`, graphile-worker's convention),
 * or a module path. When nothing matches, the error lists what would have,
 * and suggests the nearest name ("did you mean 'wordcount'?").
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { UsageError } from '../core/errors.js';
import { builtinPipelinesDir, builtinTasksDir } from '../core/paths.js';

/** The folder `fj run NAME` looks in, relative to the working directory. */
export const TASKS_DIR = 'tasks';
/** Extensions of task modules in a tasks folder, in the order a name is looked up. */
const MODULE_EXT = ['.ts', '.mts', '.js', '.mjs', '.cjs'];
const NAME = /^[\w-]+$/;

/** Names of the built-in tasks (files in fj's `tasks/`). */
export function builtinTaskNames(): string[] {
  return modulesNamed(builtinTasksDir);
}

/**
 * Names of the built-in pipelines (files in fj's `pipelines/`): `fj run NAME`
 * runs them. Kept apart from the tasks, which `fj tasks`, `fj worker` and the
 * dashboard load as task classes.
 */
export function builtinPipelineNames(): string[] {
  return modulesNamed(builtinPipelinesDir);
}

/** The compiled modules of one of fj's folders, by name. */
function modulesNamed(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .map((f) => basename(f, '.js'))
    .sort();
}

/** The task modules of a folder (`.ts`, `.js`, … ; not `.d.ts`), sorted by file name; [] when it does not exist. */
export function taskModulesIn(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
  return readdirSync(dir)
    .filter((f) => MODULE_EXT.includes(extname(f)) && !/\.d\.[mc]?ts$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/**
 * The file `spec` names: a built-in task, then a built-in pipeline, then
 * `./tasks/<spec>.ts` (or `.mts`, `.js`, `.mjs`, `.cjs`) under `cwd`, then
 * the path itself; undefined when none exists.
 */
export function taskFile(spec: string, cwd = process.cwd()): string | undefined {
  if (NAME.test(spec)) {
    for (const dir of [builtinTasksDir, builtinPipelinesDir]) {
      const builtin = join(dir, `${spec}.js`);
      if (existsSync(builtin)) return builtin;
    }
    for (const ext of MODULE_EXT) {
      const local = join(cwd, TASKS_DIR, `${spec}${ext}`);
      if (existsSync(local)) return local;
    }
  }
  const path = spec.startsWith('file:') ? fileURLToPath(spec) : isAbsolute(spec) ? spec : resolve(cwd, spec);
  return existsSync(path) ? path : undefined;
}

/** The UsageError for a spec {@link taskFile} found nothing for: what it looked for, what exists, and the nearest name. */
export function unknownTask(spec: string, cwd = process.cwd()): UsageError {
  const builtins = builtinTaskNames();
  const pipelines = builtinPipelineNames();
  const locals = taskModulesIn(join(cwd, TASKS_DIR)).map((f) => basename(f, extname(f)));
  const near = nearest(basename(spec, extname(spec)), [...builtins, ...pipelines, ...locals]);
  const path = isAbsolute(spec) ? spec : resolve(cwd, spec);
  // What was looked for, as taskFile looks: a name in the built-ins and ./tasks, a path as the file it names.
  const lookedFor = NAME.test(spec)
    ? `not a built-in task or pipeline, no ./${TASKS_DIR}/${spec}.ts or .js, and no such file ${path}`
    : `no such file ${path}`;
  return new UsageError(
    `unknown task '${spec}'${near && near !== spec ? ` (did you mean '${near}'?)` : ''}: ${lookedFor}\n` +
      `  built-in tasks: ${builtins.join(', ') || '(none)'}${pipelines.length ? `; built-in pipelines: ${pipelines.join(', ')}` : ''}${locals.length ? `; in ./${TASKS_DIR}: ${locals.join(', ')}` : ''}; or give the path of a module whose default export is a ForkJoinTask subclass`,
  );
}

/** The candidate closest to `word` by edit distance ignoring case, if close enough to be a typo (at most 1 edit for short names, 2 otherwise) and not `word` itself. */
export function nearest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  const allowed = word.length <= 4 ? 1 : 2;
  // Names are case-sensitive: the same name in another case (0 edits once lowered) is suggested too.
  return best !== word && bestDistance <= allowed ? best : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours each cost 1. */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The `fj worker` command that serves a task on pool `queue`, for advice a
 * user can paste: a built-in task needs no `--tasks`; a module of the
 * user's own is named by its path (relative to `cwd` when inside it). A
 * task class with no module file gets `--tasks MODULE`, the module that
 * exports it being unknown here.
 */
export function workerCommand(queue: string, moduleUrl: string | undefined, cwd = process.cwd()): string {
  const base = `fj worker --queue ${queue}`;
  if (moduleUrl?.startsWith(pathToFileURL(builtinTasksDir).href)) return base;
  if (!moduleUrl?.startsWith('file:')) return `${base} --tasks MODULE`;
  const file = fileURLToPath(moduleUrl);
  const rel = relative(cwd, file);
  const shown = rel && !rel.startsWith('..') && !isAbsolute(rel) ? `.${sep}${rel}` : file;
  return `${base} --tasks ${/^[\w./@+:-]+$/.test(shown) ? shown : JSON.stringify(shown)}`;
}
