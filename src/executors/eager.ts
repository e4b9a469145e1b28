/**
 * The eager executor: every item in this thread, one at a time, in order
 * (the inline transport). For tests and debugging: a hook's exception
 * surfaces as a TaskError whose `cause` is the original error.
 */
import { Dispatcher } from '../dispatch/dispatcher.js';
import { InlineTransport } from '../transports/inline.js';
import type { Executor, JobPlan } from './executor.js';

export class EagerExecutor implements Executor {
  async map(plan: JobPlan): Promise<void> {
    await new Dispatcher(plan, new InlineTransport(plan)).run();
  }
}
