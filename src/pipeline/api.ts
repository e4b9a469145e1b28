/**
 * The pipeline functions `index.ts` re-exports that reach the cluster,
 * each loading its implementation on first call: importing fj, as every
 * task module and worker thread does, must not load amqplib.
 */
import type { JobHandle } from '../detached/handle.js';
import type { SubmitOptions } from '../detached/submit.js';
import type { Pipeline } from './pipeline.js';

/**
 * Submits a pipeline to the cluster and resolves to a handle of it at once
 * (`fj submit PIPELINE`): its input is validated against the first stage's
 * schema and stored, its first stage queued; each stage is a detached job of
 * its own, and the worker that ends one queues the next (or the on-error
 * stage). The handle's `result()` is the last stage's output, or the error
 * of the stage that failed once the on-error stage has run. `options` apply
 * to every stage (a stage's settings win); every stage runs on workers
 * (`executor` settings apply to attached runs only).
 * Rejects as `submit()` does.
 */
export async function submitPipeline(p: Pipeline, input: unknown, options?: SubmitOptions): Promise<JobHandle> {
  return (await import('./submit-pipeline.js')).submitPipeline(p, input, options);
}
