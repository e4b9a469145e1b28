/**
 * The eager executor: every item in this thread (the inline transport), one
 * batch at a time, its items started in order: one at a time, or up to
 * `itemConcurrency` (else the task's static `concurrency`) at once for a
 * `process` that awaits I/O. For tests and debugging: a hook's exception
 * surfaces as a TaskError whose `cause` is the original error.
 */
import { Dispatcher } from '../dispatch/dispatcher.js';
import { InlineTransport } from '../dispatch/transports/inline.js';
import type { Executor, JobPlan } from './executor.js';

export class EagerExecutor implements Executor {
  async map(plan: JobPlan): Promise<void> {
    await new Dispatcher(plan, new InlineTransport(plan)).run();
  }
}
