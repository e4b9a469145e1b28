/**
 * A submitted pipeline goes on from stage to stage in the worker that ends
 * each stage's job: once a stage's result record is written, and before the
 * job's message is acknowledged, that worker queues the next stage (its
 * input the stage's output), or the on-error stage (its input a
 * {@link PipelineFailure}), or writes the pipeline's end. A worker that dies
 * in between leaves the message to the next one, which finds the stage
 * ended and continues from there: every step is idempotent (stage jobs have
 * fixed ids; a stage queued already is not queued again, an end is written
 * once). Only records are read and written: no task code runs here.
 */
import type { ChannelModel } from 'amqplib';
import { decode, encodeChecked } from '../core/codec.js';
import { CancelledError, PipelineError } from '../core/errors.js';
import type { Signer } from '../core/signing.js';
import { cancelRecorded, readCancel, writeCancel } from '../store/cancel-record.js';
import { jobTarget, publishJob, queueJob } from '../detached/queue-job.js';
import { readOutput, writeEnding } from '../detached/entries.js';
import { outcomeError, readManifest, readOutcome, type JobOutcome, type Manifest } from '../store/job-records.js';
import { stageJobId, type PipelinePlan, type PlannedStage } from '../store/pipeline-records.js';
import type { PayloadStore } from '../store/store.js';
import type { PipelineFailure } from './pipeline.js';
import { setPipelineStatus, stageManifest } from './stage-jobs.js';
import { stageJobOf } from '../detached/pipeline-stages.js';

/** What continuing a pipeline needs: the store and broker of the worker that ended the stage. */
export interface ContinueContext {
  store: PayloadStore;
  conn: ChannelModel;
  signer?: Signer;
  /** Who writes the pipeline's end (the worker's `--name`). */
  coordinator: string;
}

/**
 * After job `jobId` of a pipeline ended with `outcome`: the pipeline's next
 * step (see the module comment). Does nothing for a job of no pipeline, or
 * of a pipeline that has ended. Rejects when the store or broker fails: the
 * caller leaves the job's message for another try.
 */
export async function continuePipeline(
  ctx: ContinueContext,
  manifest: Manifest,
  outcome: JobOutcome,
  jobId: string,
): Promise<void> {
  const link = manifest.pipeline;
  if (!link) return;
  const { store, signer } = ctx;
  const succeeded = outcome.state === 'succeeded' && outcome.outputRef !== undefined;
  // Independent reads, at once: they are most of a stage transition.
  const [own, over, cancelled, output] = await Promise.all([
    readManifest(store, link.id, signer).catch(() => undefined),
    readOutcome(store, link.id, signer),
    cancelRecorded(store, link.id, signer),
    succeeded ? store.get(outcome.outputRef!) : undefined,
  ]);
  const plan = own?.plan;
  if (!own || !plan || over) return;
  const pipeline: Pipeline = { id: link.id, manifest: own, plan };
  if (link.stage === 0) return ended(ctx, pipeline, jobId, outcome);
  const stage = plan.stages[link.stage - 1];
  if (!stage) return;
  if (output && !cancelled) {
    const text = new TextDecoder().decode(output);
    if (link.stage === plan.stages.length) {
      await writeEnding(store, link.id, own, { state: 'succeeded', json: text }, ctx.coordinator, signer);
      return;
    }
    const next = link.stage + 1;
    await queueStage(
      ctx,
      pipeline,
      next,
      () => JSON.parse(text) as unknown,
      `${next}/${plan.stages.length} ${plan.stages[next - 1].name}`,
    );
    return;
  }
  const failure: PipelineFailure = {
    pipeline: plan.name,
    stage: { number: link.stage, name: stage.name, task: stage.task.name },
    cancelled: cancelled || outcome.state === 'cancelled',
    error: outcome.error
      ? { code: outcome.error.code, message: outcome.error.message }
      : { code: 'FJ_CANCELLED', message: `pipeline ${link.id} cancelled` },
    failures: outcome.stats?.failures ?? [],
    finished: await finishedOutputs(store, link.id, plan, link.stage, signer),
  };
  if (!plan.onError) return ended(ctx, pipeline, undefined, undefined, failure, outcome);
  await queueStage(ctx, pipeline, 0, () => failure, `on-error ${plan.onError.name}`);
}

interface Pipeline {
  id: string;
  manifest: Manifest;
  plan: PipelinePlan;
}

/**
 * Queues stage `number` (0: the on-error stage) with the input `input()`
 * gives, unless it was queued before: then its message is published again
 * when it has not ended (a worker that died between its records and its
 * message); a second message for a job is put back or dropped by the worker
 * that takes it. A cancel of the pipeline recorded meanwhile cancels it too.
 *
 * The pipeline's status moves to `at` once the stage's records are written,
 * never before: whoever reads the pipeline at that stage finds its job.
 */
