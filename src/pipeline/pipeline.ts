/**
 * A pipeline: fork-join jobs composed into stages, each stage's output the
 * next stage's input, each stage with settings of its own (its pool, its
 * retries), and an on-error stage that runs once when any stage fails or the
 * pipeline is cancelled. This file is the description (what a user builds and
 * exports); ./run-pipeline.ts runs one.
 *
 * ```ts
 * export default pipeline(Fetch)
 *   .pipe(Align, { queue: 'external' })
 *   .pipe(Metadata)
 *   .onError(Finish);
 * ```
 */
import { ITEM_POLICY_KEYS, type ExecutorName, type FailurePolicy } from '../core/job-options.js';
import type { ItemFailure } from '../core/errors.js';
import { UsageError } from '../core/errors.js';
import {
  isTaskClass,
  type InputOf,
  type ItemOf,
  type OutputOf,
  type PartialOf,
  type TaskClass,
} from '../task/fork-join-task.js';

/**
 * A stage's own settings. Each overrides, for this stage only, the option of
 * the same name the pipeline was run with (`fj run` flags, `RunOptions`).
 */
export interface StageSettings {
  /** The stage's name in messages, logs and the stats. Default: its task's name. */
  name?: string;
  /** Where the stage's items run: `eager`, `local` or `amqp`. */
  executor?: ExecutorName;
  /** The worker pool (RabbitMQ queue) of an amqp stage: its items reach only that pool's workers. */
  queue?: string;
  /** Attempts after an item's first failure. */
  retries?: number;
  /** Delay before a retry, in ms. */
  retryDelayMs?: number;
  /** `fail-fast` (the default) or `collect` (failed items are left out of the stage's join). */
  onFailure?: FailurePolicy;
  /** Under `collect`, how many items (or what share, `'5%'`) may fail before the stage fails. */
  maxFailures?: number | `${number}%`;
  /** A stage whose task has no `combine`: the most items (results held for its join) before it fails with `LimitError`. */
  maxResults?: number;
  /** Each item's time limit, in ms. */
  itemTimeoutMs?: number;
  /** At most this many of the stage's items started a second (`RunOptions.rateLimit`): a stage that calls a service with a quota. */
  rateLimit?: number;
  /** amqp: the stage's weight among the jobs of its priority sharing its pool (`RunOptions.weight`). */
  weight?: number;
  /** amqp: the stage's priority on its pool, -100 to 100 (`RunOptions.priority`): a stage on a pool shared with other work can go first, or last. */
  priority?: number;
  /** Worker threads of a `local` stage. */
  concurrency?: number;
  /** Items each thread runs at once. */
  itemConcurrency?: number;
  /**
   * Streams from the previous stage, with no barrier: this stage's items are
   * the previous stage's per-item results (what its `process` returns), in
   * its item order, as they arrive; failed ones are left out. This stage's
   * `setup` does not run, and its input is the previous stage's input
   * (validated against this stage's schema: its params come from it). The
   * previous stage passes its results on: its `join` does not run, and it
   * must not `combine` or fold. Attached runs only (`fj run`, `runPipeline`).
   */
  stream?: boolean;
  /**
   * With `stream`: how many items the previous stage may run ahead of this
   * one (in flight, or done and not taken yet) before it waits. Default 10,000.
   */
  buffer?: number;
}

/** A stage's task: a task class, or the name of one (`'align'`, `'./tasks/align.js'`), resolved when the pipeline runs. */
export type StageTask = TaskClass | string;

/** One stage of a pipeline, as built. */
export interface StageSpec {
  readonly task: StageTask;
  readonly settings: Readonly<StageSettings>;
}

/**
 * What an on-error stage gets as its input (its schema may name fj's own
 * `pipeline-failure` schema): which stage failed and how, and what the stages
 * before it produced.
 */
