/**
 * The job lifecycle, the same for every executor and for the CLI: `startJob()`
 * is its one entry (`run()`, `runJob()`, `fj run`, `fj resume` and a detached
 * coordinator all go through it).
 * 1. resolve the task and validate the input (defaults applied) — an invalid
 *    input stops here, before any hook runs;
 * 2. compute params once and encode them once;
 * 3. stream `setup`'s items to the executor, which runs `process`;
 * 4. `join` the results, in item order, in this thread.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { encode, decode } from '../core/codec.js';
import { InputError, TaskError } from '../core/errors.js';
import type { Counters, Executor, JobEnd, JobPlan } from '../executors/executor.js';
import { GatedItemStream, ItemStream, type ItemGate } from '../dispatch/item-stream.js';
import { Ledger, type KeptResults } from '../dispatch/ledger.js';
import type { Manifest } from '../store/job-records.js';
import { createLogger, jobLogStyle, taskLogger } from '../core/log.js';
import {
  normalizeOptions,
  type ExecutorName,
  type JobStats,
  type NormalizedOptions,
  type RunOptions,
} from '../core/job-options.js';
import type { AnyTask, TaskBase, TaskClass } from '../task/fork-join-task.js';
import { resolveTask, type TaskInfo } from '../task/registry.js';
import type { JoinContext, SetupContext } from '../task/types.js';
import { jsonOutputProblem } from '../task/json-output.js';
import { loadServices, TaskRuntime, type Services } from '../runtime/task-runtime.js';

/** What a job produced: its output and its figures. */
export interface JobResult<Output> {
  output: Output;
  stats: JobStats;
}

/**
 * Validates `input` against the task's schema, applying defaults. Throws
 * InputError listing every violation with its JSON path. Returns the input
 * (a validated copy: the caller's object is not modified).
 */
export async function validate<I>(
  task: TaskClass<TaskBase<I, any, any, any, any, any>> | string,
  input: I | unknown,
  source?: string,
): Promise<I> {
  const info = await resolveTask(task);
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
  const { output } = await startJob(task, { value: input }, options);
  return output as T extends TaskBase<any, any, any, infer O, any, any> ? O : unknown;
}

/** Like {@link run}, also returning the job's figures. `source` names the input in error messages. */
export async function runJob(
  task: TaskClass | string,
  input: unknown,
  options?: RunOptions,
  source?: string,
): Promise<JobResult<unknown>> {
  return startJob(task, { value: input, source }, options);
}

/** Where a job's input and records come from, beyond its options (the CLI, a resume, a detached coordinator). */
export interface JobSource {
  /** The input file and its sha256 (kept in an amqp job's manifest for `fj resume`). */
  inputFile?: { file: string; sha256: string };
  /** Re-attaching to an amqp job after its coordinator died. */
  resume?: boolean;
  /** A detached job's manifest (its coordinator in the cluster). */
  manifest?: Manifest;
  /** Results an earlier job kept (a re-run of its failed items): recorded before any item is sent, so only items without one run. */
  seed?: KeptResults;
  /** Called with the job's ledger once it exists (a detached coordinator keeps its results when the job ends with failures). */
  onLedger?: (ledger: Ledger) => void;
  /** Called once an amqp coordinator has attached to the job, before it publishes (a detached job indexes itself as running). */
  onAttached?: () => Promise<void>;
  /** Who coordinates, for the records (a worker's `--name`). Default `<host>:<pid>`. */
  coordinator?: string;
  /** When the job first started (ms since the epoch), when an earlier coordinator started it. */
  started?: number;
  /** Called once the job has ended, either way, with its figures (a detached job's end keeps them, failed or not). */
  onEnd?: (end: JobEnd) => void;
  /**
   * The job's items, instead of what `setup` returns (a pipeline stage that
   * takes the previous stage's results as they arrive): `setup` is not called.
   */
  items?: AsyncIterable<unknown>;
  /** Holds the job's items back (a pipeline stage streaming into the next, or from the one before): taken only as it has room. */
  gate?: ItemGate;
  /**
   * The job's results go on, not to its `join` (a pipeline stage that streams
   * into the next, reading them from `onLedger`'s ledger): `join` does not
   * run, and the job's output is null.
   */
  passOn?: boolean;
}

/** An input read by a {@link JobInput}'s `load`: the value (owned: validation fills in defaults in place), what to call it in errors, where it came from. */
export interface LoadedInput {
  value: unknown;
  source?: string;
  origin?: JobSource;
}

/**
 * A job's input, one of:
 * - `{ value }`: the caller's value, copied before validation fills in defaults
 *   (`owned: true`: nobody else holds it, so no copy is made);
 * - `{ load }`: still to be read (`fj run FILE`): the executor starts its threads
 *   or connections first, so they boot while `load` reads and parses the input.
 *   `load` gets the job's signal (Ctrl-C while the input is still being read).
 */
