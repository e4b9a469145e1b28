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
      for (;;) {
        plan.signal.throwIfAborted();
        const batch = await items.take(64);
        if (batch.length === 0) break;
        const first = items.index - batch.length;
        for (let i = 0; i < batch.length; i++) {
          const index = first + i;
          for (;;) {
            try {
              const result = await attempt(batch[i], index);
              ledger.record(index, decode(encode(result, { task: task.name, hook: 'process', index })));
              plan.progress(1);
              break;
            } catch (err) {
              const verdict = ledger.fail(index, err, items.total);
              if (!verdict.retry) break;
              plan.log.warn(`${(err as Error).message}; attempt ${verdict.attempt} in ${verdict.delayMs} ms`);
              await sleep(verdict.delayMs, undefined, { signal: plan.signal });
            }
          }
        }
      }
    } finally {
      await services.close();
    }
  }
}
