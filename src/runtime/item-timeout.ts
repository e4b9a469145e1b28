/**
 * An item's timeout where nothing else enforces it: the inline transport runs
 * hooks in the caller's thread, with no pool watchdog, so `runBatch` and
 * `foldBatch` race each item's hook against its timeout here.
 */
import { TaskError, type HookName } from '../core/errors.js';
import type { TaskRuntime } from './task-runtime.js';

/**
 * `call` (one item's `process` or `fold`) with a signal that aborts after
 * `timeoutMs`; fails then with a TaskError naming the hook and the item if it
 * has not settled.
 */
export function raceTimeout(
  runtime: TaskRuntime,
  hook: HookName,
  index: number,
  outer: AbortSignal,
  timeoutMs: number,
  call: (signal: AbortSignal) => unknown,
): Promise<unknown> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = AbortSignal.any([outer, timeout]);
  const timedOut = new Promise<never>((_, reject) =>
    timeout.addEventListener(
      'abort',
      () =>
        reject(new TaskError({ task: runtime.task.name, hook, index }, new Error(`timed out after ${timeoutMs} ms`))),
      { once: true },
    ),
  );
  timedOut.catch(() => {});
  return Promise.race([Promise.resolve().then(() => call(signal)), timedOut]);
}
