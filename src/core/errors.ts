/**
 * One error hierarchy for fj. Every error the framework raises is an
 * {@link FjError} with a stable `code`; the subclasses say what the caller can
 * do about it.
 *
 * | class            | code              | exit | meaning                                   |
 * |------------------|-------------------|------|-------------------------------------------|
 * | `UsageError`     | `FJ_USAGE`        | 2    | bad option, unknown task, missing file     |
 * | `InputError`     | `FJ_INPUT`        | 2    | the job's input is invalid (fix your input)|
 * | `CodecError`     | `FJ_CODEC`        | 1    | a hook returned a value that cannot travel |
 * | `TaskError`      | `FJ_TASK`         | 1    | a hook threw (carries hook, item, cause)   |
 * | `TransportError` | `FJ_TRANSPORT`    | 3    | broker or payload store trouble            |
 * | `FailuresError`  | `FJ_FAILURES`     | 1    | `collect` policy: more items failed than allowed |
 * | `CancelledError` | `FJ_CANCELLED`    | 130  | Ctrl-C, `fj cancel` or the caller's signal |
 * | `NotFoundError`  | `FJ_NOT_FOUND`    | 3    | a store ref or record with no data behind it (a `TransportError`) |
 * | `WorkerRefusedError` | `FJ_WORKER_REFUSED` | 1 | a worker refused the job's items (other code, unknown task) |
 * | `UnrecoverableError` | `FJ_UNRECOVERABLE` | 1 | thrown by a hook: retrying this item will not help |
 * | `InternalError`  | `FJ_INTERNAL`     | 1    | a bug in fj, or a state it cannot get out of |
 * | `TimeoutError`   | `FJ_TIMEOUT`      | 124  | a wait ran out (`fj result --timeout`): the job itself goes on |
 * | `LawsError`      | `FJ_LAWS`         | 1    | `checkLaws`: two groupings of the items gave different outputs |
 * | `LimitError`     | `FJ_LIMIT`        | 1    | the job passed a limit that keeps its coordinator alive (`maxResults`) |
 * | `JobEndedError`  | `FJ_ENDED`        | 4    | `fj cancel` of a job that had already ended: nothing was changed |
 *
 * Callers tell errors apart by class (`instanceof`) or `code`, never by
 * message: messages are for people and may change. {@link errorClasses} maps
 * every code back to its class (errors crossing threads and hosts are rebuilt
 * with it).
 */
export class FjError extends Error {
  /** Stable machine-readable code, e.g. `FJ_INPUT`. */
  readonly code: string;
  /** Exit code the CLI uses for this error. */
  readonly exitCode: number;

  constructor(message: string, code: string, exitCode: number, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** A command line or option is wrong: unknown task, bad flag value, missing file. */
export class UsageError extends FjError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'FJ_USAGE', 2, options);
  }
}

/** Another coordinator is attached to the job (its results queue is consumed elsewhere): this one must not touch it. */
export class AttachedElsewhereError extends UsageError {}

/** The job's input is wrong: unreadable JSON or schema violations. Nothing was processed. */
export class InputError extends FjError {
  /** One line per problem, e.g. `/documents/1: must be string`. */
  readonly problems: string[];

  constructor(message: string, problems: string[] = [], options?: ErrorOptions) {
    super(
      problems.length ? `${message}\n${problems.map((p) => `  ${p}`).join('\n')}` : message,
      'FJ_INPUT',
      2,
      options,
    );
    this.problems = problems;
  }
}

/** Which hook of a task was running. */
export type HookName = 'setup' | 'params' | 'process' | 'seed' | 'fold' | 'combine' | 'join';

/** Where a value was when something went wrong with it. */
export interface Where {
  /** The task's name. */
  task?: string;
  /** The hook that produced or consumes the value. */
  hook: HookName;
  /** The item index, for `process` and for items produced by `setup`; for `combine`, the first item of the batch. */
  index?: number;
}

