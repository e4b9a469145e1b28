/**
 * A job's records in the payload store: its manifest (what a coordinator
 * needs to run or re-attach to the job) and its status (rewritten as it
 * runs, read by `fj status`). Records are data: nothing here loads code, and
 * a record read back is checked field by field before anything uses it.
 * No transport code: the CLI, `fj resume` and a coordinator read them alike.
 */
import { createHash } from 'node:crypto';
import { FjError, isInstance, thrownParts, TransportError, UsageError, type ItemFailure } from '../core/errors.js';
import { openRecord, sealRecord, type Signer } from '../core/signing.js';
import { fromWire, toWire, type WireError } from '../core/wire-error.js';
import type { JobPhase, JobStats } from '../core/job-options.js';
import type { JobState } from './job-index.js';
import type { PayloadStore } from './store.js';
import { linkProblem, planProblem, type PipelineLink, type PipelinePlan, type StageView } from './pipeline-records.js';
import type { JobSettings, TaskRef } from './job-parts.js';

/** The job's manifest record: what `fj resume` needs to re-attach. */
export interface Manifest {
  version: 1;
  /** The task, as the coordinator named it (see {@link TaskRef}). */
  task: TaskRef;
  /** The input: a file (checked by hash on resume), or stored bytes. */
  input: { file: string; sha256: string } | { ref: string };
  paramsRef: string;
  queue: string;
  options: JobSettings;
  created: string;
  /** When the job first started (ms since the epoch): written by its first coordinator as it attached, kept by every later one. */
  started?: number;
  /** Tags of the coordinator runs that attached to the job (the first, then each `fj resume`): only answers to their messages count. */
  runs?: string[];
  /** A detached job (`fj submit`): the cluster coordinates it, and its output waits in the store for `fj result`. */
  detached?: DetachedInfo;
  /** A re-run of another job's failed items (`rerunFailed`): that job's id, and the results it kept, copied into this job's store data. */
  rerun?: { of: string; keptRef: string };
  /** A detached pipeline's own record: its stages (it runs no items; each stage is a job of its own). */
  plan?: PipelinePlan;
  /** A stage's job: the pipeline it belongs to, and which stage it is. */
  pipeline?: PipelineLink;
  /**
   * A detached job that moved to new code for its task (`onCodeChange:
   * 'follow'`, no live worker running its own): each move, from which code
   * hash to which, when (ms since the epoch) and by which worker.
   * `task.codeHash` names the code it runs now.
   */
  codeChanges?: Array<{ from: string; to: string; at: number; by: string }>;
}

/** What a detached job's manifest adds. */
export interface DetachedInfo {
  /** The job's human description. */
  label: string;
  /** When it was submitted (ms since the epoch). */
  submitted: number;
  /** How long its output and records are kept once it ends, ms. */
  resultTtlMs: number;
  /** Log level of the coordinating worker's job logs. */
  logLevel?: string;
  /** A delayed job (`fj submit --at/--in`): when it is due (ms since the epoch). */
  due?: number;
  /** A periodic job: the schedule (`fj schedule add`) and the tick (ISO time) it runs for. */
  schedule?: { name: string; tick: string };
}

/** How a detached job ended: its result record, written once, before anything else says it ended. */
export interface JobOutcome {
  state: 'succeeded' | 'failed' | 'cancelled';
  /** The output (msgpack), when it succeeded. */
  outputRef?: string;
  /** Why it failed or was cancelled: what `fj run` would have printed, and its exit code. */
  error?: {
    code: string;
    message: string;
    exitCode: number;
    /**
     * The error as data (fj's own errors only), so that a reader rebuilds it
     * with its class, as an attached run throws it ({@link outcomeError}): a
     * `TaskError` with its hook, item and original message and stack, an
     * `InputError` with its problems. A `FailuresError`'s items are the
     * record's `stats.failures`. Absent in records written before it was kept.
     */
    detail?: WireError;
  };
  /** The job's figures (failures capped at 100). */
  stats?: JobStatsRecord;
  /**
   * When items failed (or, fail-fast, never ran): the results the job had,
   * kept in its store data (msgpack) and how many items they cover, so that
   * `rerunFailed` runs only the items without one.
   */
  kept?: { ref: string; items: number };
  /** Who coordinated it to its end: the worker's `--name` (else `<host>:<pid>`). */
  coordinator: string;
  /** Where that coordinator ran: `<host>:<pid>`. */
  coordinatorHost?: string;
  /** When the job first started (ms since the epoch): its first coordinator's start, kept through takeovers. */
  started?: number;
  finished: number;
  /** The job ran attached (`fj run -e amqp`, `run()`): its output went to the process that ran it and is not kept here. */
  attached?: boolean;
}

