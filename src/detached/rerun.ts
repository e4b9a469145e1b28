/**
 * `rerunFailed()`: a new detached job that runs again only the items of an
 * ended job that have no result (they failed, or fail-fast dropped them),
 * starting from the results that job kept; its `join` sees every result,
 * so its output is the whole job's.
 */
import { decode } from '../core/codec.js';
import { UsageError } from '../core/errors.js';
import { checkJobId } from '../core/job-id.js';
import { readManifest, readOutcome } from '../store/job-records.js';
import { normalizeOptions } from '../core/job-options.js';
import { jobSettings } from '../job/resumable.js';
import { signerFrom } from '../core/signing.js';
import { openStore } from '../store/open.js';
import type { TaskClass } from '../task/fork-join-task.js';
import type { JobHandle } from './handle.js';
import { submitJob, type SubmitOptions } from './submit.js';

/**
 * Submits a new job with the input, task and settings of ended job `jobId`
 * that runs only the items the job left without a result, and resolves to
 * its {@link JobHandle} (its manifest names `jobId` as `rerun.of`). The
 * failed items run with `task` as given (the code a pool serves now: a fix
 * made since included); the other items' results are the ones `jobId`
 * recorded. `options` are those of {@link submit}; `queue`, the label and
 * the job's settings default to the first job's.
 *
 * Rejects with UsageError when `jobId` is unknown, has not ended, has no
 * kept results (it had no failed items, was cancelled, or ended before fj
 * kept them) or ran another task.
 */
export async function rerunFailed(
  task: TaskClass | string,
  jobId: string,
  options: SubmitOptions = {},
): Promise<JobHandle> {
  checkJobId(jobId);
  const opts = normalizeOptions({ ...options, executor: 'amqp' });
  const signer = signerFrom(opts.signingKey);
  const store = await openStore(opts.store || undefined);
  let input: unknown;
  let kept: Uint8Array;
  let first: Awaited<ReturnType<typeof readManifest>>;
  try {
    first = await readManifest(store, jobId, signer);
    if (first.plan)
      throw new UsageError(
        `${jobId} is a pipeline: rerunPipeline() re-runs it from the stage that did not succeed ('fj rerun ${jobId} --task PIPELINE_MODULE')`,
      );
    const outcome = await readOutcome(store, jobId, signer);
    if (!outcome) throw new UsageError(`job ${jobId} has not ended: 'fj cancel' or 'fj resume' it instead`);
    if (!outcome.kept)
      throw new UsageError(
        `job ${jobId} ${outcome.state} with no failed items to run again${outcome.state === 'cancelled' ? ' (a cancelled job keeps no results)' : ''}`,
      );
    if (!('ref' in first.input))
      throw new UsageError(
        `job ${jobId} read its input from a file on its coordinator's host: run it again with 'fj run'`,
      );
    input = decode(await store.get(first.input.ref));
    kept = await store.get(outcome.kept.ref);
  } finally {
    await store.close();
  }
  const label = options.label ?? `failed items of ${first.detached?.label ?? jobId}`;
  return submitJob(
    task,
    input,
    { ...jobSettings(first.options), ...options, queue: options.queue ?? first.queue, label: label.slice(0, 200) },
    { of: jobId, task: first.task.name, kept },
  );
}
