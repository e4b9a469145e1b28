/**
 * Looking after amqp jobs from outside their coordinator: `status()`,
 * `cancel()` and `resume()` (`fj status`, `fj cancel`, `fj resume`). A job's
 * state is in RabbitMQ (its results queue) and the store (its manifest and
 * status records), so any process with the same broker and store can see it.
 * detached-api.ts loads this module, and with it amqplib, only when one is called.
 */
import type { Channel, ChannelModel } from 'amqplib';
import type { RunOptions } from '../core/job-options.js';
import { startJob, type JobResult } from '../job/lifecycle.js';
import { jobForResume } from '../job/resumable.js';
import { hostname } from 'node:os';
import { writeEnding } from './entries.js';
import { stagesOf } from './pipeline-stages.js';
import { CancelledError, JobEndedError, UsageError } from '../core/errors.js';
import { checkJobId } from '../core/job-id.js';
import {
  readManifest,
  readOutcome,
  readStatus,
  type JobLocation,
  type JobOutcome,
  type JobReport,
  type Manifest,
  type PoolState,
} from '../store/job-records.js';
import { DEFAULT_QUEUE, locate } from '../core/location.js';
import { normalizeOptions } from '../core/job-options.js';
import { SIGNATURE_HEADER, signerFrom, type Signer } from '../core/signing.js';
import { cancelActor, cancelledMessage, writeCancel, type CancelSource } from '../store/cancel-record.js';
import { openStore } from '../store/open.js';
import type { PayloadStore } from '../store/store.js';
import {
  codeQueue,
  assertControlExchange,
  connect,
  H,
  publishCancel,
  resultsQueue,
  resultsQueueState,
  withHeartbeat,
} from '../broker/amqp.js';
import { isRunTag } from '../broker/message-id.js';
import { stageJobId } from '../store/pipeline-records.js';

/** The implementation of `status()`: see its documentation in detached-api.ts. */
export async function status(jobId: string, where: JobLocation = {}): Promise<JobReport> {
  checkJobId(jobId);
  return withBrokerAndStore(where, async (conn, store) => {
    const signer = signerFrom(where.signingKey);
    const outcome = await readOutcome(store, jobId, signer);
    const failures = outcome?.stats?.failures;
    const report: JobReport = {
      jobId,
      status: await readStatus(store, jobId, signer),
      resultsQueue: await resultsQueueState(conn, jobId),
      ...(failures?.length ? { failures } : {}),
    };
    const manifest = await readManifest(store, jobId, signer).catch(() => undefined);
    if (!report.status && !report.resultsQueue && !manifest) throw unknownJob(jobId, store);
    if (manifest?.plan) report.stages = await stagesOf(store, jobId, manifest.plan, Boolean(outcome), signer);
    const pool = await poolState(conn, poolOf(manifest, where), manifest);
    return pool ? { ...report, pool } : report;
  });
}

/**
 * The implementation of `cancel()`: see its documentation in detached-api.ts. `by`
 * says who asks (`fj cancel`, the dashboard, a program through the API): the
 * job's error names it.
 */
export async function cancel(jobId: string, where: JobLocation = {}, by: CancelSource = 'api'): Promise<CancelReport> {
  checkJobId(jobId);
  return withBrokerAndStore(where, async (conn, store) => {
    const signer = signerFrom(where.signingKey);
    // A job that has ended is left as it is: its output and records stay for `fj result`.
    const ended = await readOutcome(store, jobId, signer);
    if (ended) throw endedError(jobId, ended);
    const own = await readManifest(store, jobId, signer).catch(() => undefined);
    if (own?.plan) return cancelPipeline(conn, store, signer, jobId, own, where, by);
    return cancelJob(conn, store, signer, jobId, where, by);
  });
}

/**
 * A submitted pipeline's cancel: recorded on the pipeline first (a stage
 * queued after it sees it: pipeline/continue-pipeline.ts), then each of its
 * stages' jobs that has not ended is cancelled. The stage ends cancelled, the
 * on-error stage runs, then the pipeline ends cancelled. A delayed pipeline
 * not started yet (its first stage still held) ends cancelled here and now:
 * no stage ran, so its on-error stage has nothing to answer for and does not run.
 */
