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
import { encodeChecked } from './codec.js';
import { Dispatcher } from './dispatch/dispatcher.js';
import { AttachedElsewhereError, CancelledError, isResumable, TransportError } from './errors.js';
import type { JobPlan } from './dispatch/job-plan.js';
import { cancelRecorded, readManifest, StatusWriter, writeManifest, type JobStatus, type Manifest } from './job-records.js';
import { runningEntry } from './detached/entries.js';
import { signerFrom, type Signer } from './signing.js';
import type { PayloadStore } from './store/store.js';
import { AmqpTransport } from './transports/amqp.js';

/** The status record is rewritten at most this often. */
const STATUS_EVERY_MS = 1000;

export class Coordinator {
  private readonly coordinator = `${hostname()}:${process.pid}`;
  private readonly status: StatusWriter;
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
    this.status = new StatusWriter(store, jobId, (err) => plan.log.debug(`status not written: ${err.message}`), this.signer);
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
      const manifest = given ?? (plan.origin.resume ? await readManifest(store, jobId, this.signer) : await this.manifest(paramsRef));
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
          if (await cancelRecorded(store, jobId, this.signer)) throw new CancelledError(`job ${jobId} cancelled by 'fj cancel' before it started`);
          await writeManifest(store, jobId, { ...manifest, paramsRef, runs: [...earlierRuns, transport!.runTag] }, this.signer);
          // Again, now that the manifest is there: a cancel that looked for the job in between left its record.
          if (await cancelRecorded(store, jobId, this.signer)) throw new CancelledError(`job ${jobId} cancelled by 'fj cancel' before it started`);
          this.writeStatus('running');
          if (given?.detached) await store.indexJob(runningEntry(jobId, manifest.task.name, given.detached));
        },
      });
      const timer = setInterval(() => this.writeStatus('running'), STATUS_EVERY_MS);
      timer.unref();
      try {
        await new Dispatcher(plan, transport).run();
      } finally {
        clearInterval(timer);
      }
    } catch (err) {
      error = err;
    }
    const attached = transport?.attached ?? false;
    if (error instanceof AttachedElsewhereError) {
      // Another coordinator has the job: its records are that one's to write.
      plan.log.warn(`job ${jobId} is coordinated elsewhere now; this coordinator steps down`);
      throw error;
    }
    if (detached) {
      // A resumable stop (the broker or store lost, the worker shutting down) is not the job's end: the next coordinator takes it on.
      if (attached && error !== undefined && !isResumable(error)) {
        this.writeStatus(error instanceof CancelledError ? 'cancelled' : 'failed', error, true);
        await this.status.flushed();
      }
      if (error !== undefined) throw error;
      return;
    }
    if (attached) {
      this.writeStatus(error === undefined ? 'done' : error instanceof CancelledError ? 'cancelled' : 'failed', error);
      await this.status.flushed();
    }
    const resumable = attached && isResumable(error);
    if (resumable) plan.log.error(`job ${jobId} stopped; resume it with 'fj resume ${jobId}'${error instanceof TransportError ? ' once RabbitMQ is back' : ''}`);
    const refusedResume = plan.origin.resume && !attached;
    if (!resumable && !refusedResume && !(plan.options.keep && attached)) {
      await store.deleteJob(jobId).catch((err) => plan.log.warn(`could not delete job data: ${(err as Error).message}`));
    }
    if (error !== undefined) throw error;
  }

  /** The manifest of a fresh job, written before anything is published. */
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
        inlineLimit: options.inlineLimit,
      },
      created: new Date().toISOString(),
    };
  }

  /** Rewrites the status record. After the job ends, only a kept or failed job's is written (the others' data is about to go). */
  private writeStatus(state: JobStatus['state'], error?: unknown, always = false): void {
    const { ledger, items, task, options } = this.plan;
    if (!always && state !== 'running' && !options.keep && state !== 'failed') return;
    this.status.write({
      state,
      task: task.name,
      total: items.total ?? (items.done ? items.index : null),
      done: ledger.recorded,
      failed: ledger.failures.length,
      retried: ledger.retried,
      inFlightMessages: this.transport?.inFlightMessages ?? 0,
      coordinator: this.coordinator,
      run: this.transport?.runTag ?? '',
      updated: new Date().toISOString(),
      ...(error ? { error: (error as Error).message } : {}),
    });
  }
}

