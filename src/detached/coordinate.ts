/**
 * Coordinates a detached job to its end, wherever that runs: in an `fj
 * worker` that took the job's message, or in `fj resume` on a terminal.
 *
 * The job is read from its records (manifest, result, cancel), which are
 * data: the task is the one the caller brings (a worker's own tasks, the
 * resuming user's `--task`), and its code fingerprint must be the one the
 * job was submitted with. A job that has ended is not run again; one whose
 * earlier coordinator attached is resumed (only items without a recorded
 * result run), else started.
 */
import type { ChannelModel } from 'amqplib';
import { hostname } from 'node:os';
import { decode } from '../core/codec.js';
import type { KeptResults, Ledger } from '../dispatch/ledger.js';
import {
  AttachedElsewhereError,
  CancelledError,
  FailuresError,
  isInstance,
  isResumable,
  TaskError,
  WorkerRefusedError,
} from '../core/errors.js';
import { outcomeError, readManifest, readOutcome, type JobOutcome, type Manifest } from '../store/job-records.js';
import { cancelledMessage, cancelRecorded, readCancel } from '../store/cancel-record.js';
import type { LogFormat, LogLevel } from '../core/log.js';
import { normalizeOptions, type JobStats, type Progress, type RunOptions } from '../core/job-options.js';
import { jobSettings } from '../job/resumable.js';
import { startJob, type JobSource } from '../job/lifecycle.js';
import { AmqpExecutor, closeEarly, openEarly } from '../executors/amqp/amqp-executor.js';
import type { JobEnd } from '../executors/executor.js';
import { signerFrom } from '../core/signing.js';
import { openStore } from '../store/open.js';
import type { PayloadStore } from '../store/store.js';
import type { TaskInfo } from '../task/registry.js';
import { connect, reconnect, resultsQueue, resultsQueueState, withHeartbeat } from '../broker/amqp.js';
import { readOutput, runningEntry, writeEnding } from './entries.js';

/** What a coordinator needs besides the job. */
export interface CoordinateContext {
  /** The job's store, open. */
  store: PayloadStore;
  /** Its URL (the job's own connections open it again). */
  storeUrl: string;
  broker: string;
  signingKey?: string;
  logLevel?: LogLevel;
  /** How the job's log lines look (the coordinating worker's `--log-format`). */
  logFormat?: LogFormat;
  /** A connection for the results-queue checks. */
  conn: ChannelModel;
  /** The job's own connection, opened ahead (a worker's spare); else one opens as the job's records are read. Closed with the job. */
  jobConn?: () => Promise<ChannelModel>;
  /** Stops the job's coordination here (a worker's shutdown): the job is left for another coordinator. */
  signal?: AbortSignal;
  /** Who coordinates (records and logs). Default `<host>:<pid>`. */
  coordinator?: string;
  onProgress?: (p: Progress) => void;
}

/**
 * How coordinating a job went: `ended` (its result record is written;
 * `cleanup`, which never rejects, deletes its results queue: the caller
 * awaits it beside its own next step), `elsewhere` (another coordinator has
 * it), or `left` (stopped here: the job waits for another coordinator).
 */
export type Coordinated =
  { how: 'ended'; outcome: JobOutcome; cleanup: Promise<void> } | { how: 'elsewhere' | 'left'; error: unknown };

/** The task's code fingerprint differs from the job's: this process must not coordinate it. */
export function codeMismatch(manifest: Manifest, task: TaskInfo): string | undefined {
  if (task.name !== manifest.task.name) return `it runs task ${manifest.task.name}, not ${task.name}`;
  if (task.codeHash !== manifest.task.codeHash)
    return `the code of task ${task.name} here (${task.codeHash}) is not the code it was submitted with (${manifest.task.codeHash})`;
  return undefined;
}

/** Runs detached job `jobId` to its end with `task` (see the module comment). */
export async function coordinateDetached(jobId: string, task: TaskInfo, ctx: CoordinateContext): Promise<Coordinated> {
  // The job's own store and connection open while its records are read; closed unless the job takes them.
  const early = openEarly(ctx.broker, ctx.storeUrl, jobId, ctx.jobConn?.());
  const executor = new AmqpExecutor(early);
  let taken = false;
  try {
    return await coordinateOn(executor, () => (taken = true), jobId, task, ctx);
  } finally {
    if (!taken) await closeEarly(early);
  }
}