async function cancelPipeline(
  conn: ChannelModel,
  store: PayloadStore,
  signer: Signer | undefined,
  id: string,
  own: Manifest,
  where: JobLocation,
  by: CancelSource,
): Promise<CancelReport> {
  await writeCancel(store, id, by, signer);
  const stages: string[] = [];
  let held = false;
  for (let n = 1; n <= own.plan!.stages.length; n++) {
    const stage = stageJobId(id, n);
    if (!(await store.getMeta(stage, 'manifest')) || (await readOutcome(store, stage, signer))) continue;
    if (n === 1) held = (await readStatus(store, stage, signer).catch(() => undefined))?.state === 'scheduled';
    await cancelJob(conn, store, signer, stage, where, by);
    stages.push(stage);
  }
  if (held) {
    const error = new CancelledError(cancelledMessage(id, by));
    await writeEnding(store, id, own, { state: 'cancelled', error }, `${cancelActor(by)} on ${hostname()}`, signer);
  }
  return { coordinator: false, pipeline: { stages } };
}

/** Cancels one job that has not ended (see `cancel()`). */
async function cancelJob(
  conn: ChannelModel,
  store: PayloadStore,
  signer: Signer | undefined,
  jobId: string,
  where: JobLocation,
  by: CancelSource,
): Promise<CancelReport> {
  let queue = await resultsQueueState(conn, jobId);
  if (!queue && !(await store.getMeta(jobId, 'manifest'))) {
    // Not attached yet (its setup may still be running): leave the cancel where its coordinator looks before publishing anything.
    await writeCancel(store, jobId, by, signer);
    // Then look once more: a coordinator that attached meanwhile may have checked before the record was there.
    queue = await resultsQueueState(conn, jobId);
    if (!queue) return { coordinator: false, pending: true };
  }
  // A detached job no coordinator has attached to (queued, or its setup running in a worker): it ends cancelled now, its records kept
  // for `fj result`; a coordinator that attaches later sees the cancel record and stops before publishing anything.
  const manifest = await readManifest(store, jobId, signer).catch(() => undefined);
  if (manifest?.detached && !((queue?.coordinators ?? 0) > 0)) {
    await writeCancel(store, jobId, by, signer);
    await writeEnding(
      store,
      jobId,
      manifest,
      { state: 'cancelled', error: new CancelledError(cancelledMessage(jobId, by)) },
      `${cancelActor(by)} on ${hostname()}`,
      signer,
    );
    return { coordinator: false, detached: true };
  }
  const coordinator = (queue?.coordinators ?? 0) > 0;
  // A coordinator attaching now may not have recorded its run yet, and heeds only a cancel naming it: the record is
  // what it reads once its run is recorded (coordinator.ts, onAttached), so the cancel is not lost. Written before the
  // runs are read: either the message names the run, or the coordinator finds the record. An attached job's records
  // (this one too) go at its end.
  if (coordinator) await writeCancel(store, jobId, by, signer);
  const ch = await channel(conn);
  await assertControlExchange(ch);
  // Name the job's runs, so that only their messages are dropped and the id can be used again.
  const runs = await runsOf(store, jobId, signer);
  publishCancel(ch, jobId, runs, signer);
  if (coordinator) {
    // The coordinator heeds a cancel naming its run, so a stranger's is ignored. The run attached last
    // is named last in the manifest (written as it attached, before its first status record).
    const run = runs.at(-1) ?? (await readStatus(store, jobId, signer))?.run ?? '';
    // Who cancels is signed with the rest: a coordinator believes only a source the key vouches for.
    const headers = {
      [H.cancelBy]: by,
      ...(signer ? { [SIGNATURE_HEADER]: signer.sign('cancel', run, jobId, by) } : {}),
    };
    ch.sendToQueue(resultsQueue(jobId), Buffer.alloc(0), { type: 'fj.cancel', correlationId: run, headers });
    // The coordinator deletes its results queue as it stops.
    for (let i = 0; i < 100 && (await resultsQueueState(conn, jobId)); i++)
      await new Promise((r) => setTimeout(r, 100));
  } else {
    if (queue) await ch.deleteQueue(resultsQueue(jobId));
    await store.deleteJob(jobId);
  }
  await ch.close().catch(() => {});
  // With no coordinator, nobody took the job's messages off its pool: workers drop them as they take them.
  const pool = coordinator ? undefined : await poolState(conn, poolOf(manifest, where), manifest);
  return pool ? { coordinator, pool } : { coordinator };
}

/** Options of {@link resume}. */
export interface ResumeOptions extends RunOptions {
  /**
   * The job's task: a built-in name or the path of its module, as the
   * resuming user names it. Needed for a task module of the job's own;
   * its code must be the code the job started with.
   */
  task?: string;
}

