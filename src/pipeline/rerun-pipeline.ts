/**
 * `rerunPipeline()`: a failed (or cancelled) submitted pipeline run again
 * from the stage that did not succeed, as a new pipeline. That stage's job
 * is re-run as `rerunFailed()` re-runs a job: only its items without a
 * result, the results it kept seeded (the whole stage when it kept none:
 * its join or its setup failed, or it was cancelled); the stages after it
 * then run as usual. The stages before it are not run again: the new
 * pipeline's plan says which pipeline it re-runs from which stage
 * (`PipelinePlan.from`), and their jobs are that pipeline's
 * (../detached/pipeline-stages.ts `stageJobOf`).
 */
import { randomUUID } from 'node:crypto';
import { UsageError } from '../core/errors.js';
import { checkJobId } from '../core/job-id.js';
import { normalizeOptions } from '../core/job-options.js';
import { signerFrom } from '../core/signing.js';
import { keyMismatch, readBeacons } from '../broker/beacon.js';
import { connect, withHeartbeat } from '../broker/amqp.js';
import { JobHandle } from '../detached/handle.js';
import { resultTtl, type SubmitOptions } from '../detached/submit.js';
import { queueJob } from '../detached/queue-job.js';
import { MAX_LABEL } from '../store/job-index.js';
import { readManifest, readOutcome, writeManifest, type DetachedInfo, type Manifest } from '../store/job-records.js';
import { MAX_PIPELINE_ID, stageJobId, type PipelinePlan, type PlannedStage } from '../store/pipeline-records.js';
import { openStore } from '../store/open.js';
import type { PayloadStore } from '../store/store.js';
import { isPipeline, type Pipeline } from './pipeline.js';
import { resolvePipeline, type ResolvedStage } from './run-pipeline.js';
import { setPipelineStatus, stageManifest } from './stage-jobs.js';
import { planned } from './submit-pipeline.js';

/**
 * Submits a new pipeline that goes on from where ended pipeline `id` stopped:
 * its first stage whose job did not succeed runs again (only the items
 * without a result when that job kept results, else whole), with the same
 * input, then the stages after it. `p` is the pipeline as its module builds
 * it now (a fix made since included): its stages must be the ones `id` ran
 * (their names and tasks), and each runs its code now on the pool and with
 * the settings it had. `options` are those of `submitPipeline()`: `jobId`,
 * `label`, `queue` (every stage's pool), the connection.
 * Resolves to a {@link JobHandle} of the new pipeline.
 *
 * Rejects with UsageError when `id` is not a submitted pipeline, has not
 * ended, succeeded, or `p` has other stages.
 */
export async function rerunPipeline(p: Pipeline, id: string, options: SubmitOptions = {}): Promise<JobHandle> {
  if (!isPipeline(p)) throw new UsageError('rerunPipeline: expected a pipeline built with pipeline()');
  checkJobId(id);
  const { name, stages, errorStage } = await resolvePipeline(p);
  const opts = normalizeOptions({ ...options, executor: 'amqp' });
  const signer = signerFrom(opts.signingKey);
  const newId = checkJobId(options.jobId ?? randomUUID());
  if (newId.length > MAX_PIPELINE_ID)
    throw new UsageError(`pipeline id ${newId} is too long: at most ${MAX_PIPELINE_ID} characters (its stages add .N)`);
  const store = await openStore(opts.store || undefined);
  try {
    const first = await readManifest(store, id, signer);
    const old = first.plan;
    if (!old) throw new UsageError(`job ${id} is not a pipeline: 'fj rerun ${id}' re-runs its failed items`);
    const ended = await readOutcome(store, id, signer);
    if (!ended) throw new UsageError(`pipeline ${id} has not ended: 'fj cancel' it first, or wait for its end`);
    if (ended.state === 'succeeded') throw new UsageError(`pipeline ${id} succeeded: it has nothing to re-run`);
    const same =
      stages.length === old.stages.length &&
      stages.every((s, i) => s.name === old.stages[i].name && s.info.name === old.stages[i].task.name);
    if (!same)
      throw new UsageError(
        `pipeline ${id} ran the stages ${old.stages.map((s) => `${s.name} (${s.task.name})`).join(', ')}; the pipeline given has ${stages.map((s) => `${s.name} (${s.info.name})`).join(', ')}: give the module of the pipeline it ran`,
      );
    const k = await stageToRerun(store, id, old, signer);
    // Each stage's task as its code is now (its fingerprint); its pool and settings the first run's (`options.queue` wins).
    const again = (s: ResolvedStage, before: PlannedStage): PlannedStage => ({
      ...before,
      task: planned(s, options).task,
      queue: options.queue ?? before.queue,
    });
    const plan: PipelinePlan = {
      name,
      stages: stages.map((s, i) => again(s, old.stages[i])),
      ...(errorStage ? { onError: old.onError ? again(errorStage, old.onError) : planned(errorStage, options) } : {}),
      from: { pipeline: id, stage: k },
    };
    return await queueRerun(store, { id, first, plan, k, newId, options, opts, signer });
  } finally {
    await store.close();
  }
}