/** {@link coordinateDetached} on `executor`; `take` is called once the job is handed to it. */
async function coordinateOn(
  executor: AmqpExecutor,
  take: () => void,
  jobId: string,
  task: TaskInfo,
  ctx: CoordinateContext,
): Promise<Coordinated> {
  const { store } = ctx;
  const cleanup = () => deleteResultsQueue(ctx.conn, ctx.broker, jobId);
  const signer = signerFrom(ctx.signingKey);
  const host = `${hostname()}:${process.pid}`;
  const who = ctx.coordinator ?? host;
  const [manifest, ended, cancelled] = await Promise.all([
    readManifest(store, jobId, signer),
    readOutcome(store, jobId, signer),
    readCancel(store, jobId, signer),
  ]);
  if (!manifest.detached)
    throw new WorkerRefusedError(`job ${jobId} is not a detached job: its own coordinator runs it`);
  if (ended) {
    // Never run again; its results queue goes, should the coordinator that ended it have lost the broker before deleting it.
    return { how: 'ended', outcome: ended, cleanup: cleanup() };
  }
  const end = (e: Parameters<typeof writeEnding>[3]) => writeEnding(store, jobId, manifest, e, who, signer, host);
  if (cancelled) {
    return {
      how: 'ended',
      outcome: await end({
        state: 'cancelled',
        error: new CancelledError(cancelledMessage(jobId, cancelled.by, true)),
      }),
      cleanup: cleanup(), // declared when the job was queued
    };
  }
  const mismatch = codeMismatch(manifest, task);
  if (mismatch)
    return {
      how: 'ended',
      outcome: await end({ state: 'failed', error: new WorkerRefusedError(`job ${jobId} cannot run: ${mismatch}`) }),
      cleanup: cleanup(),
    };
  if (!('ref' in manifest.input)) throw new WorkerRefusedError(`job ${jobId}: a detached job's input is in the store`);
  const [inputBytes, resume] = await Promise.all([
    store.get(manifest.input.ref),
    // Resumed when an earlier coordinator attached and its results are still queued; else (never attached, or its queue expired) started afresh.
    (manifest.runs?.length ?? 0) > 0 && resultsQueueState(ctx.conn, jobId).then((state) => state !== undefined),
  ]);
  const input = decode(inputBytes);
  const options: RunOptions = {
    executor: 'amqp',
    jobId,
    queue: manifest.queue,
    broker: ctx.broker,
    store: ctx.storeUrl,
    signingKey: ctx.signingKey,
    logLevel: ctx.logLevel ?? 'warn',
    logFormat: ctx.logFormat,
    signal: ctx.signal,
    onProgress: ctx.onProgress,
    ...jobSettings(manifest.options),
  };
  // The job's first start (an earlier coordinator's, kept in its manifest): its duration counts from it.
  const started = manifest.started ?? Date.now();
  let figures: JobEnd | undefined;
  // A re-run of another job's failed items starts from the results that job kept.
  const seed = manifest.rerun ? decode<KeptResults>(await store.get(manifest.rerun.keptRef)) : undefined;
  let ledger: Ledger | undefined;
  const origin: JobSource = {
    resume,
    manifest,
    seed,
    onLedger: (l: Ledger) => (ledger = l),
    coordinator: who,
    started,
    onEnd: (e) => (figures = e),
    onAttached: async () => {
      if (manifest.detached) await store.indexJob(runningEntry(jobId, manifest.task.name, manifest.detached));
    },
  };
  try {
    take();
    const { output, stats } = await startJob(
      task.cls,
      { value: input, owned: true, source: manifest.pipeline?.source ?? `job ${jobId}'s input`, origin },
      options,
      executor,
    );
    const kept = stats.failed > 0 ? ledger?.kept() : undefined;
    const outcome = await end({ state: 'succeeded', json: JSON.stringify(output), stats, started, kept });
    return { how: 'ended', outcome, cleanup: cleanup() };
  } catch (err) {
    if (err instanceof AttachedElsewhereError) return { how: 'elsewhere', error: err };
    // The broker or store lost, or this process stopping: the job waits for its next coordinator.
    if (isResumable(err) || (ctx.signal?.aborted && !(await cancelRecorded(store, jobId, signer).catch(() => false))))
      return { how: 'left', error: err };
    const outcome = await end({
      state: err instanceof CancelledError ? 'cancelled' : 'failed',
      error: err,
      // What the job had done when it ended: its counts and its failures stay with it.
      ...(figures ? { stats: figures.stats, totalKnown: figures.totalKnown } : {}),
      started,
      kept: itemsFailed(err) ? ledger?.kept() : undefined,
    });
    return { how: 'ended', outcome, cleanup: cleanup() };
  }
}

