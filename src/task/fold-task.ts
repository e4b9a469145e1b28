/**
 * `FoldTask`: a task whose items fold into one accumulator per batch, the
 * shape of Java's `Collector` (supplier, accumulator, combiner, finisher),
 * Spark's `aggregate` and Ray's `AggregateFn`: `seed` makes a fresh
 * accumulator for each batch, `fold` adds one item to it, `combine` merges
 * accumulators and `join` finishes. No partial result per item is ever
 * built, sent or merged.
 */
import { TaskBase } from './fork-join-task.js';
import type { CombineContext, JoinContext, MaybePromise, ProcessContext, SeedContext } from './types.js';

/**
 * The base class of a task that folds its items (see the README's "Fold a
 * batch into one accumulator"):
 *
 * ```ts
 * export default class WordCount extends FoldTask<Input, string, Counts, Output, { delimiter: string }> {
 *   static schema = 'wordcount';
 *   static params = ['delimiter'];
 *   setup(input: Input) { return input.documents; }
 *   seed(): Counts { return Object.create(null); }                  // a fresh accumulator per batch
 *   fold(acc: Counts, doc: string, { delimiter }) { ...; return acc; } // may mutate and return acc
 *   combine(accs: Counts[]) { return sum(accs); }                  // merges accumulators
 *   join(accs: Counts[]) { return { word_count: sortedByKey(sum(accs)) }; }
 * }
 * ```
 *
 * The laws (check them with the eager executor's `checkLaws` option): for
 * any accumulators `a`, `b`, `c` and item `x`,
 * - identity: `combine([seed(p), a])` equals `a`;
 * - associativity: `combine([combine([a, b]), c])` equals `combine([a, combine([b, c])])`;
 * - commutativity: `combine([a, b])` equals `combine([b, a])`;
 * - fold agrees with combine: `fold(a, x)` equals `combine([a, fold(seed(p), x)])`;
 * so that `join` gives the same output however fj groups the items into
 * batches (a retried item is folded alone into a seed of its own, and
 * merged after items that came later).
 *
 * A task extends either this class or {@link ForkJoinTask}: tsc rejects a
 * `FoldTask` without `seed`, `fold` or `combine`, or with a `process`.
 *
 * @typeParam Input - the validated input (schema defaults applied).
 * @typeParam Item - one unit of work, yielded by `setup`, folded by `fold`.
 * @typeParam Acc - the accumulator: what `seed`, `fold` and `combine` return and `join` receives. Plain data (it crosses threads and hosts).
 * @typeParam Output - what `join` returns: the job's output.
 * @typeParam Params - the metadata bound into `seed`, `fold`, `combine` and `join`.
 * @typeParam Services - what the services module builds (`ctx.services`).
 */
export abstract class FoldTask<
  Input = unknown,
  Item = unknown,
  Acc = unknown,
  Output = unknown,
  Params extends object = Record<string, never>,
  Services = unknown,
> extends TaskBase<Input, Item, Acc, Output, Params, Services> {
  /**
   * A fresh, empty accumulator: one per batch, in the worker, before its
   * first item. Must return a new value each call (fold may mutate it), and
   * be the identity of `combine`. If it throws, every item of the batch
   * fails an attempt (`TaskError` of hook `seed`).
   */
  abstract seed(params: Params, ctx: SeedContext<Services>): Acc;

  /**
   * Folds one item into `acc` and returns the accumulator: `acc` itself,
   * updated in place (the fast way), or a new value. Runs in the worker,
   * items of a batch in index order. If it throws, the accumulator may be
   * half updated: fj throws it away, folds the batch's other items again
   * into a fresh seed (uncharged), and charges only this item an attempt (it
   * is retried alone, in a seed of its own). The item timeout covers it.
   */
  abstract fold(acc: Acc, item: Item, params: Params, ctx: ProcessContext<Services>): MaybePromise<Acc>;

  /**
   * Merges two or more accumulators into one (fj calls it only with two or
   * more; it may reuse the first). Associative and commutative, with `seed`
   * as its identity. `join` usually calls it on the accumulators it gets.
   */
  abstract override combine(accs: Acc[], params: Params, ctx: CombineContext<Services>): MaybePromise<Acc>;

  /**
   * Finishes: turns the accumulators of the job's batches (in order of each
   * one's first item; failed items left out) into the output. Runs once, on
   * the submitting side.
   */
  abstract override join(accs: Acc[], params: Params, ctx: JoinContext<Services>): MaybePromise<Output>;

  /** Not a hook of this class: a task with `process` extends `ForkJoinTask` (tsc rejects a `process` here). */
  declare readonly process?: never;
}
