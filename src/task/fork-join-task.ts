import type { CombineContext, ItemSource, JoinContext, MaybePromise, ProcessContext, SetupContext } from './types.js';

/**
 * What every task shares, whichever way it computes its partial results:
 * the static fields, `setup`, `params`, `combine` and `join`. A task extends
 * {@link ForkJoinTask} (`process`, one item at a time) or `FoldTask` (items
 * folded into one accumulator per batch), never this class directly.
 */
export abstract class TaskBase<
  Input = unknown,
  Item = unknown,
  Partial = unknown,
  Output = unknown,
  Params extends object = Record<string, never>,
  Services = unknown,
> {
  /** One line saying what the task does; shown by `fj tasks`, in logs and in errors. */
  static description = '';
  /**
   * The input's JSON schema: a name (`'wordcount'` finds
   * `schemas/wordcount.schema.json`, looking upward from the task's module),
   * or the schema object itself. Schemas are trusted code: ajv compiles them.
   */
  static schema: string | object | undefined = undefined;
  /**
   * Keys of the input bound into `process` and `join` as `params` (the
   * default {@link ForkJoinTask.params} picks them). Stored once per job.
   */
  static params: readonly string[] = [];
  /** The task's name; defaults to the module's file name, else the class name in lower case. */
  static taskName: string | undefined = undefined;
  /** The worker pool (RabbitMQ queue) this task's items go to by default. */
  static queue: string | undefined = undefined;
  /**
   * Attempts after an item's first failure (`--retries` overrides it).
   * Worth setting when `process` can fail for passing reasons (a flaky
   * service, a worker lost); a hook throws `UnrecoverableError` to skip them.
   */
  static retries = 0;
  /**
   * Items each thread runs at once (`--item-concurrency` overrides it), for a
   * `process` that awaits I/O: with 32, a thread keeps 32 items' requests in
   * flight. Item timeouts, `ctx.signal` and retries hold per item; results
   * keep their order. A CPU-bound `process` gains nothing. Default 1.
   */
  static concurrency = 1;
  /**
   * At most this many of the task's items started a second (`--rate-limit`
   * overrides it for a job), for a `process` that calls a service with a
   * quota: held on every executor, across all the workers of an amqp pool,
   * and shared by weight between the task's jobs running on the pool at the
   * same time. Default: none.
   */
  static rateLimit: number | undefined = undefined;
  /**
   * The task's module URL (`static module = import.meta.url`). Needed only
   * when the class is passed to `run()` directly and runs on the `local` or
   * `amqp` executor, whose workers must import the module themselves. Tasks
   * loaded by name or path know their module already.
   */
  static module: string | undefined = undefined;

  /** Splits the validated input into items. May be a generator (sync or async). */
  abstract setup(input: Input, ctx: SetupContext): MaybePromise<ItemSource<Item>>;

  /**
   * Optional: merges the partial results of several items into one partial
   * result, where they were computed — in the worker thread, per batch —
   * so a batch sends back one partial instead of one per item. `join` then
   * receives these merged partials (fewer of them) instead of one per item.
   *
   * Define it when partials merge naturally and shrink when merged (word
   * counts, sums, histograms, top-k). It must be *associative and
   * commutative*: fj groups results as batches happen to form, and a
   * retried item is merged in its own group, so `join` must give the same
   * output for any grouping, e.g. `join([combine([a, b]), c])` equals
   * `join([a, b, c])`. Usually `combine` is `join`'s merge step without its
   * finishing touches. (For a `FoldTask`, `combine` merges accumulators and
   * is required.) fj calls it only with two or more partials; if it
   * throws, every item of the batch fails an attempt
   * (`TaskError{hook: 'combine'}`). Define it as a method (fj looks for it
   * on the prototype, not on instance fields); the item timeout does not
   * cover it.
   */
  combine?(partials: Partial[], params: Params, ctx: CombineContext<Services>): MaybePromise<Partial>;

  /**
   * Reduces the partial results, in item order, into the output. Runs on the
   * submitting side. With {@link ForkJoinTask.combine}, `results` holds the
   * merged partials of groups of items (in order of their first item).
   */
  abstract join(results: Partial[], params: Params, ctx: JoinContext<Services>): MaybePromise<Output>;

  /**
   * Computes the params from the validated input. The default picks the keys
   * listed in `static params`. Override it to derive shared data once per job
   * (a lookup table, a parsed reference).
   */
  params(input: Input): MaybePromise<Params> {
    const keys = (this.constructor as typeof ForkJoinTask).params;
    const out: Record<string, unknown> = {};
    for (const key of keys) out[key] = (input as Record<string, unknown>)[key];
    return out as Params;
  }
}