/** Whether a job ended by `err` failed for its items (fail-fast, or past `maxFailures`): those without a result can run again (`rerunFailed`). */
function itemsFailed(err: unknown): boolean {
  return isInstance(err, FailuresError) || (isInstance(err, TaskError) && err.hook === 'process');
}

/**
 * Deletes job `jobId`'s results queue (its end is written: nothing in it is
 * needed). On `conn`, else, when that connection was lost meanwhile (the job
 * ran on connections of its own), on a new one to `broker`; best effort.
 */
export async function deleteResultsQueue(conn: ChannelModel, broker: string, jobId: string): Promise<void> {
  if (await deleteOn(conn, jobId)) return;
  const fresh = await reconnect(withHeartbeat(broker), `end ${jobId}`, { giveUpMs: 10_000 }).catch(() => undefined);
  if (!fresh) return;
  try {
    await deleteOn(fresh, jobId);
  } finally {
    await fresh.close().catch(() => {});
  }
}

async function deleteOn(conn: ChannelModel, jobId: string): Promise<boolean> {
  const ch = await conn.createChannel().catch(() => undefined);
  if (!ch) return false;
  ch.on('error', () => {});
  try {
    await ch.deleteQueue(resultsQueue(jobId));
    return true;
  } catch {
    return false;
  } finally {
    await ch.close().catch(() => {});
  }
}

/**
 * `fj resume` of a detached job: coordinates it here, as a worker would
 * (its end is written for `fj result` too), and resolves to its output and
 * figures, or rejects with the error it ended with. UsageError when another
 * coordinator is attached to it.
 */
// eslint-disable-next-line complexity -- most of it is the `??` defaults of a stored outcome's figures
export async function resumeDetached(
  jobId: string,
  task: TaskInfo,
  options: RunOptions,
): Promise<{ output: unknown; stats: JobStats }> {
  const opts = normalizeOptions({ ...options, executor: 'amqp' });
  const store = await openStore(opts.store || undefined);
  const conn = await connect(withHeartbeat(opts.broker), `resume ${jobId}`);
  try {
    if (((await resultsQueueState(conn, jobId))?.coordinators ?? 0) > 0)
      throw new AttachedElsewhereError(
        `job ${jobId} is still attached to a running coordinator ('fj status ${jobId}' names it)`,
      );
    const done = await coordinateDetached(jobId, task, {
      store,
      storeUrl: opts.store,
      broker: opts.broker,
      signingKey: opts.signingKey,
      logLevel: opts.logLevel,
      conn,
      signal: opts.signal,
      onProgress: opts.onProgress,
    });
    if (done.how !== 'ended') throw done.error;
    await done.cleanup;
    const o = done.outcome;
    const s = o.stats;
    const stats: JobStats = {
      items: s?.items ?? 0,
      total: (s?.items ?? 0) + (s?.failed ?? 0),
      succeeded: s?.items ?? 0,
      messages: s?.messages ?? 0,
      bytesPublished: s?.bytesPublished ?? 0,
      bytesStored: s?.bytesStored ?? 0,
      wallMs: s?.wallMs ?? 0,
      retried: s?.retried ?? 0,
      failed: s?.failed ?? 0,
      failures: s?.failures ?? [],
    };
    if (o.state === 'succeeded') return { output: await readOutput(store, o), stats };
    if (o.state === 'cancelled') throw new CancelledError(o.error?.message);
    throw outcomeError(o);
  } finally {
    await conn.close().catch(() => {});
    await store.close();
  }
}
