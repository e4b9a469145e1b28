/**
 * `submitPipeline()`: hands a pipeline to the cluster and returns at once.
 * The pipeline is a job of its own that runs no items: its manifest holds
 * the plan (each stage's task, fingerprinted, its pool and settings), its
 * status and result records are where `fj status`, `fj result` and
 * `fj cancel` find it. Its first stage is queued as a detached job whose
 * manifest links back to it; the worker that ends a stage's job queues the
 * next one (./continue-pipeline.ts). Validated here against the first
 * stage's schema: an invalid input queues nothing.
 */
import { randomUUID } from 'node:crypto';
import { encodeChecked } from '../core/codec.js';
import { InputError, UsageError } from '../core/errors.js';
import { checkJobId } from '../core/job-id.js';
import { normalizeOptions } from '../core/job-options.js';
import { signerFrom } from '../core/signing.js';
import { keyMismatch, readBeacons } from '../broker/beacon.js';
import { connect, DEFAULT_QUEUE, withHeartbeat } from '../broker/amqp.js';
import { JobHandle } from '../detached/handle.js';
import { manifestOptions, resultTtl, type SubmitOptions } from '../detached/submit.js';
import { queueJob, writeFreshStatus } from '../detached/queue-job.js';
import { dueTime, holdJob } from '../detached/delay.js';
import { MAX_LABEL } from '../store/job-index.js';
import type { DetachedInfo, Manifest } from '../store/job-records.js';
import { MAX_PIPELINE_ID, stageJobId, type PipelinePlan, type PlannedStage } from '../store/pipeline-records.js';
import { writeManifest } from '../store/job-records.js';
import { setPipelineStatus, stageManifest } from './stage-jobs.js';
import { openStore } from '../store/open.js';
import { isPipeline, type Pipeline } from './pipeline.js';
import { resolvePipeline, type ResolvedStage } from './run-pipeline.js';

/**
 * Submits a pipeline: validates `input` against its first stage's schema,
 * stores it and the pipeline's records, queues the first stage and
 * resolves to a {@link JobHandle} of the pipeline (its `result()` is the
 * last stage's output, or the error of the stage that failed, once the
 * on-error stage has run). `options` are every stage's (a stage's settings
 * win); every stage runs on workers (`executor` settings apply to attached
 * runs only). `at` or `delayMs` delays it as `submit()` delays a job: the
 * pipeline and its first stage are `scheduled`, held in the store until
 * due, when the first stage's pool queues that stage (no broker is needed
 * to submit it). Rejects as `submit()` does.
 */
