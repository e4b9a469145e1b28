/**
 * The eager executor: every item in this thread, one at a time, in order.
 * Items and results still make the codec round trip, so a task that passes
 * its eager tests does not break on the wire. A hook's exception surfaces as a
 * TaskError whose `cause` is the original error, original stack included.
 * Retries and the failure policy apply as on the other executors; an item
 * timeout can only abort `ctx.signal` here (a loop that never yields cannot
 * be stopped in this thread), so the attempt ends when the hook gives way.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { encode, decode } from '../codec.js';
import { TaskError } from '../errors.js';
import { createLogger } from '../log.js';
import { loadServices, TaskRuntime } from '../worker/runtime.js';
import type { Executor, JobPlan } from './executor.js';

export class EagerExecutor implements Executor {
  async map(plan: JobPlan): Promise<void> {
    const { task, items, ledger, options } = plan;
    const services = await loadServices(options.services, 'eager');
    try {
      const runtime = new TaskRuntime(task, plan.params, services.value, createLogger(task.name, options.logLevel));
      const attempt = async (item: unknown, index: number): Promise<unknown> => {
        if (!options.itemTimeoutMs) return runtime.processItem(decode(encode(item, { task: task.name, hook: 'setup', index })), index, plan.signal);
        const timeout = AbortSignal.timeout(options.itemTimeoutMs);
        const signal = AbortSignal.any([plan.signal, timeout]);
        const timedOut = new Promise<never>((_, reject) =>
          timeout.addEventListener('abort', () => reject(new TaskError({ task: task.name, hook: 'process', index }, new Error(`timed out after ${options.itemTimeoutMs} ms`))), { once: true }),
        );
        timedOut.catch(() => {});
        return Promise.race([runtime.processItem(decode(encode(item, { task: task.name, hook: 'setup', index })), index, signal), timedOut]);
      };
      /** A failed attempt of `index`: true when it is to be tried again (after its backoff). */
      const failed = async (index: number, err: unknown): Promise<boolean> => {
        const verdict = ledger.fail(index, err, items.total);
        if (!verdict.retry) return false;
        plan.log.warn(`${(err as Error).message}; attempt ${verdict.attempt} in ${verdict.delayMs} ms`);
        await sleep(verdict.delayMs, undefined, { signal: plan.signal });
        return true;
      };
      const combines = runtime.combines;
      for (;;) {
        plan.signal.throwIfAborted();
        const batch = await items.take(64);
        if (batch.length === 0) break;
        const first = items.index - batch.length;
        // With `combine`, the batch's results are merged as a worker thread
        // would merge them; if `combine` fails, its items are attempted again.
        let pending = batch.map((_, i) => first + i);
        while (pending.length) {
          const ok: number[] = [];
          const values: unknown[] = [];
          for (const index of pending) {
            for (;;) {
              try {
                const result = await attempt(batch[index - first], index);
                if (combines) {
                  ok.push(index);
                  values.push(result);
                } else {
                  ledger.record(index, decode(encode(result, { task: task.name, hook: 'process', index })));
                  plan.progress(1);
                }
                break;
              } catch (err) {
                if (!(await failed(index, err))) break;
              }
            }
          }
          pending = [];
          if (ok.length === 0) break;
          try {
            const merged = ok.length === 1 ? runtime.checked(values[0], ok[0]) : await runtime.combine(values, ok[0], plan.signal);
            ledger.recordGroup(ok, decode(encode(merged, { task: task.name, hook: ok.length === 1 ? 'process' : 'combine', index: ok[0] })));
            plan.progress(ok.length);
          } catch (err) {
            // Every item of the batch failed an attempt, each with its own copy of the error
            // (the ledger adds "(after N attempts)" to it); one wait, then the retries.
            let delayMs = 0;
            for (const index of ok) {
              const verdict = ledger.fail(index, copyError(err), items.total);
              if (!verdict.retry) continue;
              pending.push(index);
              delayMs = Math.max(delayMs, verdict.delayMs);
            }
            if (pending.length) {
              plan.log.warn(`${(err as Error).message}; ${pending.length} item(s) to retry in ${delayMs} ms`);
              await sleep(delayMs, undefined, { signal: plan.signal });
            }
          }
        }
      }
    } finally {
      await services.close();
    }
  }
}

/** A copy of an error (same class, message, stack and fields), so each item's failure can be amended alone. */
function copyError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const copy = Object.create(Object.getPrototypeOf(err) as object) as Error;
  for (const key of Object.getOwnPropertyNames(err)) Object.defineProperty(copy, key, Object.getOwnPropertyDescriptor(err, key)!);
  return copy;
}