async function queueStage(
  ctx: ContinueContext,
  p: Pipeline,
  number: number,
  input: () => unknown,
  at: string,
): Promise<void> {
  const { store, conn, signer } = ctx;
  const announce = () => setPipelineStatus(store, p.id, p.manifest, signer, at);
  const s: PlannedStage = number === 0 ? p.plan.onError! : p.plan.stages[number - 1];
  const jobId = stageJobId(p.id, number);
  // The input is stored beside the check (content-addressed: storing it again is harmless).
  const [queued, ref] = await Promise.all([store.getMeta(jobId, 'manifest'), store.put(jobId, encodeChecked(input()))]);
  if (queued) {
    // A stage that ended has moved the pipeline on already: its status is left where that put it.
    if (!(await readOutcome(store, jobId, signer)))
      await Promise.all([announce(), publishJob(conn, s.queue, jobId, signer, jobTarget(store, s))]);
    return;
  }
  const prev = number > 1 ? p.plan.stages[number - 2].name : undefined;
  const m = stageManifest(s, p.manifest.detached!, p.id, number, p.plan.stages.length, new Date().toISOString(), prev);
  const manifest: Manifest = { ...m, input: { ref } };
  // A cancel of the pipeline written before this stage's records is seen here; one written after them finds the stage (fj cancel).
  const cancelIfCancelled = async () => {
    const cancel = number === 0 ? undefined : await readCancel(store, p.id, signer);
    if (cancel) await writeCancel(store, jobId, cancel.by ?? 'api', signer);
  };
  await queueJob(
    store,
    conn,
    jobId,
    manifest,
    signer,
    async () => void (await Promise.all([cancelIfCancelled(), announce()])),
  );
}

/** The outputs of the stages before `failed`, in order (each from its job's result record). */
async function finishedOutputs(
  store: PayloadStore,
  id: string,
  plan: PipelinePlan,
  failed: number,
  signer: Signer | undefined,
): Promise<PipelineFailure['finished']> {
  const out: PipelineFailure['finished'] = [];
  for (let n = 1; n < failed; n++) {
    // A re-run pipeline's stages before where it started are the jobs of the pipeline it re-runs.
    const job = await stageJobOf(store, id, plan, n, signer);
    const o = job ? await readOutcome(store, job, signer) : undefined;
    if (o?.state === 'succeeded' && o.outputRef)
      out.push({ stage: plan.stages[n - 1].name, output: await readOutput(store, o) });
  }
  return out;
}

/**
 * Writes the end of a pipeline that failed or was cancelled: after its
 * on-error stage's job (`onErrorJob`, its outcome) ended, or at once when it
 * has none. The error names the stage and says how the on-error stage went;
 * its exit code is the stage error's.
 */
async function ended(
  ctx: ContinueContext,
  p: Pipeline,
  onErrorJob: string | undefined,
  onErrorOutcome: JobOutcome | undefined,
  known?: PipelineFailure,
  stageOutcome?: JobOutcome,
): Promise<void> {
  const { store, signer } = ctx;
  let failure = known;
  if (!failure && onErrorJob) {
    const m = await readManifest(store, onErrorJob, signer);
    if ('ref' in m.input) failure = decode<PipelineFailure>(await store.get(m.input.ref));
  }
  if (!failure) return;
  const stage = stageOutcome ?? (await readOutcome(store, stageJobId(p.id, failure.stage.number), signer));
  const how = failure.cancelled ? 'was cancelled' : 'failed';
  const onError = p.plan.onError;
  const after = !onError
    ? ''
    : onErrorOutcome?.state === 'succeeded'
      ? `\n(the on-error stage ${onError.name} ran)`
      : `\nthe on-error stage ${onError.name} ${onErrorOutcome?.state === 'cancelled' ? 'was cancelled' : 'failed too'}: ${onErrorOutcome?.error?.message ?? 'no reason recorded'}`;
  const message = `pipeline ${p.plan.name}: stage ${failure.stage.number} (${failure.stage.name}) ${how}: ${failure.error.message}${after}`;
  // As runPipeline() throws it: the stage's own error as its cause, the on-error stage's when it failed too.
  const error = failure.cancelled
    ? new CancelledError(message)
    : new PipelineError(
        message,
        stage?.error?.exitCode ?? 1,
        {
          pipeline: p.plan.name,
          stage: failure.stage,
          onErrorFailure:
            onErrorOutcome && onErrorOutcome.state !== 'succeeded' ? outcomeError(onErrorOutcome) : undefined,
        },
        stage && stage.state !== 'succeeded' ? { cause: outcomeError(stage) } : undefined,
      );
  await writeEnding(
    store,
    p.id,
    p.manifest,
    { state: failure.cancelled ? 'cancelled' : 'failed', error },
    ctx.coordinator,
    signer,
  );
}