function describe(where: Where): string {
  const parts = [where.task ? `${where.task}.${where.hook}` : where.hook];
  if (where.index !== undefined) parts.push(`item ${where.index}`);
  return parts.join(' on ');
}

/**
 * A value cannot be sent between processes: a function, a class instance, a
 * Map, a Set, a symbol. Raised on every executor (eager included) so a task
 * that would break on the wire breaks in its tests first.
 */
export class CodecError extends FjError {
  readonly where: Where;
  /** JSON-pointer-like path to the offending value inside the item or result. */
  readonly path: string;
  /** What the value was, e.g. `a Map`. */
  readonly what: string;

  constructor(where: Where, path: string, what: string) {
    super(
      `${describe(where)}: value at ${path || '/'} cannot be serialized: ${what}. ` +
        'Items, params and results must be plain data (objects, arrays, strings, numbers, booleans, null, Date, Uint8Array).',
      'FJ_CODEC',
      1,
    );
    this.where = where;
    this.path = path;
    this.what = what;
  }
}

/** `value instanceof cls`, false where asking throws (a Proxy whose getPrototypeOf trap throws). */
export function isInstance<T>(value: unknown, cls: abstract new (...args: never[]) => T): value is T {
  try {
    return value instanceof cls;
  } catch {
    return false;
  }
}

function readString(value: object, key: 'name' | 'message' | 'stack'): string | undefined {
  try {
    const v = (value as Record<string, unknown>)[key];
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined; // a getter or a Proxy trap threw
  }
}

/**
 * Name, message and stack of anything a hook may throw, without ever
 * throwing: an Error whose getters throw, a Proxy whose traps throw, null, a
 * symbol, an object whose `toString` throws. Used wherever a thrown value is
 * described (TaskError's message, the wire, `--stats`), so every executor
 * says the same thing about it.
 */
export function thrownParts(value: unknown): { name: string; message: string; stack?: string } {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function'))
    return { name: 'Error', message: String(value) };
  const isError = isInstance(value, Error);
  const name = readString(value, 'name') ?? 'Error';
  let message = readString(value, 'message');
  if (message === undefined && isError) message = `${name} (its message cannot be read)`;
  if (message === undefined) {
    for (const describe of [() => String(value), () => Object.prototype.toString.call(value)]) {
      try {
        const text = describe();
        if (typeof text === 'string') {
          message = text;
          break;
        }
      } catch {
        // try the next way
      }
    }
  }
  const stack = readString(value, 'stack');
  return {
    name,
    message: message ?? 'a thrown value that cannot be described',
    ...(stack === undefined ? {} : { stack }),
  };
}

/** A hook threw. `cause` is the original error, with its original stack. */
export class TaskError extends FjError {
  readonly hook: HookName;
  readonly task?: string;
  /** Index of the item being processed, when the hook was `process`. */
  readonly index?: number;

  constructor(where: Where, cause: unknown) {
    const reason = thrownParts(cause).message;
    super(`${describe(where)} failed: ${reason}`, 'FJ_TASK', 1, { cause });
    this.hook = where.hook;
    this.task = where.task;
    this.index = where.index;
  }
}

/**
 * Throw this from a hook to say "retrying will not help": the item fails at
 * once, whatever `retries` allows (bad data, a missing file).
 */
export class UnrecoverableError extends FjError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'FJ_UNRECOVERABLE', 1, options);
  }
}

/**
 * Whether another attempt of a failed item could succeed: not when the hook
 * threw {@link UnrecoverableError}, nor for a value that cannot be encoded
 * (the same item gives the same value), nor after a cancellation or a
 * worker's refusal. (A hook's error rebuilt in another thread keeps its
 * class name, which is what is checked there.)
 */
export function isRetryable(err: unknown): boolean {
  if (
    isInstance(err, CodecError) ||
    isInstance(err, UsageError) ||
    isInstance(err, CancelledError) ||
    isInstance(err, WorkerRefusedError) ||
    isInstance(err, UnrecoverableError)
  )
    return false;
  const cause = isInstance(err, TaskError) ? err.cause : err;
  return !(
    isInstance(cause, UnrecoverableError) ||
    (isInstance(cause, Error) && thrownParts(cause).name === 'UnrecoverableError')
  );
}