export type JobInput =
  | { value: unknown; owned?: boolean; source?: string; origin?: JobSource }
  | { load: (signal?: AbortSignal) => Promise<LoadedInput> };

/**
 * The job lifecycle, the one entry every way of running a job goes through
 * ({@link run}, {@link runJob}, `fj run`, `fj resume`, a detached coordinator).
 * No item runs before the input is valid; the executor is disposed of when
 * the job ends, early ones (a bad input) included. `on` runs the job on a
 * given executor instead of the one `options.executor` names (the transport
 * conformance suite); it is disposed of too, unless `shared`: then it is
 * prepared and warmed as the job's own would be and left running for the
 * caller's next job (a pipeline's local stages share one thread pool).
 */
export async function startJob(
  task: TaskClass | string,
  input: JobInput,
  options?: RunOptions,
  on?: Executor,
  shared = false,
): Promise<JobResult<unknown>> {
  const opts = normalizeOptions(options);
  const executor = on ?? (await executorFor(opts.executor));
  try {
    // The task is looked up once (an unknown task is reported by execute(), after the input).
    const info = resolveTask(task);
    info.catch(() => {});
    if (!on || shared) {
      executor.prepare?.(opts);
      // The threads import the task's module and the validator loads while the input is read.
      info.then(
        (ti) => {
          executor.warm?.(ti);
          ti.prepareValidator();
        },
        () => {},
      );
    }
    const loaded: LoadedInput =
      'load' in input
        ? await input.load(opts.signal)
        : { ...input, value: input.owned ? input.value : copyInput(input.value, input.source) };
    const job: Execution = {
      executor,
      info,
      valid: loaded.value,
      opts,
      started: performance.now(),
      source: loaded.source,
      origin: loaded.origin ?? {},
    };
    if (opts.checkLaws && !on) return await lawChecked(job);
    return await execute(job);
  } finally {
    if (!shared) await executor.dispose?.();
  }
}

/** The job under `checkLaws` (laws.ts): run eagerly, then under other groupings, each on its own copy of the input. */
async function lawChecked(job: Execution): Promise<JobResult<unknown>> {
  const { checkLaws } = await import('./laws.js');
  return checkLaws(job.opts.checkLaws!, (await job.info).combines, (executor) =>
    execute({
      ...job,
      executor: executor ?? job.executor,
      valid: structuredClone(job.valid),
      started: performance.now(),
      origin: {},
    }),
  );
}

/** One run of a job on an executor, its input loaded (not validated yet). */
interface Execution {
  executor: Executor;
  info: Promise<TaskInfo>;
  valid: unknown;
  opts: NormalizedOptions;
  started: number;
  source: string | undefined;
  origin: JobSource;
}

