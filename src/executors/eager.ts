/**
 * The eager executor: every item in this thread, one at a time, in order.
 * Items and results still make the codec round trip, so a task that passes
 * its eager tests does not break on the wire. A hook's exception surfaces as a
 * TaskError whose `cause` is the original error, original stack included.
 */
import { encode, decode } from '../codec.js';
import { createLogger } from '../log.js';
import { loadServices, TaskRuntime } from '../worker/runtime.js';
import type { Executor, JobPlan } from './executor.js';

export class EagerExecutor implements Executor {
  async map(plan: JobPlan): Promise<unknown[]> {
    const { task, items, counters } = plan;
    const services = await loadServices(plan.options.services, 'eager');
    try {
      const runtime = new TaskRuntime(task, plan.params, services.value, createLogger(task.name, plan.options.logLevel));
      const results: unknown[] = [];
      for (;;) {
        plan.signal.throwIfAborted();
        const batch = await items.take(64);
        if (batch.length === 0) break;
        const first = items.index - batch.length;
        for (let i = 0; i < batch.length; i++) {
          const index = first + i;
          const itemBytes = encode(batch[i], { task: task.name, hook: 'setup', index });
          const result = await runtime.processItem(decode(itemBytes), index, plan.signal);
          results.push(decode(encode(result, { task: task.name, hook: 'process', index })));
          counters.items++;
          plan.progress(1);
        }
      }
      return results;
    } finally {
      await services.close();
    }
  }
}