/** The implementation of `resume()`: see its documentation in detached-api.ts. */
export async function resume(jobId: string, options: ResumeOptions = {}): Promise<JobResult<unknown>> {
  const { task, ...rest } = options;
  const job = await jobForResume(jobId, rest, task);
  if (job.detached) return (await import('./coordinate.js')).resumeDetached(jobId, job.task, rest);
  const settings: RunOptions = { ...job.options, ...rest, executor: 'amqp', jobId, queue: job.queue };
  return startJob(
    job.task.cls,
    {
      value: job.input,
      owned: true,
      source: `job ${jobId}'s input`,
      origin: { resume: true, inputFile: job.inputFile },
    },
    settings,
  );
}

/** The coordinator runs a job's records name (manifest, status); empty when it has none. */
async function runsOf(store: PayloadStore, jobId: string, signer: Signer | undefined): Promise<string[]> {
  const runs = new Set<string>();
  try {
    for (const run of (await readManifest(store, jobId, signer)).runs ?? []) runs.add(run);
  } catch {
    // no manifest, or an unreadable one: the status record may still name the run
  }
  const run = (await readStatus(store, jobId, signer).catch(() => undefined))?.run;
  if (run) runs.add(run);
  return [...runs].filter(isRunTag);
}

/** What `cancel()` did: see its documentation in detached-api.ts. */
export interface CancelReport {
  /** Whether a coordinator was attached (it stopped the job and cleaned up). */
  coordinator: boolean;
  /** No job with this id had attached: a cancel record waits for it. */
  pending?: boolean;
  /** A detached job no coordinator had attached to: it ended cancelled, its records kept. */
  detached?: boolean;
  /** With no coordinator attached: the job's pool, whose queued messages (the job's among them) workers drop as they take them. */
  pool?: PoolState;
  /** A submitted pipeline: the jobs of its stages that were cancelled (its on-error stage runs, then it ends cancelled). */
  pipeline?: { stages: string[] };
}

/** The job's pool: the one its manifest names, else the one `where` (or `FJ_QUEUE`) names, else the default. */
function poolOf(manifest: Manifest | undefined, where: JobLocation): string {
  return manifest?.queue ?? locate(where).queue ?? DEFAULT_QUEUE;
}

/**
 * A pool's work as the broker sees it: its workers (the consumers of its
 * queue) and the messages queued there and, when the job's manifest is
 * known, in the queue of the job's code (where its items go); undefined
 * when the pool's queue does not exist. On channels of their own: a failed
 * check closes its channel.
 */
async function poolState(conn: ChannelModel, name: string, manifest?: Manifest): Promise<PoolState | undefined> {
  const check = async (queue: string) => {
    const ch = await channel(conn);
    try {
      return await ch.checkQueue(queue);
    } catch {
      return undefined;
    } finally {
      await ch.close().catch(() => {});
    }
  };
  const q = await check(name);
  if (!q) return undefined;
  const code = manifest ? await check(codeQueue(name, manifest.task.name, manifest.task.codeHash)) : undefined;
  return { name, messages: q.messageCount + (code?.messageCount ?? 0), workers: q.consumerCount };
}

async function withBrokerAndStore<T>(
  where: JobLocation,
  fn: (conn: ChannelModel, store: PayloadStore) => Promise<T>,
): Promise<T> {
  const opts = normalizeOptions({ executor: 'amqp', broker: where.broker, store: where.store });
  const store = await openStore(opts.store || undefined);
  let conn: ChannelModel | undefined;
  try {
    conn = await connect(withHeartbeat(opts.broker), 'fj job control');
    return await fn(conn, store);
  } finally {
    await conn?.close().catch(() => {});
    await store.close();
  }
}

async function channel(conn: ChannelModel): Promise<Channel> {
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  return ch;
}

/** `fj cancel` of a job that has ended: how it ended, and when. */
function endedError(jobId: string, o: JobOutcome): JobEndedError {
  const how =
    o.state === 'succeeded' ? 'succeeded' : `${o.state}${o.error ? ` (${o.error.message.split('\n')[0]})` : ''}`;
  return new JobEndedError(
    `job ${jobId} had already ended: ${how} at ${new Date(o.finished).toISOString()}; nothing was cancelled${o.attached ? '' : ` ('fj result ${jobId}' gives its ${o.state === 'succeeded' ? 'output' : 'error'})`}`,
  );
}

function unknownJob(jobId: string, store: PayloadStore): UsageError {
  return new UsageError(
    `no job '${jobId}' on the broker or in the store ${store.url}: it finished, was cancelled, or never started (pass the --broker and --store it ran with)`,
  );
}
