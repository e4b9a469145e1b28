/**
 * The coordinator of a distributed (amqp) job: stores its params, keeps its
 * records (manifest, status), runs the dispatcher over the amqp transport,
 * and decides what is left behind when the job ends. It runs wherever it is
 * started: in `fj run`, and, built from a job's records, in `fj resume`.
 *
 * What a job leaves behind:
 * - done, failed or cancelled: nothing (unless `keep`);
 * - the broker lost for good after the job attached, or items left without
 *   a result: everything, for `fj resume`;
 * - a resume that was refused (the job is attached elsewhere, or gone):
 *   nothing is touched;
 * - a fresh job that never attached (a refused password, a bad URL): its
 *   params and manifest are removed, since nothing exists to resume.
 */
import { hostname } from 'node:os';
import type { ChannelModel } from 'amqplib';
import { encodeChecked } from '../../core/codec.js';
import { Dispatcher } from '../../dispatch/dispatcher.js';
import { AttachedElsewhereError, CancelledError, isResumable, TransportError } from '../../core/errors.js';
import type { JobPhase } from '../../core/job-options.js';
import { DEFAULT_RESULT_TTL_MS, entryOf, MAX_LABEL, type IndexEntry, type JobState } from '../../store/job-index.js';
import type { JobEnd } from '../executor.js';
import type { JobPlan } from '../../dispatch/job-plan.js';
import { cancelledMessage, readCancel } from '../../store/cancel-record.js';
import {
  describeError,
  endStatus,
  readManifest,
  statsRecord,
  StatusWriter,
  writeManifest,
  writeOutcome,
  type JobOutcome,
  type JobStatus,
  type Manifest,
} from '../../store/job-records.js';
import { sealRecord, signerFrom, type Signer } from '../../core/signing.js';
import type { PayloadStore } from '../../store/store.js';
import { AmqpTransport } from './amqp-transport.js';

/** The status record is rewritten at most this often. */
const STATUS_EVERY_MS = 1000;

export class Coordinator {
  /** Where this coordinator runs. */
  private readonly host = `${hostname()}:${process.pid}`;
  /** Who it is in the records: a worker's `--name`, else where it runs. */
  private readonly coordinator: string;
  private readonly status: StatusWriter;
  /** When the job first started (its manifest's, once attached). */
  private started: number | undefined;
  /** The job's manifest as this coordinator attached with it. */
  private attachedWith: Manifest | undefined;
  /** The job's end is not this coordinator's to write: its data is left for `fj resume` (the broker lost), or another coordinator has it. */
  private noEnd = false;
  /** The job's data goes once it has ended (`finish`). */
  private removeAtFinish = false;
  private transport: AmqpTransport | undefined;
  private readonly signer: Signer | undefined;

  constructor(
    private readonly plan: JobPlan,
    private readonly store: PayloadStore,
    private readonly jobId: string,
    private readonly queue: string,
    /** A connection opened early (while the input validated). */
    private readonly conn?: Promise<ChannelModel>,
  ) {
    this.signer = signerFrom(plan.options.signingKey);
    this.coordinator = plan.origin.coordinator ?? this.host;
    this.status = new StatusWriter(
      store,
      jobId,
      (err) => plan.log.debug(`status not written: ${err.message}`),
      this.signer,
    );
  }