/** The figures kept in a result record. */
export interface JobStatsRecord {
  /** Items in the job, when known (a job that ended early may not have seen them all). */
  total?: number | null;
  items: number;
  failed: number;
  retried: number;
  wallMs: number;
  messages: number;
  bytesPublished: number;
  bytesStored: number;
  failures: ItemFailure[];
}

/** The figures kept in a result record (failures capped at 100); `totalKnown`: whether `s.total` is the job's count, else null is kept. */
export function statsRecord(s: JobStats, totalKnown = true): JobStatsRecord {
  return {
    total: totalKnown ? s.total : null,
    items: s.items,
    failed: s.failed,
    retried: s.retried,
    wallMs: s.wallMs,
    messages: s.messages,
    bytesPublished: s.bytesPublished,
    bytesStored: s.bytesStored,
    failures: s.failures.slice(0, 100).map((f) => ({
      index: f.index,
      attempts: f.attempts,
      error: f.error,
      ...(f.worker === undefined ? {} : { worker: f.worker }),
    })),
  };
}

/** Items in a job by its result record's figures: the count kept, else (older records, a succeeded job) done + failed; null when unknown. */
export function totalOf(s: JobStatsRecord): number | null {
  if (typeof s.total === 'number') return s.total;
  return s.total === null ? null : s.items + s.failed;
}

/** The status record a job's end leaves (the same figures as its result record). */
export function endStatus(o: JobOutcome, task: string): JobStatus {
  const s = o.stats;
  return {
    state: o.state,
    task,
    total: s ? totalOf(s) : null,
    done: s?.items ?? 0,
    failed: s?.failed ?? 0,
    retried: s?.retried ?? 0,
    inFlightMessages: 0,
    coordinator: o.coordinator,
    ...(o.coordinatorHost ? { coordinatorHost: o.coordinatorHost } : {}),
    ...(o.started ? { started: o.started } : {}),
    ...(o.attached ? { attached: true } : {}),
    updated: new Date(o.finished).toISOString(),
    ...(o.error ? { error: o.error.message } : {}),
  };
}

/** What `fj run` prints for an error, as a result record keeps it (with its detail, for fj's own errors). */
export function describeError(err: unknown): NonNullable<JobOutcome['error']> {
  if (isInstance(err, FjError)) {
    // The failed items are in the record's stats (capped there): not kept twice.
    const { failures: _, ...detail } = toWire(err);
    return { code: err.code, message: err.message, exitCode: err.exitCode, detail };
  }
  const { name, message } = thrownParts(err);
  return { code: 'FJ_INTERNAL', message: `internal error (please report it): ${name}: ${message}`, exitCode: 1 };
}

/**
 * The error a job that did not succeed ended with, as the process that ran
 * it threw it: rebuilt with its class from the record's detail when there is
 * one (a `FailuresError` with the record's failed items), else an `FjError`
 * with the recorded code, message and exit code. Cancelled jobs: see the caller.
 */
export function outcomeError(o: JobOutcome): FjError {
  const e = o.error;
  if (!e) return new FjError('the job failed', 'FJ_INTERNAL', 1);
  if (e.detail) {
    const rebuilt = fromWire({ ...e.detail, ...(e.code === 'FJ_FAILURES' ? { failures: o.stats?.failures } : {}) });
    if (isInstance(rebuilt, FjError) && rebuilt.code === e.code) return rebuilt;
  }
  return new FjError(e.message, e.code, e.exitCode);
}