// eslint-disable-next-line max-lines-per-function -- the lifecycle's steps in their order, each a few lines
async function execute({
  executor,
  info: resolving,
  valid,
  opts,
  started,
  source,
  origin,
}: Execution): Promise<JobResult<unknown>> {
  const info = await resolving;
  if (opts.executor === 'amqp') void info.codeHash; // fingerprinted as loaded: workers must run this very code
  const style = jobLogStyle(opts.logFormat);
  // An amqp job has its id from the start, so every json log line of it carries it.
  if (opts.executor === 'amqp' && !opts.jobId) opts = { ...opts, jobId: randomUUID() };
  const fields = { ...(opts.jobId ? { job: opts.jobId } : {}), task: info.name };
  const log = createLogger(info.name, opts.logLevel, undefined, style, fields);
  const taskLog = taskLogger(info.name, opts.logLevel, style, fields); // the hooks' ctx.log
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
      if (!Number.isSafeInteger(count) || count < 0)
        throw new TypeError(`Expected \`expectItems\` to be given a non-negative integer, got \`${String(count)}\``);
      expected = count;
    },
  };

  const params = await hook(info, 'params', () => instance.params(valid));
  const paramsBytes = encode(params, { task: info.name, hook: 'params' });
  const sharedParams = decode<object>(paramsBytes);
  opts.onProgress?.({ done: 0, total: undefined, phase: 'setup' });
  const source_ = origin.items ?? (await hook(info, 'setup', () => instance.setup(valid, setupCtx)));
  if (!ItemStream.accepts(source_)) {
    throw new TaskError(
      { task: info.name, hook: 'setup' },
      new TypeError(
        `setup must return an array, an iterable or an async iterable, got ${source_ === null ? 'null' : typeof source_}`,
      ),
    );
  }
  const items = origin.gate ? new GatedItemStream(source_, info.name, origin.gate) : new ItemStream(source_, info.name);
  const counters: Counters = { items: 0, messages: 0, bytesPublished: 0, bytesStored: 0 };
  const ledger = new Ledger(opts, opts.retries ?? info.retries);
  // A task that merges its results has those of settled items merged here as they come: bounded memory for any item count.
  const merging = info.combines ? coordinatorMerge(info, sharedParams, opts, taskLog, signal) : undefined;
  if (merging)
    ledger.mergeWith({
      merge: merging.merge,
      failed: (err) => controller.abort(err),
    });
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
    origin: {
      input: valid,
      inputFile: origin.inputFile,
      resume: origin.resume,
      manifest: origin.manifest,
      seeded: origin.seed !== undefined,
      onAttached: origin.onAttached,
      coordinator: origin.coordinator,
      started: origin.started,
    },
    progress: (n) => {
      done += n;
      opts.onProgress?.({ done, total: items.total ?? expected, phase: 'items' });
    },
  };
  // The job's figures now (its end, either way).
  const figures = (): JobStats => {
    counters.items = ledger.recorded;
    const failures = ledger.failures;
    return {
      total: items.total ?? items.index,
      succeeded: ledger.recorded,
      failed: failures.length,
      ...counters,
      wallMs: Math.round(performance.now() - started),
      retried: ledger.retried,
      failures,
    };
  };
  const ended = async (end: JobEnd) => {
    origin.onEnd?.(end);
    await executor.finish?.(plan, end);
  };
  let output: unknown;
  try {
    let results: unknown[] = [];
    try {
      await executor.map(plan);
      await ledger.idle();
      if (origin.passOn) ledger.checkLimit(items.total ?? items.index);
      else results = ledger.results(items.total ?? items.index);
    } catch (err) {
      controller.abort(err);
      throw err;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      await merging?.close();
    }
    const failures = ledger.failures;
    // The message says "(after N attempts)" when there were more than one (see Ledger.fail).
    for (const f of failures) log.error(`item ${f.index} failed: ${f.error.message}`);

    if (origin.passOn) {
      await ended({ stats: figures(), totalKnown: true });
      return { output: null, stats: figures() };
    }
    opts.onProgress?.({ done, total: items.total ?? items.index, phase: 'join' });
    const services = await loadServices(opts.services, 'join');
    try {
      const joinCtx: JoinContext = { signal, log: taskLog, services: services.value, failures };
      output = await hook(info, 'join', () => instance.join(results, sharedParams, joinCtx));
    } finally {
      await services.close();
    }
    // The output is JSON (printed, written to -o): checked like every value a hook returns.
    const notJson = jsonOutputProblem(output);
    if (notJson)
      throw new TaskError(
        { task: info.name, hook: 'join' },
        new TypeError(`join must return JSON data (the job's output): ${notJson}`),
      );
  } catch (err) {
    await ended({ error: err, stats: figures(), totalKnown: items.done }).catch((e: unknown) =>
      log.warn(`the job's end was not recorded: ${(e as Error).message}`),
    );
    throw err;
  }
  const stats = figures();
  await ended({ stats, totalKnown: true });
  opts.onStats?.(stats);
  log.info(`done: ${stats.items} items in ${stats.wallMs} ms`);
  return { output, stats };
}

/**
 * The task's `combine` on the submitting side, for the ledger's merges of
 * settled results (Ledger.mergeWith); its services (`ctx.services`) are
 * loaded on the first merge, and released by `close`.
 */
function coordinatorMerge(
  info: TaskInfo,
  params: object,
  opts: NormalizedOptions,
  log: TaskRuntime['log'],
  signal: AbortSignal,
): { merge: (values: unknown[], index: number) => unknown; close: () => Promise<void> } {
  let runtime: TaskRuntime | undefined;
  let loading: Promise<Services> | undefined;
  return {
    merge(values, index) {
      if (runtime) return runtime.combine(values, index, signal);
      if (!opts.services) {
        runtime = new TaskRuntime(info, params, undefined, log);
        return runtime.combine(values, index, signal);
      }
      loading ??= loadServices(opts.services, 'join');
      return loading.then((services) => {
        runtime ??= new TaskRuntime(info, params, services.value, log);
        return runtime.combine(values, index, signal);
      });
    },
    async close() {
      if (loading) await (await loading.catch(() => undefined))?.close();
    },
  };
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
      return new (await import('../executors/eager.js')).EagerExecutor();
    case 'local':
      return new (await import('../executors/local.js')).LocalExecutor();
    case 'amqp':
      return new (await import('../executors/amqp/amqp-executor.js')).AmqpExecutor();
  }
}
