/**
 * Glossary — the words fj uses, in the order a job meets them.
 *
 * - **task**: a subclass of `ForkJoinTask` with three hooks (`setup`,
 *   `process`, `join`), a JSON schema for its input and a one-line
 *   description. Named by its module's file name (`tasks/wordcount.ts` is
 *   `wordcount`) or by `static taskName`.
 * - **job**: one run of a task on one input.
 * - **item**: one independent piece of work yielded by `setup`; `process`
 *   runs once per item. Items are numbered from 0 in the order `setup`
 *   yields them (the item *index*).
 * - **params**: metadata every item needs (a delimiter, a scoring scheme, a
 *   reference sequence), declared once by the task and bound into `process`
 *   and `join`. Params are the job's *shared context*: they are stored once
 *   per job and never copied into items.
 * - **partial result**: what `process` returns for one item. `join` receives
 *   all of them, in item order — or, when the task defines `combine`, the
 *   partials of each batch merged into one in the worker.
 * - **accumulator**: what a `FoldTask` folds a batch's items into, one per
 *   batch (`seed`, then `fold` per item); `combine` merges accumulators and
 *   `join` receives them, as it receives merged partials.
 * - **output**: what `join` returns; a pure function of the input.
 * - **executor**: where items run: `eager` (this thread, one at a time),
 *   `local` (worker threads) or `amqp` (`fj worker` processes via RabbitMQ).
 * - **pool**: the workers sharing one RabbitMQ work queue (`--queue`).
 * - **store**: the payload store holding large items, results and params,
 *   addressed by **ref** (a content hash).
 * - **services**: long-lived components (a database client, a loaded model)
 *   built once per worker by a services module and handed to hooks as
 *   `ctx.services`.
 */

import type { ItemFailure } from '../core/errors.js';

export type { Logger } from '../core/log.js';
import type { Logger } from '../core/log.js';

/** What `setup` may return: a list, any iterable, or an async iterable (generator). */
export type ItemSource<Item> = Iterable<Item> | AsyncIterable<Item>;

/** What a value or a promise of it looks like. */
export type MaybePromise<T> = T | Promise<T>;

/** Context handed to `setup`. */
interface BaseContext {
  /** Aborted when the job is cancelled or has already failed. */
  readonly signal: AbortSignal;
  readonly log: Logger;
}

/** Context handed to `setup`. */
export interface SetupContext extends BaseContext {
  /**
   * Says how many items `setup` will yield, when it returns a generator or
   * another iterable whose length fj cannot see: the progress bar then
   * shows a total, a percentage and an ETA. Only a hint, for display: the
   * job still ends when the iterable does (and the count it reached is what
   * counts). Call it before the first item is yielded. Throws a TypeError
   * for anything but a non-negative integer.
   */
  expectItems(count: number): void;
}

/** Context handed to `process` and `join`. */
interface HookContext<Services> extends BaseContext {
  /** Components built by the services module (`--services`), or `undefined`. */
  readonly services: Services;
}

/** Context handed to `join`. */
export interface JoinContext<Services = unknown> extends HookContext<Services> {
  /**
   * Items that failed for good, by index (only under the `collect` policy;
   * their results are missing from `results`). Empty when every item succeeded.
   */
  readonly failures: readonly ItemFailure[];
}

/** Context handed to `combine`. */
export interface CombineContext<Services = unknown> extends HookContext<Services> {
  /** Index of the first item whose partial is among those combined. */
  readonly index: number;
}

/** Context handed to `seed` (a `FoldTask`'s fresh accumulator for a batch). */
export interface SeedContext<Services = unknown> extends HookContext<Services> {
  /** Index of the batch's first item. */
  readonly index: number;
}

/** Context handed to `process` (and to a `FoldTask`'s `fold`). */
export interface ProcessContext<Services = unknown> extends HookContext<Services> {
  /** Index of this item: its position in the order `setup` yielded it. */
  readonly index: number;
}

/**
 * A services module's default export: builds long-lived components once per
 * worker (thread or process). The optional `close` of the returned object is
 * called when the worker stops.
 */
export type ServicesFactory<Services = unknown> = (info: { workerId: string }) => MaybePromise<Services>;