/** Writes a detached job's result record (signed, with a signer). */
export async function writeOutcome(
  store: PayloadStore,
  jobId: string,
  outcome: JobOutcome,
  signer?: Signer,
): Promise<void> {
  await store.setMeta(jobId, 'result', sealRecord(signer, 'result', jobId, JSON.stringify(outcome)));
}

/**
 * Reads a detached job's result record; undefined when it has none yet (or,
 * with a signer, it is not signed with the key). A record of the wrong shape
 * is a TransportError naming the job and the field ({@link outcomeProblem}),
 * never used.
 */
export async function readOutcome(
  store: PayloadStore,
  jobId: string,
  signer?: Signer,
): Promise<JobOutcome | undefined> {
  const raw = await store.getMeta(jobId, 'result');
  if (!raw) return undefined;
  let text: string;
  try {
    text = openRecord(signer, 'result', jobId, raw);
  } catch {
    return undefined;
  }
  return checked(jobId, 'result', text, outcomeProblem);
}

/** The first field of a result record that is not what fj writes (`stats.failures[0].error.message: expected a string`), else undefined. */
export function outcomeProblem(o: unknown): string | undefined {
  if (!isObject(o)) return 'the record: expected an object';
  if (!['succeeded', 'failed', 'cancelled'].includes(o.state as string))
    return 'state: expected succeeded, failed or cancelled';
  // A job run attached keeps no output in the store: it went to the process that ran it.
  if (o.state === 'succeeded' && typeof o.outputRef !== 'string' && o.attached !== true)
    return 'outputRef: expected a string';
  if (o.outputRef !== undefined && typeof o.outputRef !== 'string') return 'outputRef: expected a string';
  if (o.error !== undefined) {
    if (!isObject(o.error)) return 'error: expected an object';
    if (typeof o.error.message !== 'string') return 'error.message: expected a string';
    if (typeof o.error.code !== 'string') return 'error.code: expected a string';
    if (!count(o.error.exitCode)) return 'error.exitCode: expected a whole number';
    const d = o.error.detail;
    if (d !== undefined && !(isObject(d) && typeof d.code === 'string' && typeof d.message === 'string'))
      return 'error.detail: expected { code, message, … }';
  }
  if (o.stats !== undefined) {
    const p = statsProblem(o.stats);
    if (p) return `stats${p}`;
  }
  if (o.kept !== undefined && !(isObject(o.kept) && typeof o.kept.ref === 'string' && count(o.kept.items)))
    return 'kept: expected { ref, items }';
  if (typeof o.coordinator !== 'string') return 'coordinator: expected a string';
  if (o.started !== undefined && !count(o.started)) return 'started: expected a time';
  if (!count(o.finished)) return 'finished: expected a time';
  return undefined;
}

function statsProblem(s: unknown): string | undefined {
  if (!isObject(s)) return ': expected an object';
  for (const k of ['items', 'failed', 'retried', 'messages', 'bytesPublished', 'bytesStored'] as const)
    if (!count(s[k])) return `.${k}: expected a whole number from 0`;
  if (!(typeof s.wallMs === 'number' && Number.isFinite(s.wallMs) && s.wallMs >= 0))
    return '.wallMs: expected a number from 0';
  if (!Array.isArray(s.failures)) return '.failures: expected a list';
  for (const [i, f] of (s.failures as unknown[]).entries()) {
    const at = `.failures[${i}]`;
    if (!isObject(f)) return `${at}: expected an object`;
    if (!count(f.index)) return `${at}.index: expected a whole number from 0`;
    if (!count(f.attempts)) return `${at}.attempts: expected a whole number from 0`;
    if (!isObject(f.error)) return `${at}.error: expected an object`;
    for (const k of ['name', 'message'] as const)
      if (typeof f.error[k] !== 'string') return `${at}.error.${k}: expected a string`;
    for (const k of ['code', 'stack'] as const)
      if (f.error[k] !== undefined && typeof f.error[k] !== 'string') return `${at}.error.${k}: expected a string`;
  }
  return undefined;
}

