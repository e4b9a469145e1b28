/**
 * Finding tasks: by name (a file in fj's `tasks/`), by module path (a user's
 * module whose default export is a task class), or from a class handed to
 * `run()`. Also loads the task's schema and fingerprints its code, so a worker
 * running different code for a task can refuse its messages.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { UsageError } from '../core/errors.js';
import { packageRoot } from '../core/paths.js';
import { builtinTaskNames, taskFile, unknownTask } from './task-lookup.js';
import { hookShapeProblem, isTaskClass, type TaskClass } from './fork-join-task.js';
import { queueNameProblem, showValue } from '../core/address.js';
import { codeHashOf } from './code-hash.js';
import { importModule } from './module-loader.js';
import { describeJsonError } from '../core/json-error.js';
import type { InputValidator } from './validator.js';

/** A task class with everything the framework needs to run it anywhere. */
export interface TaskInfo {
  /** The task's name: routes amqp messages, prefixes errors and logs. */
  readonly name: string;
  readonly description: string;
  readonly cls: TaskClass;
  /** URL of the module that exports the class; workers import it. */
  readonly moduleUrl: string | undefined;
  /**
   * Fingerprint of the task's code: its module file, the local modules it
   * imports (recursively) and the versions of the packages it imports (see
   * code-hash.ts); for a class without a module file, the class source.
   */
  readonly codeHash: string;
  /**
   * Validates input in place (defaults applied); rejects with InputError.
   * The schema is compiled on first use, so worker threads never load ajv.
   */
  readonly validate: (input: unknown, source?: string) => Promise<void>;
  /**
   * Starts loading (or compiling) the validator now, without waiting: a
   * runner calls it while the input is still being read. A broken schema is
   * reported by `validate`, not here.
   */
  readonly prepareValidator: () => void;
  /** Default worker pool for the amqp executor. */
  readonly queue: string | undefined;
  /** The task's `static retries`. */
  readonly retries: number;
  /** Whether the task defines `combine` (merge partial results in the worker; every `FoldTask` does). */
  readonly combines: boolean;
  /** Whether the task is a `FoldTask` (`seed` and `fold`: one accumulator per batch). */
  readonly folds: boolean;
  /** The task's `static concurrency`: items in flight at once per thread (1 unless set). */
  readonly concurrency: number;
  /** The task's `static rateLimit`: items started a second at most (amqp: shared by its jobs on a pool; none unless set). */
  readonly rateLimit: number | undefined;
}

/** A task class's `static rateLimit`, checked: UsageError naming the task when it is not a rate. */
function rateLimitOf(cls: TaskClass, name: string): number | undefined {
  const r = cls.rateLimit;
  if (r === undefined) return undefined;
  if (typeof r !== 'number' || !Number.isFinite(r) || r <= 0)
    throw new UsageError(
      `task ${name}: static rateLimit must be a number of items a second above 0, got ${typeof r === 'number' ? r : showValue(String(r))}`,
    );
  return r;
}

const byClass = new WeakMap<TaskClass, TaskInfo>();

export { builtinTaskNames, taskFile };

/**
 * Resolves a task: a built-in name (`wordcount`), the name of a module in
 * `./tasks/` (`primes` for `./tasks/primes.ts` or `.js`), or a path to a
 * module (`.js`, `.mjs`, `.cjs`, or `.ts` through tsx) whose default export
 * is a task class. Throws {@link UsageError} listing the known tasks, and the
 * nearest name to a typo, when nothing matches.
 */
export async function loadTask(spec: string, cwd = process.cwd()): Promise<TaskInfo> {
  const file = taskFile(spec, cwd);
  if (!file) throw unknownTask(spec, cwd);
  return loadModule(pathToFileURL(file).href);
}

/** Every task class a module exports (a worker serves them all). */
export async function loadAllTasks(spec: string): Promise<TaskInfo[]> {
  const first = await loadTask(spec);
  if (!first.moduleUrl) return [first];
  const mod = await importModule(first.moduleUrl);
  const classes = [...new Set(Object.values(mod).filter(isTaskClass))];
  return classes.map((c) => (c === first.cls ? first : describeTask(c, first.moduleUrl)));
}

/**
 * Imports a task module by URL and describes its task class: the export
 * whose class is named `className` when given (a module may export several
 * tasks), else the default export, else the first task class exported.
 */
export async function loadModule(url: string, className?: string): Promise<TaskInfo> {
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(url);
  } catch (err) {
    throw new UsageError(`cannot load task module ${fileURLToPath(url)}: ${(err as Error).message}`, { cause: err });
  }
  const classes = Object.values(mod).filter(isTaskClass);
  const named = className ? classes.find((c) => c.name === className) : undefined;
  const cls = named ?? (isTaskClass(mod.default) ? mod.default : classes[0]);
  // A pipeline module (src/pipeline) where a task is expected: `fj submit`, `fj worker --tasks`.
  if (!cls && (mod.default as { kind?: unknown } | undefined)?.kind === 'fj.pipeline')
    throw new UsageError(
      `${fileURLToPath(url)} exports a pipeline, not a task: 'fj run' runs a pipeline; 'fj worker --tasks' takes the modules of its stages' tasks; 'fj submit' submits it`,
    );
  if (!cls || (className && cls.name !== className))
    throw new UsageError(
      `${fileURLToPath(url)} does not export ${className ? `a task class named ${className}` : 'a ForkJoinTask or FoldTask subclass (expected a default export)'}`,
    );
  return describeTask(cls, url);
}