  /** Runs the job to its end; rejects with the error that ended it. */
  async run(): Promise<void> {
    const { plan, store, jobId } = this;
    // A detached job's end (output, result record, retention) is its finisher's: here nothing is deleted, and success is not written yet.
    const detached = plan.origin.manifest?.detached !== undefined;
    let transport: AmqpTransport | undefined;
    let error: unknown;
    try {
      const paramsRef = await store.put(jobId, plan.paramsBytes);
      if (!plan.origin.resume) plan.counters.bytesStored += plan.paramsBytes.length;
      const given = plan.origin.manifest;
      const manifest =
        given ?? (plan.origin.resume ? await readManifest(store, jobId, this.signer) : await this.manifest(paramsRef));
      const earlierRuns = plan.origin.resume || given ? (manifest.runs ?? []) : [];
      transport = this.transport = new AmqpTransport(plan, store, {
        jobId,
        queue: this.queue,
        paramsRef,
        earlierRuns,
        conn: this.conn,
        signer: this.signer,
        keepResults: detached,
        // Attached: this run's tag goes into the records before anything is published.
        onAttached: async () => {
          // A detached job's coordinator looked for a cancel just before it started the job.
          if (!detached) await this.stopIfCancelled();
          // The job's first start is kept through takeovers and resumes: STARTED, and its duration, count from it.
          const started = (this.started = manifest.started ?? plan.origin.started ?? Date.now());
          const written = { ...manifest, paramsRef, started, runs: [...earlierRuns, transport!.runTag] };
          await writeManifest(store, jobId, written, this.signer);
          this.attachedWith = written;
          this.writeStatus('running');
          await Promise.all([
            // Again, now that the manifest is there: a cancel that looked for the job in between left its record.
            this.stopIfCancelled(),
            // Attached (`fj run -e amqp`): listed in the job index like a detached job, so the pool's every job shows.
            detached ? undefined : store.indexJob(this.entry(written, 'running')),
            plan.origin.onAttached?.(),
          ]);
        },
      });
      const timer = setInterval(() => this.writeStatus('running'), STATUS_EVERY_MS);
      timer.unref();
      try {
        await new Dispatcher(plan, transport).run();
      } finally {
        clearInterval(timer);
      }
      // Every item settled: `join` runs next, in the job's own process.
      this.writeStatus('running', undefined, false, 'join');
    } catch (err) {
      error = err;
    }
    const attached = transport?.attached ?? false;
    if (error instanceof AttachedElsewhereError) {
      // Another coordinator has the job: its records are that one's to write.
      plan.log.warn(`job ${jobId} is coordinated elsewhere now; this coordinator steps down`);
      this.noEnd = true;
      throw error;
    }
    if (detached) {
      // A resumable stop (the broker or store lost, the worker shutting down) is not the job's end: the next coordinator takes it on.
      if (attached && error !== undefined && !isResumable(error)) {
        this.writeStatus(error instanceof CancelledError ? 'cancelled' : 'failed', error, true);
        await this.status.flushed();
      }
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows what ended the job, as it was thrown
      if (error !== undefined) throw error;
      return;
    }
    const resumable = attached && isResumable(error);
    this.noEnd = resumable;
    if (resumable) this.writeStatus('failed', error, true);
    await this.status.flushed();
    if (resumable)
      plan.log.error(
        `job ${jobId} stopped; resume it with 'fj resume ${jobId}'${error instanceof TransportError ? ' once RabbitMQ is back' : ''}`,
      );
    const refusedResume = plan.origin.resume && !attached;
    const remove = !resumable && !refusedResume && !(plan.options.keep && attached);
    // An attached job's data goes at its end (`finish`, after `join`): its records stay listed while `join` runs.
    if (remove && attached) this.removeAtFinish = true;
    else if (remove) await this.removeData();
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows what ended the job, as it was thrown
    if (error !== undefined) throw error;
  }

  /** The manifest of a fresh job, written before anything is published. */
  /** Throws CancelledError, naming who cancelled, when a cancel was left for the job before it attached. */
  private async stopIfCancelled(): Promise<void> {
    const cancelled = await readCancel(this.store, this.jobId, this.signer);
    if (cancelled) throw new CancelledError(cancelledMessage(this.jobId, cancelled.by, true));
  }

  private async manifest(paramsRef: string): Promise<Manifest> {
    const { plan, store, jobId } = this;
    const { options, task, origin } = plan;
    let input: Manifest['input'];
    if (origin.inputFile) input = origin.inputFile;
    else {
      const bytes = encodeChecked(origin.input);
      input = { ref: await store.put(jobId, bytes) };
      plan.counters.bytesStored += bytes.length;
    }
    return {
      version: 1,
      task: { name: task.name, module: task.moduleUrl, className: task.cls.name, codeHash: task.codeHash },
      input,
      paramsRef,
      queue: this.queue,
      options: {
        retries: options.retries,
        retryDelayMs: options.retryDelayMs,
        onFailure: options.onFailure,
        maxFailures: options.maxFailuresSpec,
        itemTimeoutMs: options.itemTimeoutMs,
        rateLimit: options.rateLimit,
        inlineLimit: options.inlineLimit,
        onCodeChange: options.onCodeChange,
        ...(options.weight === 1 ? {} : { weight: options.weight }),
        ...(options.priority === 0 ? {} : { priority: options.priority }),
        ...(options.tenant === undefined ? {} : { tenant: options.tenant }),
      },
      created: new Date().toISOString(),
    };
  }

