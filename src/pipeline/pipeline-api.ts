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

/**
 * Re-runs ended pipeline `id` (failed or cancelled) from the first stage
 * whose job did not succeed, as a new pipeline (`fj rerun ID`): that stage
 * runs only its items without a result when its job kept results (as
 * `rerunFailed()` does; else the whole stage), with the same input, then
 * the stages after it as usual; the stages before it are not run again.
 * `p` is the pipeline as its module builds it now (its stages must be the
 * ones `id` ran). `options` as for {@link submitPipeline}. Resolves to a
 * handle of the new pipeline; rejects with UsageError when `id` is not a
 * pipeline, has not ended or succeeded, or `p` has other stages.
 */
export async function rerunPipeline(p: Pipeline, id: string, options?: SubmitOptions): Promise<JobHandle> {
  return (await import('./rerun-pipeline.js')).rerunPipeline(p, id, options);
}