/** An item that failed for good (its attempts used up), as `join` and `--stats` see it. */
export interface ItemFailure {
  /** The item's index. */
  index: number;
  /** Attempts made, the last one included. */
  attempts: number;
  /** What the last attempt threw; `stack` is its stack trace, when it had one (at most {@link MAX_STACK} characters). */
  error: { name: string; message: string; code?: string; stack?: string };
  /** The worker that ran the last attempt (its `--name`), when it ran on one (amqp). */
  worker?: string;
}

const RAN_ON = Symbol('fj.ranOn');

/** Marks `err` as thrown on worker `worker` (an amqp result names it): the item's failure record carries the name. */
export function ranOn<E extends Error>(err: E, worker: string): E {
  Object.defineProperty(err, RAN_ON, { value: worker, enumerable: false, configurable: true });
  return err;
}

/** The worker {@link ranOn} marked `err` (or its cause) with; undefined when it ran here. */
export function workerOf(err: unknown): string | undefined {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 3; depth++) {
    const w = (e as { [RAN_ON]?: unknown })[RAN_ON];
    if (typeof w === 'string') return w;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The longest stack trace an {@link ItemFailure} keeps, in characters (a longer one is cut, marked with `…`). */
export const MAX_STACK = 4000;

/**
 * The option a {@link FailuresError}'s message names, as a program passes
 * it (`run(task, input, { maxFailures })`): `(maxFailures)` on its first
 * line. The CLI says `(--max-failures)` there instead (cli/report.ts).
 */
export const MAX_FAILURES_OPTION = 'maxFailures';

/**
 * The `collect` policy's limit was passed: more items failed than
 * `maxFailures` allows. Its message's first line names the option
 * ({@link MAX_FAILURES_OPTION}); the failed items follow, one a line.
 */
export class FailuresError extends FjError {
  readonly failures: readonly ItemFailure[];

  constructor(message: string, failures: readonly ItemFailure[]) {
    super(message, 'FJ_FAILURES', 1);
    this.failures = failures;
  }
}

/**
 * The eager executor's `checkLaws` found two groupings of the job's items
 * into batches whose outputs differ: the task's `combine` or `fold` is not
 * associative and commutative, or its `seed` is not their identity (see
 * the README's laws). Never crosses the wire.
 */
export class LawsError extends FjError {
  /** The two groupings that disagreed, described (`[0-3 5] [4] …`). */
  readonly groupings: readonly [string, string];
  /** Their outputs, in the same order. */
  readonly outputs: readonly [unknown, unknown];
  /** The seed of the random groupings: `checkLaws: { seed }` repeats them. */
  readonly seed: number;

  constructor(
    message: string,
    groupings: readonly [string, string],
    outputs: readonly [unknown, unknown],
    seed: number,
  ) {
    super(message, 'FJ_LAWS', 1);
    this.groupings = groupings;
    this.outputs = outputs;
    this.seed = seed;
  }
}

/**
 * The job passed a limit set so that its coordinator does not run out of
 * memory (`maxResults`: the most results it holds for `join`). The message
 * names the limit and how to raise it. Not retried: the same job passes it
 * again, on any coordinator.
 */
export class LimitError extends FjError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'FJ_LIMIT', 1, options);
  }
}

/** The job was cancelled: Ctrl-C, `fj cancel`, or the caller's `signal`. */
export class CancelledError extends FjError {
  constructor(message = 'job cancelled', options?: ErrorOptions) {
    super(message, 'FJ_CANCELLED', 130, options);
  }
}

/**
 * A pipeline stopped: one of its stages failed, or it was cancelled while a
 * stage ran. `cause` is the stage's own error; the exit code is that error's
 * (130 for a cancel). When the pipeline has an on-error stage, it has run by
 * the time this is thrown: `onErrorFailure` is its own error if it failed too.
 */