export interface PipelineFailure {
  /** The pipeline's name. */
  pipeline: string;
  /** The stage that failed or was running when the pipeline was cancelled: its number (1 for the first), name and task. */
  stage: { number: number; name: string; task: string };
  /** Whether the pipeline was cancelled (Ctrl-C, SIGTERM, the caller's signal) rather than failed. */
  cancelled: boolean;
  /** The error: its fj code (`FJ_TASK`, `FJ_INPUT`, `FJ_FAILURES`, `FJ_CANCELLED`, …) and message. */
  error: { code: string; message: string };
  /** The failing stage's failed items (each with its index and error), where items failed. */
  failures: ItemFailure[];
  /** The outputs of the stages that finished, in order. */
  finished: { stage: string; output: unknown }[];
}

/** Where a stage's input type does not accept the previous stage's output: tsc names the two types. */
export interface StageMismatch<Previous, Next> {
  'this stage cannot take the previous stage output': { previous: Previous; expected: Next };
}

/**
 * For a stage that streams from the last one: nothing more to ask of `T`
 * when its items accept the last stage's per-item results and its input the
 * last stage's input (or they are not known), else a type naming the mismatch.
 */
type FitsStream<LastIn, LastPartial, T> = (
  unknown extends LastPartial ? true : [LastPartial] extends [ItemOf<T>] ? true : false
) extends true
  ? unknown extends LastIn
    ? unknown
    : [LastIn] extends [Partial<InputOf<T>>]
      ? unknown
      : StageMismatch<LastIn, InputOf<T>>
  : { 'this stage cannot take the previous stage results as items': { results: LastPartial; items: ItemOf<T> } };

/**
 * Nothing more to ask of `T` when its input accepts `Out` (fields with schema
 * defaults may be missing) or `Out` is not known (a stage named by a string),
 * else a type naming the mismatch.
 */
type Fits<Out, T> = unknown extends Out
  ? unknown
  : [Out] extends [Partial<InputOf<T>>]
    ? unknown
    : StageMismatch<Out, InputOf<T>>;

/**
 * A pipeline of stages: build one with {@link pipeline}, export it as a
 * module's default export, and `fj run` or {@link runPipeline} it wherever a
 * task goes. Immutable: `pipe` and `onError` return a new pipeline.
 *
 * In TypeScript, a stage whose input type does not accept the previous stage's
 * output does not compile.
 */
export class Pipeline<In = unknown, Out = unknown, LastIn = unknown, LastPartial = unknown> {
  /** Marks a pipeline structurally (a pipeline built against another copy of fj still loads). */
  readonly kind = 'fj.pipeline' as const;
  /** Phantom: the pipeline's input and output types, and its last stage's input and per-item result types (what a streaming stage takes). */
  declare readonly types?: { input: In; output: Out; lastInput: LastIn; lastPartial: LastPartial };

  /** @internal Use {@link pipeline}. */
  constructor(
    /** The pipeline's name (logs, messages, the on-error stage's input); default: the first stage's name. */
    readonly name: string | undefined,
    /** The stages, in order. */
    readonly stages: readonly StageSpec[],
    /** The on-error stage, if any. */
    readonly errorStage?: StageSpec,
  ) {}

  /**
   * Adds a stage that takes this pipeline's output as its input (validated
   * against its schema before any of its items run). Called `pipe`, not
   * `then`: an object with a `then` method is a promise to `await`, which
   * would call it.
   */
  pipe<T extends TaskClass>(
    task: T & FitsStream<LastIn, LastPartial, T>,
    settings: StageSettings & { stream: true },
  ): Pipeline<In, OutputOf<T>, InputOf<T>, PartialOf<T>>;
  pipe<T extends TaskClass>(
    task: T & Fits<Out, T>,
    settings?: StageSettings & { stream?: false },
  ): Pipeline<In, OutputOf<T>, InputOf<T>, PartialOf<T>>;
  /** A stage named by a string is resolved when the pipeline runs; its types are not known. */
  pipe(task: string, settings?: StageSettings): Pipeline<In, unknown>;
  pipe(task: StageTask, settings: StageSettings = {}): Pipeline<In, unknown> {
    return new Pipeline(this.name, [...this.stages, stage(task, settings, this.stages.length + 1)], this.errorStage);
  }