/** The first field of a status record that is not what fj writes, else undefined. */
export function statusProblem(s: unknown): string | undefined {
  if (!isObject(s)) return 'the record: expected an object';
  if (!['scheduled', 'queued', 'running', 'succeeded', 'done', 'failed', 'cancelled'].includes(s.state as string))
    return 'state: expected scheduled, queued, running, succeeded, failed or cancelled';
  if (s.due !== undefined && !count(s.due)) return 'due: expected a time in ms since the epoch';
  if (typeof s.task !== 'string') return 'task: expected a string';
  if (s.total !== null && !count(s.total)) return 'total: expected a whole number or null';
  for (const k of ['done', 'failed', 'retried', 'inFlightMessages'] as const)
    if (!count(s[k])) return `${k}: expected a whole number from 0`;
  if (typeof s.coordinator !== 'string') return 'coordinator: expected a string';
  if (s.run !== undefined && typeof s.run !== 'string') return 'run: expected a string';
  if (s.stage !== undefined && typeof s.stage !== 'string') return 'stage: expected a string';
  if (typeof s.updated !== 'string') return 'updated: expected a string';
  if (s.error !== undefined && typeof s.error !== 'string') return 'error: expected a string';
  return undefined;
}

/** A record's JSON text parsed and checked by `problem`; a TransportError naming job, record and field when it is not sound. */
function checked<T>(jobId: string, name: string, text: string, problem: (v: unknown) => string | undefined): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw malformedRecord(jobId, name, 'not JSON');
  }
  const why = problem(value);
  if (why) throw malformedRecord(jobId, name, why);
  return value as T;
}