export class PipelineError extends FjError {
  /** The pipeline's name. */
  readonly pipeline: string;
  /** The stage that failed or was running: its number (1 for the first), name and task. */
  readonly stage: { number: number; name: string; task: string };
  /** The on-error stage's own error, when it failed as well (it is never retried as a pipeline). */
  readonly onErrorFailure: unknown;

  constructor(
    message: string,
    exitCode: number,
    details: { pipeline: string; stage: { number: number; name: string; task: string }; onErrorFailure?: unknown },
    options?: ErrorOptions,
  ) {
    super(message, 'FJ_PIPELINE', exitCode, options);
    this.pipeline = details.pipeline;
    this.stage = details.stage;
    this.onErrorFailure = details.onErrorFailure;
  }
}

/** Options of a {@link TransportError}. */
export interface TransportErrorOptions extends ErrorOptions {
  /**
   * Whether an amqp job stopped by this error can be finished later with
   * `fj resume`. Default true: the broker or store was lost while the job
   * ran, and its results queue and data wait for it. False when nothing was
   * lost but something refused, so waiting will not help and there may be
   * nothing to resume: the first connection failed (a wrong password, not an
   * AMQP server, no broker there), or the store refused the data (full,
   * read-only, not ours, bytes that do not match their hash).
   */
  resumable?: boolean;
}

/** The broker or the payload store failed or refused something. */
export class TransportError extends FjError {
  /** See {@link TransportErrorOptions.resumable}. */
  readonly resumable: boolean;

  constructor(message: string, options: TransportErrorOptions = {}, code = 'FJ_TRANSPORT') {
    super(message, code, 3, 'cause' in options ? { cause: options.cause } : undefined);
    this.resumable = options.resumable ?? true;
  }
}

/**
 * Whether `err` stopped an amqp job in a way `fj resume` can finish, so its
 * results queue and data are kept: a TransportError that says so (the broker
 * or store lost while the job ran), or an InternalError (fj's own fault, e.g.
 * items left without a result: nothing is thrown away on a bug).
 */
export function isResumable(err: unknown): boolean {
  return (isInstance(err, TransportError) && err.resumable) || isInstance(err, InternalError);
}

/** A store ref or record with no data behind it (never stored, or its job was deleted): the store works, the data is not there. */
export class NotFoundError extends TransportError {
  constructor(message: string, options?: TransportErrorOptions) {
    super(message, options, 'FJ_NOT_FOUND');
  }
}

/** A worker refused the job's items: it runs other code for the task, or does not serve it. Not retried. */
export class WorkerRefusedError extends FjError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'FJ_WORKER_REFUSED', 1, options);
  }
}

/** A bug in fj, or a state it cannot get out of (items that nothing will answer). */
export class InternalError extends FjError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'FJ_INTERNAL', 1, options);
  }
}

/** A wait ran out of time (`fj result --timeout`, `JobHandle.result({ timeoutMs })`); the job itself goes on. */
export class TimeoutError extends FjError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'FJ_TIMEOUT', 124, options);
  }
}

/** The job had already ended (`fj cancel` of a succeeded, failed or cancelled job): nothing was changed. */
export class JobEndedError extends FjError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'FJ_ENDED', 4, options);
  }
}

/**
 * Every documented code and the class that rebuilds it from a message alone
 * (classes that carry more, `CodecError`, `TaskError`, `InputError` and
 * `FailuresError`, are rebuilt with their fields in core/wire-error.ts).
 */
export const errorClasses = {
  FJ_USAGE: UsageError,
  FJ_TRANSPORT: TransportError,
  FJ_NOT_FOUND: NotFoundError,
  FJ_CANCELLED: CancelledError,
  FJ_WORKER_REFUSED: WorkerRefusedError,
  FJ_UNRECOVERABLE: UnrecoverableError,
  FJ_INTERNAL: InternalError,
  FJ_TIMEOUT: TimeoutError,
  FJ_ENDED: JobEndedError,
  FJ_LIMIT: LimitError,
} as const satisfies Record<string, new (message: string) => FjError>;