  /**
   * An attached job's end (`fj run -e amqp`, `run()`), once `join` has run
   * or the job failed: its result record (figures and failures, no output:
   * that went to the process that ran it), status record and index entry,
   * kept {@link DEFAULT_RESULT_TTL_MS} for `fj jobs` and the dashboard. A
   * detached job's end is its finisher's; a job never attached, or left
   * for `fj resume`, has none yet.
   */
  /** Settles once the job's broker connection is closed (it closes behind the job's end: see ResilientLink's `closeBehind`). */
  get connectionClosed(): Promise<void> {
    return this.transport?.connectionClosed ?? Promise.resolve();
  }

  async finish(end: JobEnd): Promise<void> {
    if (this.removeAtFinish) await this.removeData();
    const manifest = this.attachedWith;
    if (!manifest || manifest.detached || this.noEnd) return;
    const { store, jobId } = this;
    const outcome: JobOutcome = {
      state: end.error === undefined ? 'succeeded' : end.error instanceof CancelledError ? 'cancelled' : 'failed',
      coordinator: this.coordinator,
      coordinatorHost: this.host,
      finished: Date.now(),
      attached: true,
      ...(this.started ? { started: this.started } : {}),
      ...(end.error === undefined ? {} : { error: describeError(end.error) }),
      stats: statsRecord(end.stats, end.totalKnown),
    };
    await writeOutcome(store, jobId, outcome, this.signer);
    await store.setMeta(
      jobId,
      'status',
      sealRecord(this.signer, 'status', jobId, JSON.stringify(endStatus(outcome, manifest.task.name))),
    );
    await store.indexJob(this.entry(manifest, outcome.state, outcome.finished));
  }

  private async removeData(): Promise<void> {
    await this.store
      .deleteJob(this.jobId)
      .catch((err) => this.plan.log.warn(`could not delete job data: ${(err as Error).message}`));
  }

  /** The attached job's index entry in `state`. */
  private entry(manifest: Manifest, state: JobState, now = Date.now()): IndexEntry {
    const { task } = this.plan;
    const submitted = Date.parse(manifest.created);
    return entryOf(
      {
        id: this.jobId,
        task: task.name,
        label: (task.description || task.name).slice(0, MAX_LABEL),
        submitted: Number.isSafeInteger(submitted) ? submitted : now,
      },
      state,
      DEFAULT_RESULT_TTL_MS,
      now,
    );
  }

  /** Rewrites the status record. After the job ends, only a kept or failed job's is written (the others' data is about to go). */
  private writeStatus(state: JobStatus['state'], error?: unknown, always = false, phase?: JobPhase): void {
    const { ledger, items, task, options } = this.plan;
    if (!always && state !== 'running' && !options.keep && state !== 'failed') return;
    this.status.write({
      state,
      ...(state === 'running' ? { phase: phase ?? (items.index === 0 && !items.done ? 'setup' : 'items') } : {}),
      task: task.name,
      total: items.total ?? (items.done ? items.index : null),
      done: ledger.recorded,
      failed: ledger.failures.length,
      retried: ledger.retried,
      inFlightMessages: this.transport?.inFlightMessages ?? 0,
      coordinator: this.coordinator,
      coordinatorHost: this.host,
      ...(this.started ? { started: this.started } : {}),
      ...(this.plan.origin.manifest?.detached ? {} : { attached: true }),
      run: this.transport?.runTag ?? '',
      updated: new Date().toISOString(),
      ...(error ? { error: (error as Error).message } : {}),
    });
  }
}