/**
 * The base class of a task that processes its items one by one (a task that
 * folds them into one accumulator per batch extends `FoldTask`). Subclass
 * it, write the three hooks, and name a JSON schema:
 *
 * ```ts
 * export default class WordCount extends ForkJoinTask<Input, string, Counts, Output, { delimiter: string }> {
 *   static description = 'Count the words in a list of documents';
 *   static schema = 'wordcount';            // schemas/wordcount.schema.json
 *   static params = ['delimiter'] as const; // bound into process and join
 *   setup(input: Input) { return input.documents; }
 *   process(doc: string, { delimiter }: { delimiter: string }) { ... }
 *   join(counts: Counts[]) { ... }
 * }
 * ```
 *
 * @typeParam Input - the validated input (schema defaults applied).
 * @typeParam Item - one unit of work, yielded by `setup`, consumed by `process`.
 * @typeParam Partial - what `process` returns for one item.
 * @typeParam Output - what `join` returns: the job's output.
 * @typeParam Params - the metadata bound into `process` and `join`.
 * @typeParam Services - what the services module builds (`ctx.services`).
 */
export abstract class ForkJoinTask<
  Input = unknown,
  Item = unknown,
  Partial = unknown,
  Output = unknown,
  Params extends object = Record<string, never>,
  Services = unknown,
> extends TaskBase<Input, Item, Partial, Output, Params, Services> {
  /** Does the work of one item. Runs wherever the executor puts it. */
  abstract process(item: Item, params: Params, ctx: ProcessContext<Services>): MaybePromise<Partial>;

  /** Not a hook of this class: a task that folds extends `FoldTask` (tsc rejects a `seed` here). */
  declare readonly seed?: never;
  /** Not a hook of this class: a task that folds extends `FoldTask` (tsc rejects a `fold` here). */
  declare readonly fold?: never;
}

/** A concrete task class: what `run()` and the registry accept. */
export type TaskClass<T extends TaskBase<any, any, any, any, any, any> = TaskBase<any, any, any, any, any, any>> =
  (new () => T) & {
    description: string;
    schema: string | object | undefined;
    params: readonly string[];
    taskName: string | undefined;
    queue: string | undefined;
    retries?: number;
    concurrency?: number;
    rateLimit?: number;
    module: string | undefined;
    name: string;
  };

/** The input type of a task class (`InputOf<typeof WordCount>`) or of its instances (`InputOf<WordCount>`). */
export type InputOf<T> = T extends abstract new () => infer X
  ? InputOf<X>
  : T extends TaskBase<infer I, any, any, any, any, any>
    ? I
    : never;
/** The output type of a task class (`OutputOf<typeof WordCount>`) or of its instances (`OutputOf<WordCount>`). */
export type OutputOf<T> = T extends abstract new () => infer X
  ? OutputOf<X>
  : T extends TaskBase<any, any, any, infer O, any, any>
    ? O
    : never;

/** The item type of a task class (`ItemOf<typeof Align>`) or of its instances. */
export type ItemOf<T> = T extends abstract new () => infer X
  ? ItemOf<X>
  : T extends TaskBase<any, infer I, any, any, any, any>
    ? I
    : never;
/** The per-item result type of a task class (what its `process` returns, or a FoldTask's accumulator) or of its instances. */
export type PartialOf<T> = T extends abstract new () => infer X
  ? PartialOf<X>
  : T extends TaskBase<any, any, infer P, any, any, any>
    ? P
    : never;

/**
 * True when `value` looks like a task class. A structural check rather than
 * `instanceof`, so a task compiled against another copy of fj still loads.
 */
export function isTaskClass(value: unknown): value is TaskClass {
  if (typeof value !== 'function') return false;
  const proto = (value as { prototype?: Record<string, unknown> }).prototype;
  if (!proto || typeof proto.setup !== 'function' || typeof proto.join !== 'function') return false;
  return typeof proto.process === 'function' || typeof proto.fold === 'function';
}

/** Any task instance, whatever its type parameters (what fj itself handles). */
export type AnyTask = TaskBase<unknown, unknown, unknown, unknown, object, unknown>;

/**
 * Why a task class's hooks do not fit together (for JavaScript tasks, which
 * tsc never checked), or undefined when they do: a task has either
 * `process` (and maybe `combine`) or `seed`, `fold` and `combine`.
 */
export function hookShapeProblem(cls: TaskClass): string | undefined {
  const proto = cls.prototype as Record<string, unknown>;
  const has = (name: string) => typeof proto[name] === 'function';
  if (has('process') && (has('fold') || has('seed')))
    return 'it defines both process and fold/seed: a task either processes items one by one (ForkJoinTask) or folds them (FoldTask)';
  if (!has('process') && !(has('fold') && has('seed') && has('combine'))) {
    const missing = ['seed', 'fold', 'combine'].filter((n) => !has(n));
    return `it folds but has no ${missing.join(', ')}: a FoldTask needs seed, fold and combine`;
  }
  return undefined;
}