/** Resolves a task given as a class, a built-in name or a module path. */
export async function resolveTask(task: TaskClass | string): Promise<TaskInfo> {
  return typeof task === 'string' ? loadTask(task) : describeTask(task);
}

/**
 * Describes a task class: name, schema validator, code fingerprint. Results
 * are cached per class. `moduleUrl` defaults to the class's `static module`.
 */
export function describeTask(cls: TaskClass, moduleUrl: string | undefined = cls.module): TaskInfo {
  const cached = byClass.get(cls);
  if (cached && (cached.moduleUrl || !moduleUrl)) return cached;
  if (!isTaskClass(cls))
    throw new UsageError(
      'not a task class: expected a subclass of ForkJoinTask (setup, process, join) or FoldTask (setup, seed, fold, combine, join)',
    );
  const file = moduleUrl?.startsWith('file:') ? fileURLToPath(moduleUrl) : undefined;
  const name = cls.taskName ?? (file ? basename(file, extname(file)) : cls.name.toLowerCase());
  const badShape = hookShapeProblem(cls);
  if (badShape) throw new UsageError(`task ${name}: ${badShape}`);
  const badQueue = cls.queue === undefined ? undefined : queueNameProblem(cls.queue);
  if (badQueue) throw new UsageError(`task ${name}: invalid static queue ${showValue(String(cls.queue))}: ${badQueue}`);
  // What the task runs: its module and everything that module imports (see code-hash.ts); a class without a file, its source.
  // Computed on first use: only distributed jobs need it (a worker and an amqp coordinator ask at once, as they load the task).
  let codeHash: string | undefined;
  const info: TaskInfo = {
    name,
    description: cls.description || '',
    cls,
    moduleUrl,
    get codeHash() {
      return (codeHash ??=
        file && existsSync(file)
          ? codeHashOf(file)
          : createHash('sha256').update(cls.toString()).digest('hex').slice(0, 16));
    },
    ...lazyValidator(cls, name, file),
    queue: cls.queue,
    retries: Number.isInteger(cls.retries) && cls.retries! >= 0 ? cls.retries! : 0,
    combines: typeof (cls.prototype as { combine?: unknown }).combine === 'function',
    folds: typeof (cls.prototype as { fold?: unknown }).fold === 'function',
    concurrency: Number.isInteger(cls.concurrency) && cls.concurrency! >= 1 ? cls.concurrency! : 1,
    rateLimit: rateLimitOf(cls, name),
  };
  byClass.set(cls, info);
  return info;
}

function lazyValidator(
  cls: TaskClass,
  name: string,
  file: string | undefined,
): Pick<TaskInfo, 'validate' | 'prepareValidator'> {
  let compiled: Promise<InputValidator> | undefined;
  const load = () => {
    if (compiled) return compiled;
    compiled = taskValidator(cls, name, file);
    compiled.catch(() => {}); // reported by validate()
    return compiled;
  };
  return {
    validate: async (input, source) => (await load())(input, source),
    prepareValidator: () => void load(),
  };
}

async function taskValidator(cls: TaskClass, name: string, file: string | undefined): Promise<InputValidator> {
  const { loadValidator } = await import('./validator.js');
  const compiler = async () => (await import('./schema.js')).compiler;
  const schema = cls.schema;
  if (schema === undefined)
    throw new UsageError(`task ${name} has no schema: set static schema to a schema name or object`);
  if (typeof schema === 'object') return loadValidator(schema, `of task ${name}`, compiler);
  const found = findSchemaFile(schema, file ? dirname(file) : process.cwd());
  if (!found)
    throw new UsageError(
      `task ${name}: schema '${schema}' not found (looked for schemas/${schema}.schema.json above ${file ?? process.cwd()})`,
    );
  let text: string;
  try {
    text = readFileSync(found, 'utf8');
  } catch (err) {
    throw new UsageError(`task ${name}: cannot read schema ${found}: ${(err as Error).message}`, { cause: err });
  }
  let parsed: object;
  try {
    parsed = JSON.parse(text) as object;
  } catch (err) {
    // Where it goes wrong, as for input files: a pasted `// comment` is "Unexpected token '/' at line 1, column 1".
    throw new UsageError(
      `task ${name}: schema ${found} is not valid JSON: ${describeJsonError(text, (err as Error).message)}`,
      { cause: err },
    );
  }
  return loadValidator(parsed, found, compiler);
}

/** Looks for `schemas/<name>.schema.json` in `start` and each directory above it, then in fj's own. */
export function findSchemaFile(name: string, start: string): string | undefined {
  if (name.endsWith('.json')) {
    const direct = resolve(start, name);
    return existsSync(direct) ? direct : undefined;
  }
  let dir = start;
  for (;;) {
    const candidate = join(dir, 'schemas', `${name}.schema.json`);
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  const own = join(packageRoot, 'schemas', `${name}.schema.json`);
  return existsSync(own) ? own : undefined;
}
