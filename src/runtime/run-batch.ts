/**
 * How a batch's items run, wherever they run: the eager executor's own
 * thread (inline transport) and every worker thread (local executor and
 * `fj worker`) call this one function.
 *
 * - Items run one after another, in order; each result is checked for the
 *   wire (unless the task combines: then `combine`'s output is).
 * - A failed item is reported by position and the others still run; once
 *   the batch's signal is aborted (cancelled), the items not yet started
 *   fail with the cancellation instead of running.
 * - With `concurrency` above 1 (a task's `static concurrency`,
 *   `itemConcurrency`), up to that many items of the batch are in flight at
 *   once: for hooks that await I/O. Results still land by position, and
 *   `combine` still gets the partials in item order.
 * - With `combine`, the successful items' results are merged into one; a
 *   lone result is only checked. If `combine` throws, every one of those
 *   items fails with its error.
 * - A `FoldTask`'s batch folds into one accumulator instead: see fold-batch.ts.
 */
import { setMaxListeners } from 'node:events';
import { CancelledError } from '../core/errors.js';
import { abortFlag, type AbortFlag } from './abort-flag.js';
import { foldBatch } from './fold-batch.js';
import { raceTimeout } from './item-timeout.js';
import type { TaskRuntime } from './task-runtime.js';

/** An item of a batch that failed, by position in the batch. */
export interface PositionFailed {
  i: number;
  error: unknown;
}

/** What a batch produced. */
export interface BatchOutcome {
  /** `results[i]`: item `i`'s result (after `hooks.map`), undefined where it failed; empty when the task combines. */
  results: unknown[];
  failures: PositionFailed[] | undefined;
  /** With `combine`: the positions merged (ascending) and their merged result; absent when none succeeded. */
  merged?: { ok: number[]; value: unknown };
}

/** What a caller adds around the items. */
export interface RunBatchHooks {
  /** Called as item `i` starts (a worker thread records it for its pool's watchdog). */
  onItem?(i: number): void;
  /** Called as soon as item `i` has failed (the batch goes on). */
  onFailed?(i: number, error: unknown): void;
  /** Called when the last `process` call has settled, before `combine`. */
  onItemsDone?(): void;
  /** Applied to each successful result of a task without `combine` (a worker thread encodes them one by one). */
  map?(value: unknown, i: number): unknown;
  /**
   * Fails an item still running after this many ms (its `ctx.signal` is
   * aborted too). For the inline transport, where a hook cannot be stopped
   * any other way; worker threads are stopped by their pool instead.
   */
  raceTimeoutMs?: number;
  /** Items in flight at once (default 1: one after another). */
  concurrency?: number;
  /** Called when item `i` has settled (with `concurrency`: a worker thread keeps its in-flight set). */
  onItemEnd?(i: number): void;
}

/** Runs `items` (decoded; item `i` has index `first + i`) with `runtime`. */
export async function runBatch(
  runtime: TaskRuntime,
  items: readonly unknown[],
  first: number,
  signal: AbortSignal,
  hooks: RunBatchHooks = {},
): Promise<BatchOutcome> {
  if (runtime.folds) return { results: [], ...(await foldBatch(runtime, items, first, signal, hooks)) };
  const combines = runtime.combines;
  const results = new Array<unknown>(combines ? 0 : items.length);
  const partials: unknown[] = [];
  const ok: number[] = [];
  let failures: PositionFailed[] | undefined;
  if ((hooks.concurrency ?? 1) > 1 && items.length > 1) {
    const out = await runConcurrently(runtime, items, first, signal, hooks);
    failures = out.failures;
    for (const [i, value] of out.values) {
      if (combines) {
        ok.push(i);
        partials.push(value);
      } else results[i] = value;
    }
  } else {
    // Synchronous while every `process` returns at once (the hot loop stays a plain function,
    // which V8 optimizes quickly); an item whose `process` returns a promise is awaited here.
    const p: SeqState = {
      runtime,
      items,
      first,
      signal,
      hooks,
      combines,
      cancelled: abortFlag(signal),
      i: 0,
      results,
      partials,
      ok,
      failures: undefined,
    };
    try {
      for (let pending = runSeq(p); pending; pending = runSeq(p)) {
        try {
          settled(p, await pending);
        } catch (err) {
          itemFailed(p, err);
        }
        p.i++;
      }
    } finally {
      p.cancelled.done();
    }
    failures = p.failures;
  }
  hooks.onItemsDone?.();
  if (!combines || ok.length === 0) return { results, failures };
  try {
    let value: unknown;
    if (ok.length === 1) value = runtime.checked(partials[0], first + ok[0]);
    else {
      const r = runtime.combine(partials, first + ok[0], signal);
      value = r instanceof Promise ? await r : r;
    }
    return { results, failures, merged: { ok, value } };
  } catch (err) {
    const all = [...(failures ?? []), ...ok.map((i) => ({ i, error: err }))].sort((a, b) => a.i - b.i);
    return { results, failures: all };
  }
}