function malformedRecord(jobId: string, name: string, why: string): TransportError {
  return new TransportError(`job ${jobId}: its ${name} record in the store is malformed (${why}): not used`, {
    resumable: false,
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function count(v: unknown): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** The job's status record, rewritten as it runs (`fj status`). Its states are the index's ({@link JobState}). */
export interface JobStatus {
  state: JobState;
  /** While it runs: what it is doing. */
  phase?: JobPhase;
  task: string;
  total: number | null;
  done: number;
  failed: number;
  retried: number;
  /** Work messages published and not yet answered. */
  inFlightMessages: number;
  /** Who coordinates it: the worker's `--name` (else `<host>:<pid>`). */
  coordinator: string;
  /** Where that coordinator runs: `<host>:<pid>`. */
  coordinatorHost?: string;
  /** When the job first started (ms since the epoch), kept through takeovers. */
  started?: number;
  /** A detached pipeline's record: the stage it is at (`2/3 align`; its job is `<id>.2`). */
  stage?: string;
  /** The job runs attached (`fj run -e amqp`): its output goes to that process only. */
  attached?: boolean;
  /** The attached coordinator's run tag: `fj cancel` names it, so a stranger's cancel message is ignored. */
  run?: string;
  updated: string;
  error?: string;
  /** A `scheduled` (delayed) job: when it is due (ms since the epoch). */
  due?: number;
}

/** Where to find a job: the broker and store it ran with. */
export interface JobLocation {
  /**
   * Broker URL. Default `FJ_BROKER_URL`, else `amqp://guest:guest@127.0.0.1:5672`.
   * One URL, or several RabbitMQ nodes of one cluster separated by commas (`amqp://n1,amqp://n2`): tried in turn until one answers, the next one after a lost connection.
   */
  broker?: string;
  /** Default `FJ_STORE_URL`, else the default file store. */
  store?: string;
  /** The pool's signing key, when it signs (default `FJ_SIGNING_KEY` or `FJ_SIGNING_KEY_FILE`). */
  signingKey?: string;
  /**
   * The job's pool (work queue), for a job whose records no longer name it.
   * Default: the pool its manifest names, else `FJ_QUEUE`, else `fj.default`.
   */
  queue?: string;
}

/** A pool's work queue as the broker sees it. */
export interface PoolState {
  /** The pool's name (its work queue). */
  name: string;
  /** Messages waiting on it (of every job of the pool). */
  messages: number;
  /** Workers consuming it. */
  workers: number;
}

/** What `status()` finds. */
export interface JobReport {
  jobId: string;
  /** The coordinator's last status record; undefined when the store holds none. */
  status: JobStatus | undefined;
  /** The job's results queue: results waiting, and whether a coordinator consumes it. Undefined when it does not exist. */
  resultsQueue: { messages: number; coordinators: number } | undefined;
  /** The job's pool; undefined when its work queue does not exist on the broker. */
  pool?: PoolState;
  /** Once it has ended: its failed items as its result record keeps them (the first 100; index, attempts, error, worker). */
  failures?: ItemFailure[];
  /** A submitted pipeline: its stages, each with its job's state and figures, the one it is at marked `current`. */
  stages?: StageView[];
}

/** The note a worker leaves on a job whose message it dead-lettered unrun (see {@link writeRefusal}). */
export const REFUSAL_NOTE = 'refused';

/** What a refusal note says: who refused the job's message, why, and where the message went. */
export interface Refusal {
  by: string;
  reason: string;
  /** The pool whose dead-letter queue (`<pool>.dead`) holds the message. */
  pool: string;
  at: number;
}

/**
 * Leaves a note on job `jobId` that worker `by` dead-lettered its message
 * unrun, because the worker could not trust it (its signature is not the
 * pool's key, or the job is signed and the worker has no key). The note is
 * unsigned, as it must be (the worker cannot sign for the job's key): a
 * reader takes it as a hint for a person, never as the job's end; a waiter
 * stops waiting on it and says why (detached/handle.ts).
 */
export async function writeRefusal(store: PayloadStore, jobId: string, note: Refusal): Promise<void> {
  await store.setMeta(jobId, REFUSAL_NOTE, Buffer.from(JSON.stringify(note)));
}

/** Clears a refusal note (a worker that trusts the job's message takes it now). */
export async function clearRefusal(store: PayloadStore, jobId: string): Promise<void> {
  const raw = await store.getMeta(jobId, REFUSAL_NOTE);
  if (raw && raw.length > 0) await store.setMeta(jobId, REFUSAL_NOTE, new Uint8Array(0));
}

/** The refusal note of a job, checked for shape (its strings capped); undefined when there is none. */
export async function readRefusal(store: PayloadStore, jobId: string): Promise<Refusal | undefined> {
  const raw = await store.getMeta(jobId, REFUSAL_NOTE);
  if (!raw || raw.length === 0) return undefined;
  try {
    const n = JSON.parse(Buffer.from(raw).toString('utf8')) as Partial<Refusal>;
    // Data anyone who can write the store may have written: strings capped, control characters shown as `?`.
    const text = (v: unknown) =>
      typeof v === 'string' ? v.slice(0, 300).replace(/[\u0000-\u001f\u007f-\u009f]/g, '?') : undefined;
    const [by, reason, pool] = [text(n.by), text(n.reason), text(n.pool)];
    if (by === undefined || reason === undefined || pool === undefined || typeof n.at !== 'number') return undefined;
    return { by, reason, pool, at: n.at };
  } catch {
    return undefined;
  }
}

/** sha256 of bytes, hex (input files in the manifest). */
export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Writes the manifest record (signed, with a signer). */
export async function writeManifest(
  store: PayloadStore,
  jobId: string,
  manifest: Manifest,
  signer?: Signer,
): Promise<void> {
  await store.setMeta(jobId, 'manifest', sealRecord(signer, 'manifest', jobId, JSON.stringify(manifest)));
}

/**
 * Reads and checks the manifest record; UsageError when the job has none (it
 * finished, was cancelled or never ran in this store) or it is malformed.
 */
// eslint-disable-next-line complexity -- a gate on a stored record: one check per field, each with its own message
export async function readManifest(store: PayloadStore, jobId: string, signer?: Signer): Promise<Manifest> {
  const bytes = await store.getMeta(jobId, 'manifest');
  if (!bytes)
    throw new UsageError(
      `no job '${jobId}' in the store ${store.url}: it finished, was cancelled, or never started (pass the --store it ran with, or set $FJ_STORE_URL)`,
    );
  const text = openRecord(signer, 'manifest', jobId, bytes);
  let m: Manifest;
  try {
    m = JSON.parse(text) as Manifest;
  } catch {
    throw malformed(jobId, 'not JSON');
  }
  const str = (v: unknown) => typeof v === 'string';
  if (m?.version !== 1) throw malformed(jobId, 'unknown version');
  if (!m.task || !str(m.task.name) || !str(m.task.className) || !str(m.task.codeHash)) throw malformed(jobId, 'task');
  if (
    !m.input ||
    !(('ref' in m.input && str(m.input.ref)) || ('file' in m.input && str(m.input.file) && str(m.input.sha256)))
  )
    throw malformed(jobId, 'input');
  if (!str(m.paramsRef) || !str(m.queue) || typeof m.options !== 'object' || m.options === null)
    throw malformed(jobId, 'params, queue or options');
  if (m.runs !== undefined && !(Array.isArray(m.runs) && m.runs.every(str))) throw malformed(jobId, 'runs');
  const d = m.detached;
  if (
    m.rerun !== undefined &&
    !(typeof m.rerun === 'object' && m.rerun !== null && str(m.rerun.of) && str(m.rerun.keptRef))
  )
    throw malformed(jobId, 'rerun');
  if (
    d !== undefined &&
    !(
      typeof d === 'object' &&
      d !== null &&
      str(d.label) &&
      Number.isSafeInteger(d.submitted) &&
      Number.isSafeInteger(d.resultTtlMs) &&
      d.resultTtlMs > 0
    )
  )
    throw malformed(jobId, 'detached');
  const pipelineProblem =
    (m.plan !== undefined ? planProblem(m.plan) : undefined) ??
    (m.pipeline !== undefined ? linkProblem(m.pipeline) : undefined);
  if (pipelineProblem) throw malformed(jobId, pipelineProblem);
  return m;
}

function malformed(jobId: string, what: string): UsageError {
  return new UsageError(`job ${jobId}: its manifest record in the store is malformed (${what}); it cannot be resumed`);
}

/**
 * Reads the status record; undefined when there is none (with a signer: it
 * is not signed with the key). A record of the wrong shape is a
 * TransportError naming the job and the field ({@link statusProblem}).
 */
export async function readStatus(store: PayloadStore, jobId: string, signer?: Signer): Promise<JobStatus | undefined> {
  const raw = await store.getMeta(jobId, 'status');
  if (!raw) return undefined;
  let text: string;
  try {
    text = openRecord(signer, 'status', jobId, raw);
  } catch {
    return undefined;
  }
  const status = checked<JobStatus | (Omit<JobStatus, 'state'> & { state: 'done' })>(
    jobId,
    'status',
    text,
    statusProblem,
  );
  // Records written before one vocabulary said `done` for `succeeded`.
  return status.state === 'done' ? { ...status, state: 'succeeded' } : status;
}

/**
 * Rewrites a job's status record: writes never overlap, and a failed write
 * is only reported (a status record is advice, not the job's state).
 */
export class StatusWriter {
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: PayloadStore,
    private readonly jobId: string,
    private readonly onError: (err: Error) => void,
    private readonly signer?: Signer,
  ) {}

  write(status: JobStatus): void {
    const bytes = sealRecord(this.signer, 'status', this.jobId, JSON.stringify(status));
    this.writing = this.writing.then(() =>
      this.store.setMeta(this.jobId, 'status', bytes).catch((err) => this.onError(err as Error)),
    );
  }

  /** Waits for the writes made so far. */
  flushed(): Promise<void> {
    return this.writing;
  }
}