/** The first stage of pipeline `id` whose job did not succeed (its stages before `plan.from` are another pipeline's). */
async function stageToRerun(
  store: PayloadStore,
  id: string,
  plan: PipelinePlan,
  signer: ReturnType<typeof signerFrom>,
): Promise<number> {
  for (let n = plan.from?.stage ?? 1; n <= plan.stages.length; n++) {
    const o = await readOutcome(store, stageJobId(id, n), signer).catch(() => undefined);
    if (o?.state !== 'succeeded') {
      if (!o) throw new UsageError(`pipeline ${id}: its stage ${n} (${plan.stages[n - 1].name}) never ended`);
      return n;
    }
  }
  throw new UsageError(`pipeline ${id}: every stage succeeded, but the pipeline did not: nothing to re-run`);
}

interface Rerun {
  id: string;
  first: Manifest;
  plan: PipelinePlan;
  k: number;
  newId: string;
  options: SubmitOptions;
  opts: ReturnType<typeof normalizeOptions>;
  signer: ReturnType<typeof signerFrom>;
}

/** Writes the new pipeline's records and queues its stage `k`: stage `k` of the first, with its kept results when it kept some. */
async function queueRerun(store: PayloadStore, r: Rerun): Promise<JobHandle> {
  const { id, first, plan, k, newId, options, opts, signer } = r;
  for (const jobId of [newId, stageJobId(newId, k)])
    if (await store.getMeta(jobId, 'manifest'))
      throw new UsageError(`job id ${jobId} is in use: pick another pipeline id, or 'fj forget ${jobId}' first`);
  const beacons = await readBeacons(store, signer);
  for (const pool of new Set(plan.stages.slice(k - 1).map((s) => s.queue))) {
    const mismatch = keyMismatch(beacons, pool, signer?.fingerprint);
    if (mismatch) throw new UsageError(`pipeline not submitted: ${mismatch}`);
  }
  const failedJob = stageJobId(id, k);
  const failedManifest = await readManifest(store, failedJob, signer);
  const failedOutcome = await readOutcome(store, failedJob, signer);
  if (!('ref' in failedManifest.input) || !('ref' in first.input))
    throw new UsageError(`pipeline ${id}: the input of its stage ${k} is not in the store`);
  const submitted = Date.now();
  const d = first.detached!;
  const label = (options.label ?? `re-run of ${d.label} from stage ${k}`).slice(0, MAX_LABEL);
  const detached: DetachedInfo = { label, submitted, resultTtlMs: resultTtl(options.resultTtlMs ?? d.resultTtlMs) };
  const created = new Date(submitted).toISOString();
  const own: Manifest = {
    ...first,
    input: { ref: await store.put(newId, await store.get(first.input.ref)) },
    queue: plan.stages[0].queue,
    options: plan.stages[0].options,
    created,
    runs: [],
    detached,
    plan,
  };
  const stageId = stageJobId(newId, k);
  const prev = k > 1 ? plan.stages[k - 2].name : undefined;
  const stage: Manifest = {
    ...stageManifest(plan.stages[k - 1], detached, newId, k, plan.stages.length, created, prev),
    input: { ref: await store.put(stageId, await store.get(failedManifest.input.ref)) },
    ...(failedOutcome?.kept
      ? { rerun: { of: failedJob, keptRef: await store.put(stageId, await store.get(failedOutcome.kept.ref)) } }
      : {}),
  };
  const conn = await connect(withHeartbeat(opts.broker), `rerun ${newId}`);
  try {
    await writeManifest(store, newId, own, signer);
    await setPipelineStatus(store, newId, own, signer, `${k}/${plan.stages.length} ${plan.stages[k - 1].name}`);
    await queueJob(store, conn, stageId, stage, signer);
  } finally {
    await conn.close().catch(() => {});
  }
  return new JobHandle(newId, { broker: options.broker, store: options.store, signingKey: options.signingKey });
}
