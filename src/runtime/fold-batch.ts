/**
 * How a `FoldTask`'s batch runs (runBatch hands it here): one `seed` per
 * batch, then each item folded into it, in order; the batch answers with one
 * accumulator for the items that succeeded (`merged`).
 *
 * Exactly once, though `fold` may mutate its accumulator: an item whose fold
 * throws may have half updated it, so that accumulator is thrown away; the
 * items after it are folded into a fresh seed (so an innocent item never
 * sees a broken accumulator), and once the pass is over every item that
 * succeeded is folded again, in one pass, into a fresh seed (uncharged). The
 * failed item is reported by position and charged an attempt; the
 * dispatcher retries it alone. A `seed` that throws fails every item of the
 * batch. Once the batch's signal is aborted (cancelled), the items not yet
 * folded fail with the cancellation.
 */
import { CancelledError } from '../core/errors.js';
import { abortFlag, type AbortFlag } from './abort-flag.js';
import { raceTimeout } from './item-timeout.js';
import type { TaskRuntime } from './task-runtime.js';

/** What a fold uses of runBatch's hooks (RunBatchHooks; `map` does not apply: there is one result). */
export interface FoldHooks {
  onItem?(i: number): void;
  onFailed?(i: number, error: unknown): void;
  onItemsDone?(): void;
  raceTimeoutMs?: number;
}

/** What a folded batch produced (runBatch's BatchOutcome, less the per-item results). */
export interface FoldOutcome {
  /** Failed items by position, ascending. */
  failures: { i: number; error: unknown }[] | undefined;
  /** The positions folded (ascending) and their accumulator; absent when none succeeded. */
  merged?: { ok: number[]; value: unknown };
}

/** Folds `items` (item `i` has index `first + i`) into one accumulator with `runtime`'s task. */
export async function foldBatch(
  runtime: TaskRuntime,
  items: readonly unknown[],
  first: number,
  signal: AbortSignal,
  hooks: FoldHooks,
): Promise<FoldOutcome> {
  const failures: { i: number; error: unknown }[] = [];
  const fail = (i: number, error: unknown) => {
    failures.push({ i, error });
    hooks.onFailed?.(i, error);
  };
  let positions = items.map((_, i) => i);
  let pass: Pass;
  try {
    pass = await foldPass(runtime, items, positions, first, signal, hooks, fail);
    // A failure broke an accumulator: fold the survivors again, until a pass has no failure
    // (one more pass when `fold` is deterministic). Each pass has fewer items than the one before.
    while (pass.broken) {
      positions = pass.ok;
      pass = await foldPass(runtime, items, positions, first, signal, hooks, fail);
    }
  } catch (err) {
    // `seed` threw: no accumulator, so every item not yet failed fails with its error
    hooks.onItemsDone?.();
    const failed = new Set(failures.map((f) => f.i));
    for (const i of positions) if (!failed.has(i)) fail(i, err);
    return { failures: failures.sort((a, b) => a.i - b.i) };
  }
  hooks.onItemsDone?.();
  const sorted = failures.length ? failures.sort((a, b) => a.i - b.i) : undefined;
  if (pass.ok.length === 0) return { failures: sorted };
  try {
    return { failures: sorted, merged: { ok: pass.ok, value: runtime.checkedAcc(pass.acc, first + pass.ok[0]) } };
  } catch (err) {
    const all = [...(sorted ?? []), ...pass.ok.map((i) => ({ i, error: err }))].sort((a, b) => a.i - b.i);
    return { failures: all };
  }
}

/** One pass over some of a batch's items. */
interface Pass {
  /** Positions folded without error, ascending. */
  ok: number[];
  /** Their accumulator, when the pass is not `broken`. */
  acc: unknown;
  /** Whether an item failed during the pass (the accumulators of its items were thrown away). */
  broken: boolean;
}

/** Folds the items at `positions` into a fresh seed; after a failure, into another fresh one. */
async function foldPass(
  runtime: TaskRuntime,
  items: readonly unknown[],
  positions: readonly number[],
  first: number,
  signal: AbortSignal,
  hooks: FoldHooks,
  fail: (i: number, error: unknown) => void,
): Promise<Pass> {
  const p: PassState = {
    runtime,
    items,
    positions,
    first,
    signal,
    hooks,
    fail,
    cancelled: abortFlag(signal),
    k: 0,
    acc: undefined,
    ok: [],
    broken: false,
  };
  try {
    p.acc = runtime.seed(first + (positions[0] ?? 0), signal);
    // Synchronous while every `fold` returns at once (the hot loop stays a plain function,
    // which V8 optimizes quickly); an item whose `fold` returns a promise is awaited here.
    for (let pending = foldRun(p); pending; pending = foldRun(p)) {
      try {
        p.acc = await pending;
        p.ok.push(positions[p.k]);
      } catch (err) {
        failed(p, err);
      }
      p.k++;
    }
  } finally {
    p.cancelled.done();
  }
  return { ok: p.ok, acc: p.acc, broken: p.broken };
}

/** A pass in progress: its items, the position `k` it is at and its accumulator. */
interface PassState {
  readonly runtime: TaskRuntime;
  readonly items: readonly unknown[];
  readonly positions: readonly number[];
  readonly first: number;
  readonly signal: AbortSignal;
  readonly hooks: FoldHooks;
  readonly fail: (i: number, error: unknown) => void;
  readonly cancelled: AbortFlag;
  k: number;
  acc: unknown;
  ok: number[];
  broken: boolean;
}

/**
 * Folds `positions[p.k...]` one after another; returns at the end (undefined),
 * or the promise of the first `fold` that returns one (`p.k` at its item).
 * Once the signal has aborted, the items left fail with the cancellation.
 */
function foldRun(p: PassState): Promise<unknown> | undefined {
  const { runtime, items, positions, first, hooks } = p;
  for (; p.k < positions.length; p.k++) {
    const i = positions[p.k];
    if (p.cancelled.aborted) {
      const error: unknown = p.signal.reason ?? new CancelledError();
      for (; p.k < positions.length; p.k++) p.fail(positions[p.k], error);
      return undefined;
    }
    hooks.onItem?.(i);
    let r: unknown;
    try {
      const timeoutMs = hooks.raceTimeoutMs;
      r = timeoutMs
        ? raceTimeout(runtime, 'fold', first + i, p.signal, timeoutMs, (s) =>
            runtime.foldItem(p.acc, items[i], first + i, s),
          )
        : runtime.foldItem(p.acc, items[i], first + i, p.signal);
    } catch (err) {
      failed(p, err);
      continue;
    }
    if (r instanceof Promise) return r;
    p.acc = r;
    p.ok.push(i);
  }
  return undefined;
}

/** The item at `p.k` failed: charged, and the items after it go into a fresh accumulator, so none of them meets a broken one. */
function failed(p: PassState, err: unknown): void {
  p.fail(p.positions[p.k], err);
  p.broken = true;
  if (p.k + 1 < p.positions.length) p.acc = p.runtime.seed(p.first + p.positions[p.k + 1], p.signal);
}