/** A batch in progress, one item after another: the position `i` it is at, and what it produced so far. */
interface SeqState {
  readonly runtime: TaskRuntime;
  readonly items: readonly unknown[];
  readonly first: number;
  readonly signal: AbortSignal;
  readonly hooks: RunBatchHooks;
  readonly combines: boolean;
  readonly cancelled: AbortFlag;
  i: number;
  readonly results: unknown[];
  readonly partials: unknown[];
  readonly ok: number[];
  failures: PositionFailed[] | undefined;
}

/**
 * Runs `items[p.i...]` one after another; returns at the end (undefined), or
 * the promise of the first `process` that returns one (`p.i` at its item).
 * Once the signal has aborted, the items left fail with the cancellation
 * (the rest would be thrown away).
 */
function runSeq(p: SeqState): Promise<unknown> | undefined {
  const { runtime, items, first, hooks } = p;
  for (; p.i < items.length; p.i++) {
    if (p.cancelled.aborted) {
      const error: unknown = p.signal.reason ?? new CancelledError();
      for (; p.i < items.length; p.i++) (p.failures ??= []).push({ i: p.i, error });
      return undefined;
    }
    const i = p.i;
    hooks.onItem?.(i);
    try {
      const r = hooks.raceTimeoutMs
        ? raceTimeout(runtime, 'process', first + i, p.signal, hooks.raceTimeoutMs, (s) =>
            runtime.processItem(items[i], first + i, s),
          )
        : runtime.processItem(items[i], first + i, p.signal);
      if (r instanceof Promise) return r;
      settled(p, r);
    } catch (err) {
      itemFailed(p, err);
    }
  }
  return undefined;
}

/** Item `p.i` returned `value`: a partial for `combine`, or its result (after `hooks.map`). */
function settled(p: SeqState, value: unknown): void {
  if (p.combines) {
    p.ok.push(p.i);
    p.partials.push(value);
  } else p.results[p.i] = p.hooks.map ? p.hooks.map(value, p.i) : value;
}

/** Item `p.i` failed; the batch goes on. */
function itemFailed(p: SeqState, err: unknown): void {
  (p.failures ??= []).push({ i: p.i, error: err });
  p.hooks.onFailed?.(p.i, err);
}

/**
 * Items in `hooks.concurrency` lanes, each taking the next item not yet
 * started; once `signal` aborts, the items not yet started fail with the
 * cancellation. Returns the successes in item order (mapped, unless the task
 * combines) and the failures in item order.
 */
async function runConcurrently(
  runtime: TaskRuntime,
  items: readonly unknown[],
  first: number,
  signal: AbortSignal,
  hooks: RunBatchHooks,
): Promise<{ values: [number, unknown][]; failures: PositionFailed[] | undefined }> {
  const values: [number, unknown][] = [];
  const failures: PositionFailed[] = [];
  const lanes = Math.min(hooks.concurrency ?? 1, items.length);
  // Every item (its hook, and its timeout) may listen to the batch's signal, which ends with the batch: not a leak.
  setMaxListeners(2 * items.length + 10, signal);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      if (signal.aborted) {
        failures.push({ i, error: signal.reason ?? new CancelledError() });
        continue;
      }
      hooks.onItem?.(i);
      try {
        const value = await (hooks.raceTimeoutMs
          ? raceTimeout(runtime, 'process', first + i, signal, hooks.raceTimeoutMs, (s) =>
              runtime.processItem(items[i], first + i, s),
            )
          : runtime.processItem(items[i], first + i, signal));
        values.push([i, runtime.combines || !hooks.map ? value : hooks.map(value, i)]);
      } catch (err) {
        failures.push({ i, error: err });
        hooks.onFailed?.(i, err);
      } finally {
        hooks.onItemEnd?.(i);
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  values.sort((a, b) => a[0] - b[0]);
  failures.sort((a, b) => a.i - b.i);
  return { values, failures: failures.length ? failures : undefined };
}