export async function submitPipeline(p: Pipeline, input: unknown, options: SubmitOptions = {}): Promise<JobHandle> {
  if (!isPipeline(p)) throw new UsageError('submitPipeline: expected a pipeline built with pipeline()');
  const due = dueTime(options);
  const { name, stages, errorStage } = await resolvePipeline(p);
  const streaming = stages.find((s) => s.settings.stream);
  if (streaming)
    throw new UsageError(
      `stage ${streaming.number} (${streaming.name}) streams from the stage before it: a submitted pipeline runs its stages one after another; run it attached ('fj run') to stream`,
    );
  const first = stages[0];
  let valid: unknown;
  try {
    valid = structuredClone(input);
  } catch (err) {
    throw new InputError(`${options.source ?? 'input'} is not plain data: ${(err as Error).message}`, [], {
      cause: err,
    });
  }
  await first.info.validate(valid, options.source);
  const id = checkJobId(options.jobId ?? randomUUID());
  if (id.length > MAX_PIPELINE_ID)
    throw new UsageError(`pipeline id ${id} is too long: at most ${MAX_PIPELINE_ID} characters (its stages add .N)`);
  const plan: PipelinePlan = {
    name,
    stages: stages.map((s) => planned(s, options)),
    ...(errorStage ? { onError: planned(errorStage, options) } : {}),
  };
  const opts = normalizeOptions({ ...options, executor: 'amqp' });
  const signer = signerFrom(opts.signingKey);
  const submitted = Date.now();
  const label = (options.label ?? `pipeline ${name}`).slice(0, MAX_LABEL);
  const detached: DetachedInfo = {
    label,
    submitted,
    resultTtlMs: resultTtl(options.resultTtlMs),
    ...(due === undefined ? {} : { due }),
  };
  const store = await openStore(opts.store || undefined);
  // The connection opens while the store is checked and written; a delayed pipeline needs none (its first stage is held).
  const connecting = due === undefined ? connect(withHeartbeat(opts.broker), `submit ${id}`) : undefined;
  connecting?.catch(() => {});
  try {
    const [taken, beacons] = await Promise.all([
      Promise.all(
        [id, stageJobId(id, 1)].map(async (jobId) => ((await store.getMeta(jobId, 'manifest')) ? jobId : '')),
      ),
      readBeacons(store, signer),
    ]);
    const inUse = taken.find(Boolean);
    if (inUse)
      throw new UsageError(`job id ${inUse} is in use: pick another pipeline id, or 'fj forget ${inUse}' first`);
    for (const pool of new Set(plan.stages.map((s) => s.queue))) {
      const mismatch = keyMismatch(beacons, pool, signer?.fingerprint);
      if (mismatch) throw new UsageError(`pipeline not submitted: ${mismatch}`);
    }
    const bytes = encodeChecked(valid);
    const created = new Date(submitted).toISOString();
    const [ownRef, stageRef] = await Promise.all([store.put(id, bytes), store.put(stageJobId(id, 1), bytes)]);
    const own: Manifest = {
      version: 1,
      task: { name, module: undefined, className: 'Pipeline', codeHash: '' },
      input: { ref: ownRef },
      paramsRef: '',
      queue: plan.stages[0].queue,
      options: plan.stages[0].options,
      created,
      runs: [],
      detached,
      plan,
    };
    const base = stageManifest(plan.stages[0], detached, id, 1, plan.stages.length, created);
    const stage1: Manifest = {
      ...base,
      detached: { ...base.detached!, ...(due === undefined ? {} : { due }) },
      input: { ref: stageRef },
    };
    // The pipeline's records are written beside its first stage's, and before that stage's message (a stage links to them).
    const pipelineRecords = Promise.all([
      writeManifest(store, id, own, signer),
      due === undefined
        ? setPipelineStatus(store, id, own, signer, `1/${plan.stages.length} ${first.name}`)
        : writeFreshStatus(store, id, own, signer, 'scheduled', { updated: created, due }),
    ]);
    pipelineRecords.catch(() => {});
    if (!connecting) {
      // Held in the store like a delayed job (detached/delay.ts): its pool's scheduler releases the first stage when due.
      await pipelineRecords;
      await holdJob(store, stageJobId(id, 1), stage1, signer);
    } else
      await queueJob(
        store,
        await connecting,
        stageJobId(id, 1),
        stage1,
        signer,
        async () => void (await pipelineRecords),
      );
  } finally {
    await Promise.all([connecting?.then((c) => c.close()).catch(() => {}), store.close()]);
  }
  return new JobHandle(id, { broker: options.broker, store: options.store, signingKey: options.signingKey });
}

/** A stage as the plan keeps it: its task, its pool and its job's settings (the pipeline's options, its own over them). */
export function planned(s: ResolvedStage, options: SubmitOptions): PlannedStage {
  const { name: _name, executor: _executor, concurrency: _c, itemConcurrency: _ic, ...settings } = s.settings;
  const defined = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
  const opts = normalizeOptions({ ...options, ...defined, executor: 'amqp' });
  const { info } = s;
  return {
    name: s.name,
    task: { name: info.name, module: info.moduleUrl, className: info.cls.name, codeHash: info.codeHash },
    queue: s.settings.queue ?? options.queue ?? info.queue ?? DEFAULT_QUEUE,
    options: manifestOptions(opts),
  };
}