  /**
   * Sets the on-error stage (Celery's `link_error`): a task whose input is a
   * {@link PipelineFailure}. It runs once when any stage fails or the pipeline
   * is cancelled; its own failure is reported with the stage's, never retried
   * as a pipeline.
   */
  onError<T extends TaskClass>(
    task: T & Fits<PipelineFailure, T>,
    settings?: StageSettings,
  ): Pipeline<In, Out, LastIn, LastPartial>;
  onError(task: string, settings?: StageSettings): Pipeline<In, Out, LastIn, LastPartial>;
  onError(task: StageTask, settings: StageSettings = {}): Pipeline<In, Out, LastIn, LastPartial> {
    if (this.errorStage) throw new UsageError('a pipeline has one on-error stage: onError() was called twice');
    return new Pipeline(this.name, this.stages, stage(task, settings, 'on-error'));
  }

  /** The same pipeline under another name. */
  named(name: string): Pipeline<In, Out, LastIn, LastPartial> {
    if (typeof name !== 'string' || !name.trim()) throw new UsageError('a pipeline name must be a non-empty string');
    return new Pipeline(name, this.stages, this.errorStage);
  }
}

/**
 * Starts a pipeline with its first stage.
 *
 * ```ts
 * export default pipeline(Prepare).pipe(Align, { queue: 'align' }).pipe(Summarise).onError(Report);
 * ```
 */
export function pipeline<T extends TaskClass>(
  first: T,
  settings?: StageSettings,
): Pipeline<InputOf<T>, OutputOf<T>, InputOf<T>, PartialOf<T>>;
export function pipeline(first: string, settings?: StageSettings): Pipeline<unknown, unknown>;
export function pipeline(first: StageTask, settings: StageSettings = {}): Pipeline<unknown, unknown> {
  return new Pipeline(undefined, [stage(first, settings, 1)]);
}

/** True when `value` is a pipeline (structurally, as a task class is recognised). */
export function isPipeline(value: unknown): value is Pipeline {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { kind?: unknown }).kind === 'fj.pipeline' &&
    Array.isArray((value as { stages?: unknown }).stages)
  );
}

const SETTINGS = new Set<keyof StageSettings>([
  'name',
  'executor',
  'queue',
  ...ITEM_POLICY_KEYS,
  'weight',
  'priority',
  'concurrency',
  'itemConcurrency',
  'stream',
  'buffer',
]);

/** A stage checked as it is added: a task class or a name, and only known settings (a typo is not a silent default). */
function stage(task: StageTask, settings: StageSettings, where: number | 'on-error'): StageSpec {
  const label = where === 'on-error' ? 'the on-error stage' : `stage ${where}`;
  if (typeof task !== 'string' && !isTaskClass(task))
    throw new UsageError(`${label} is not a task: expected a ForkJoinTask or FoldTask class, or a task's name`);
  if (typeof task === 'string' && !task.trim()) throw new UsageError(`${label} names no task`);
  if (typeof settings !== 'object' || settings === null) throw new UsageError(`${label}: settings must be an object`);
  const unknown = Object.keys(settings).filter((k) => !SETTINGS.has(k as keyof StageSettings));
  if (unknown.length)
    throw new UsageError(
      `${label}: unknown setting${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (known: ${[...SETTINGS].join(', ')})`,
    );
  if (settings.name !== undefined && (typeof settings.name !== 'string' || !settings.name.trim()))
    throw new UsageError(`${label}: name must be a non-empty string`);
  if (settings.stream !== undefined && typeof settings.stream !== 'boolean')
    throw new UsageError(`${label}: stream must be true or false`);
  if (settings.stream && where === 1) throw new UsageError(`${label}: the first stage has no stage to stream from`);
  if (settings.stream && where === 'on-error') throw new UsageError(`${label}: the on-error stage cannot stream`);
  if (settings.buffer !== undefined && !(Number.isSafeInteger(settings.buffer) && settings.buffer >= 1))
    throw new UsageError(`${label}: buffer must be a whole number of items from 1`);
  return { task, settings: { ...settings } };
}
