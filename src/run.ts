/**
 * `run()`: the job lifecycle, the same for every executor and for the CLI.
 * 1. resolve the task and validate the input (defaults applied) — an invalid
 *    input stops here, before any hook runs;
 * 2. compute params once and encode them once;
 * 3. stream `setup`'s items to the executor, which runs `process`;
 * 4. `join` the results, in item order, in this thread.
 */
import { performance } from 'node:perf_hooks';
import { encode, decode } from './codec.js';
import { InputError, TaskError } from './errors.js';
import type { Counters, Executor, JobPlan } from './executors/executor.js';
import { ItemStream } from './dispatch/item-stream.js';
import { Ledger, type KeptResults } from './dispatch/ledger.js';
import { createLogger, jobLogStyle, taskLogLevel } from './log.js';
import { normalizeOptions, type ExecutorName, type JobStats, type NormalizedOptions, type RunOptions } from './options.js';
import type { AnyTask, TaskBase, TaskClass } from './task/fork-join-task.js';
import { describeTask, loadTask, type TaskInfo } from './task/registry.js';
import type { JoinContext, SetupContext } from './task/types.js';
import { jsonOutputProblem } from './task/json-output.js';
import { loadServices } from './worker/runtime.js';

/** What a job produced: its output and its figures. */
export interface JobResult<Output> {
  output: Output;
  stats: JobStats;
}

/** Resolves a task given as a class, a built-in name or a module path. */
export async function resolveTask(task: TaskClass | string): Promise<TaskInfo> {
  return typeof task === 'string' ? loadTask(task) : describeTask(task);
}

/**
 * Validates `input` against the task's schema, applying defaults. Throws
 * InputError listing every violation with its JSON path. Returns the input
 * (a validated copy: the caller's object is not modified).
 */
export async function validate<I>(task: TaskClass<TaskBase<I, any, any, any, any, any>> | string, input: I | unknown, source?: string): Promise<I> {
  const info = await resolveTask(task as TaskClass | string);
  const copy = copyInput(input, source) as I;
  await info.validate(copy, source);
  return copy;
}

/** A copy of the caller's input for validation to fill defaults into; InputError when it cannot be copied (a function in it). */
function copyInput(input: unknown, source = 'input'): unknown {
  try {
    return structuredClone(input);
  } catch (err) {
    throw new InputError(`${source} is not plain data: ${(err as Error).message}`, [], { cause: err });
  }
}

/**
 * Runs a task on an input and resolves to its output.
 *
 * The input is typed `Partial<Input>`: fields with schema defaults may be
 * left out (the schema, checked at run time, is the authority).
 *
 * ```ts
 * import { run } from 'fj';
 * const out = await run(WordCount, { documents: ['a b', 'b'] }, { executor: 'eager' });
 * ```
 *
 * Rejects with InputError (invalid input; nothing ran), TaskError (a hook
 * threw; `.index` names the item, `.cause` is the original error), CodecError
 * (a value cannot cross the wire) or TransportError (broker/store trouble).
 */
export async function run<T extends TaskBase<any, any, any, any, any, any>>(
  task: TaskClass<T> | string,
  input: T extends TaskBase<infer I, any, any, any, any, any> ? Partial<I> : unknown,
  options?: RunOptions,
): Promise<T extends TaskBase<any, any, any, infer O, any, any> ? O : unknown> {
  const { output } = await runJob(task, input, options);
  return output as T extends TaskBase<any, any, any, infer O, any, any> ? O : unknown;
}

/** Like {@link run}, also returning the job's figures. `source` names the input in error messages. */
export async function runJob(task: TaskClass | string, input: unknown, options?: RunOptions, source?: string): Promise<JobResult<unknown>> {
  return runOwnedInput(task, copyInput(input, source), options, source);
}

/** Options of {@link resume}. */
export interface ResumeOptions extends RunOptions {
  /**
   * The job's task: a built-in name or the path of its module, as the
   * resuming user names it. Needed for a task module of the job's own;
   * its code must be the code the job started with.
   */
  task?: string;
}

/** What the CLI knows about a job beyond its options. */
export interface JobOrigin {
  /** The input file and its sha256 (kept in an amqp job's manifest for `fj resume`). */
  inputFile?: { file: string; sha256: string };
  /** Re-attaching to an amqp job after its coordinator died. */
  resume?: boolean;
  /** A detached job's manifest (its coordinator in the cluster). */
  manifest?: import('./job-records.js').Manifest;
  /** Results an earlier job kept (a re-run of its failed items): recorded before any item is sent, so only items without one run. */
  seed?: KeptResults;
  /** Called with the job's ledger once it exists (a detached coordinator keeps its results when the job ends with failures). */
  onLedger?: (ledger: Ledger) => void;
}

