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
import { CancelledError, TaskError } from '../errors.js';
import { abortFlag } from './abort-flag.js';
import type { TaskRuntime } from './runtime.js';

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
export async function foldBatch(runtime: TaskRuntime, items: readonly unknown[], first: number, signal: AbortSignal, hooks: FoldHooks): Promise<FoldOutcome> {
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
  const ok: number[] = [];
  let broken = false;
  let acc = runtime.seed(first + (positions[0] ?? 0), signal);
  const cancelled = abortFlag(signal);
  for (let k = 0; k < positions.length; k++) {
    const i = positions[k];
    if (cancelled.aborted) {
      const error = signal.reason ?? new CancelledError();
      for (let r = k; r < positions.length; r++) fail(positions[r], error);
      break;
    }
    hooks.onItem?.(i);
    try {
      const timeoutMs = hooks.raceTimeoutMs;
      const r = timeoutMs ? raceTimeout(runtime, first + i, signal, timeoutMs, (s) => runtime.foldItem(acc, items[i], first + i, s)) : runtime.foldItem(acc, items[i], first + i, signal);
      acc = r instanceof Promise ? await r : r;
      ok.push(i);
    } catch (err) {
      fail(i, err);
      broken = true;
      // the items after this one go into a fresh accumulator, so none of them meets a broken one
      if (k + 1 < positions.length) acc = runtime.seed(first + positions[k + 1], signal);
    }
  }
  cancelled.done();
  return { ok, acc, broken };
}

/** `fold` for one item, failed after `timeoutMs` (its signal aborted) if it has not settled by then (the inline transport). */
function raceTimeout(runtime: TaskRuntime, index: number, outer: AbortSignal, timeoutMs: number, fold: (signal: AbortSignal) => unknown): Promise<unknown> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = AbortSignal.any([outer, timeout]);
  const timedOut = new Promise<never>((_, reject) =>
    timeout.addEventListener('abort', () => reject(new TaskError({ task: runtime.task.name, hook: 'fold', index }, new Error(`timed out after ${timeoutMs} ms`))), { once: true }),
  );
  timedOut.catch(() => {});
  return Promise.race([Promise.resolve().then(() => fold(signal)), timedOut]);
}
