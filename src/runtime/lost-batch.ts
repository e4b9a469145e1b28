/**
 * What runs again after a batch is lost with its thread (see
 * {@link BatchLost}), written once for the two places that run items on
 * threads and must recover: the dispatcher (its threads transport) and the
 * `fj worker` application's message runner. Each keeps its own transport's
 * part (how a charged item is reported, whether to wait for a fresh thread);
 * the rule itself is here:
 *
 * - a `culprit` (the one item the thread was running) is charged an attempt,
 *   and the items before and after it run again, uncharged;
 * - `suspects` (several items were in flight, item concurrency: any of them
 *   may have killed the thread) charge none: each suspect runs again alone,
 *   so a crash that repeats names its item, and the items before and after
 *   them run again as they were;
 * - with neither (the batch had not started), everything runs again.
 */

/**
 * A batch lost with its thread. `culprit` is the index of the item the thread
 * was running (undefined when the batch had not started: every item in it is
 * innocent); items before it had finished, but their results died too.
 * With item concurrency, when several items were in flight, `culprit` is
 * undefined and `suspects` spans them (`from`..`to`, indices): any of them
 * may have killed the thread; the caller charges none and runs each again
 * alone, so a crash that repeats names its item. What runs again, and which
 * item is charged, is {@link afterLoss}'s to say.
 */
export class BatchLost extends Error {
  constructor(
    readonly culprit: number | undefined,
    readonly reason: string,
    readonly suspects?: { from: number; to: number },
  ) {
    super(
      culprit !== undefined
        ? `item ${culprit}: ${reason}`
        : suspects
          ? `one of items ${suspects.from}..${suspects.to}: ${reason}`
          : reason,
    );
    this.name = 'BatchLost';
  }
}

/** Consecutive items of a job: the index of the first, and the items (values or their bytes). */
export interface ItemRun<T> {
  first: number;
  values: T[];
}

/** What becomes of one run of a lost batch's unanswered items. */
export interface AfterLoss<T> {
  /** What runs again, uncharged, in index order. */
  again: ItemRun<T>[];
  /** The item charged with the loss, when the culprit is one of the run's items. */
  charged?: { index: number; value: T };
}

/**
 * Splits `run` (unanswered items of a lost batch) by the loss's `culprit` and
 * `suspects` (job indices): see the module header for the rule. A culprit or
 * suspects outside `run` leave it whole.
 */
export function afterLoss<T>(run: ItemRun<T>, loss: Pick<BatchLost, 'culprit' | 'suspects'>): AfterLoss<T> {
  const { culprit, suspects } = loss;
  const end = run.first + run.values.length;
  const slice = (from: number, to: number): ItemRun<T> => ({
    first: from,
    values: run.values.slice(from - run.first, to - run.first),
  });
  if (suspects) {
    const lo = Math.max(run.first, suspects.from);
    const hi = Math.min(end, suspects.to + 1);
    if (lo >= hi) return { again: [run] };
    const again: ItemRun<T>[] = [];
    if (lo > run.first) again.push(slice(run.first, lo));
    for (let i = lo; i < hi; i++) again.push(slice(i, i + 1));
    if (hi < end) again.push(slice(hi, end));
    return { again };
  }
  if (culprit === undefined || !Number.isSafeInteger(culprit) || culprit < run.first || culprit >= end)
    return { again: [run] };
  const again: ItemRun<T>[] = [];
  if (culprit > run.first) again.push(slice(run.first, culprit));
  if (culprit + 1 < end) again.push(slice(culprit + 1, end));
  return { again, charged: { index: culprit, value: run.values[culprit - run.first] } };
}