/**
 * {@link runJob} for an input nobody else holds (the CLI's freshly parsed
 * JSON): validation fills defaults into it in place, with no copy.
 */
export async function runOwnedInput(task: TaskClass | string, input: unknown, options?: RunOptions, source?: string, origin: JobOrigin = {}): Promise<JobResult<unknown>> {
  return runLoadedInput(task, async () => ({ value: input, source, origin }), options);
}

/** An input read by {@link runLoadedInput}'s loader: the value (owned: validation fills in defaults in place), what to call it in errors, where it came from. */
export interface LoadedInput {
  value: unknown;
  source?: string;
  origin?: JobOrigin;
}

/**
 * {@link runOwnedInput} with an input still to be read (`fj run FILE`): the
 * executor starts its threads or connections first, so they boot while
 * `load` reads and parses the input, and while the job validates it and runs
 * setup. No item runs before the input is valid; `dispose()` releases what
 * was started if the job ends early (a bad input included). `load` gets the
 * job's signal (Ctrl-C while the input is still being read).
 */
export async function runLoadedInput(task: TaskClass | string, load: (signal?: AbortSignal) => Promise<LoadedInput>, options?: RunOptions): Promise<JobResult<unknown>> {
  const opts = normalizeOptions(options);
  const executor = await executorFor(opts.executor);
  try {
    executor.prepare?.(opts);
    // The threads import the task's module and the validator loads while the input is read
    // (an unknown task is reported by execute(), after the input).
    resolveTask(task).then(
      (info) => {
        executor.warm?.(info);
        info.prepareValidator();
      },
      () => {},
    );
    const { value, source, origin = {} } = await load(opts.signal);
    if (opts.checkLaws) return await lawChecked(executor, task, value, opts, source);
    return await execute(executor, task, value, opts, performance.now(), source, origin);
  } finally {
    await executor.dispose?.();
  }
}

/**
 * Internal (the transport conformance suite): {@link runJob} on a given
 * executor rather than the one `options.executor` names; disposes it after.
 */
export async function runOn(executor: Executor, task: TaskClass | string, input: unknown, options?: RunOptions): Promise<JobResult<unknown>> {
  const opts = normalizeOptions(options);
  try {
    return await execute(executor, task, copyInput(input), opts, performance.now(), undefined, {});
  } finally {
    await executor.dispose?.();
  }
}

/** The job under `checkLaws` (laws.ts): run eagerly, then under other groupings, each on its own copy of the input. */
async function lawChecked(eager: Executor, task: TaskClass | string, input: unknown, opts: NormalizedOptions, source: string | undefined): Promise<JobResult<unknown>> {
  const { checkLaws } = await import('./laws.js');
  const info = await resolveTask(task);
  return checkLaws(opts.checkLaws!, info.combines, (executor) => execute(executor ?? eager, task, structuredClone(input), opts, performance.now(), source, {}));
}

async function execute(executor: Executor, task: TaskClass | string, valid: unknown, opts: NormalizedOptions, started: number, source: string | undefined, origin: JobOrigin): Promise<JobResult<unknown>> {
  const info = await resolveTask(task);
  if (opts.executor === 'amqp') void info.codeHash; // fingerprinted as loaded: workers must run this very code
  const style = jobLogStyle(opts.logFormat);
  const log = createLogger(info.name, opts.logLevel, undefined, style);
  const taskLog = createLogger(info.name, taskLogLevel(opts.logLevel), undefined, style); // the hooks' ctx.log
  await info.validate(valid, source);
  log.debug(`input valid; executor ${opts.executor}`);

  const controller = new AbortController();
  const onAbort = () => controller.abort(opts.signal!.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const signal = controller.signal;
  const instance = new info.cls() as AnyTask;
  let expected: number | undefined; // setup's hint (ctx.expectItems): a total before the items are all seen
  const setupCtx: SetupContext = {
    signal,
    log: taskLog,
    expectItems(count) {
      if (!Number.isSafeInteger(count) || count < 0) throw new TypeError(`Expected \`expectItems\` to be given a non-negative integer, got \`${String(count)}\``);
      expected = count;
    },
  };

  const params = await hook(info, 'params', () => instance.params(valid));
  const paramsBytes = encode(params, { task: info.name, hook: 'params' });
  const sharedParams = decode<object>(paramsBytes);
  const source_ = await hook(info, 'setup', () => instance.setup(valid, setupCtx));
  if (!ItemStream.accepts(source_)) {
    throw new TaskError({ task: info.name, hook: 'setup' }, new TypeError(`setup must return an array, an iterable or an async iterable, got ${source_ === null ? 'null' : typeof source_}`));
  }
  const items = new ItemStream(source_, info.name);
  const counters: Counters = { items: 0, messages: 0, bytesPublished: 0, bytesStored: 0 };
  const ledger = new Ledger(opts, opts.retries ?? info.retries);
  if (origin.seed) ledger.restore(origin.seed);
  origin.onLedger?.(ledger);
  let done = ledger.recorded;
  const plan: JobPlan = {
    task: info,
    params: sharedParams,
    paramsBytes,
    items,
    signal,
    log,
    options: opts,
    counters,
    ledger,
    origin: { input: valid, inputFile: origin.inputFile, resume: origin.resume, manifest: origin.manifest, seeded: origin.seed !== undefined },
    progress: (n) => {
      done += n;
      opts.onProgress?.({ done, total: items.total ?? expected });
    },
  };
  let results: unknown[];
  try {
    await executor.map(plan);
    results = ledger.results(items.total ?? items.index);
  } catch (err) {
    controller.abort(err);
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  const failures = ledger.failures;
  for (const f of failures) log.error(`item ${f.index} failed after ${f.attempts} attempt(s): ${f.error.message}`);

  const services = await loadServices(opts.services, 'join');
  let output: unknown;
  try {
    const joinCtx: JoinContext = { signal, log: taskLog, services: services.value, failures };
    output = await hook(info, 'join', () => instance.join(results, sharedParams, joinCtx));
  } finally {
    await services.close();
  }
  // The output is JSON (printed, written to -o): checked like every value a hook returns.
  const notJson = jsonOutputProblem(output);
  if (notJson) throw new TaskError({ task: info.name, hook: 'join' }, new TypeError(`join must return JSON data (the job's output): ${notJson}`));
  counters.items = ledger.recorded;
  const total = items.total ?? items.index;
  const stats: JobStats = { total, succeeded: ledger.recorded, failed: failures.length, ...counters, wallMs: Math.round(performance.now() - started), retried: ledger.retried, failures };
  opts.onStats?.(stats);
  log.info(`done: ${stats.items} items in ${stats.wallMs} ms`);
  return { output, stats };
}

/** Runs a hook on the submitting side, wrapping what it throws in TaskError. */
async function hook<T>(info: TaskInfo, name: 'setup' | 'params' | 'join', fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new TaskError({ task: info.name, hook: name }, err);
  }
}

async function executorFor(name: ExecutorName): Promise<Executor> {
  switch (name) {
    case 'eager':
      return new (await import('./executors/eager.js')).EagerExecutor();
    case 'local':
      return new (await import('./executors/local.js')).LocalExecutor();
    case 'amqp':
      return new (await import('./executors/amqp.js')).AmqpExecutor();
  }
}

export type { NormalizedOptions };

/**
 * Re-attaches to an amqp job whose coordinator died (`fj resume`): reads the
 * job's manifest from the store, checks that the task's code and the input
 * file are unchanged, records the results already in the job's results
 * queue, publishes only the items without one, then joins once.
 *
 * `options` may override how to reach the broker and store, the log level and
 * the callbacks; the job's own settings (retries, policy) come from the
 * manifest. A job of a task module of its own needs `options.task`: fj never
 * loads code that a store record names. Rejects with UsageError when the job
 * is unknown, finished, still attached to a live coordinator, or its task or
 * input changed; a refused resume touches nothing.
 */
export async function resume(jobId: string, options: ResumeOptions = {}): Promise<JobResult<unknown>> {
  const { jobForResume } = await import('./resume.js');
  const { task, ...rest } = options;
  const job = await jobForResume(jobId, rest, task);
  if (job.detached) return (await import('./detached/coordinate.js')).resumeDetached(jobId, job.task, rest);
  return runOwnedInput(job.task.cls, job.input, { ...job.options, ...rest, executor: 'amqp', jobId, queue: job.queue }, `job ${jobId}'s input`, {
    resume: true,
    inputFile: job.inputFile,
  });
}
