/**
 * A job's records in the payload store: its manifest (what a coordinator
 * needs to run or re-attach to the job) and its status (rewritten as it
 * runs, read by `fj status`). Records are data: nothing here loads code, and
 * a record read back is checked field by field before anything uses it.
 * No transport code: the CLI, `fj resume` and a coordinator read them alike.
 */
import { createHash } from 'node:crypto';
import { UsageError, type ItemFailure } from './errors.js';
import { openRecord, sealRecord, type Signer } from './signing.js';
import type { PayloadStore } from './store/store.js';

/** The job's manifest record: what `fj resume` needs to re-attach. */
export interface Manifest {
  version: 1;
  /**
   * The task, as the coordinator named it. On resume, only names the task
   * for messages and checks (its code hash): the code that runs is the code
   * the resuming user names, never a module path read from the store.
   */
  task: { name: string; module: string | undefined; className: string; codeHash: string };
  /** The input: a file (checked by hash on resume), or stored bytes. */
  input: { file: string; sha256: string } | { ref: string };
  paramsRef: string;
  queue: string;
  options: { retries?: number; retryDelayMs: number; onFailure: string; maxFailures?: number | string; itemTimeoutMs?: number; inlineLimit: number };
  created: string;
  /** Tags of the coordinator runs that attached to the job (the first, then each `fj resume`): only answers to their messages count. */
  runs?: string[];
  /** A detached job (`fj submit`): the cluster coordinates it, and its output waits in the store for `fj result`. */
  detached?: DetachedInfo;
  /** A re-run of another job's failed items (`rerunFailed`): that job's id, and the results it kept, copied into this job's store data. */
  rerun?: { of: string; keptRef: string };
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
}

/** How a detached job ended: its result record, written once, before anything else says it ended. */
export interface JobOutcome {
  state: 'succeeded' | 'failed' | 'cancelled';
  /** The output (msgpack), when it succeeded. */
  outputRef?: string;
  /** Why it failed or was cancelled: what `fj run` would have printed, and its exit code. */
  error?: { code: string; message: string; exitCode: number };
  /** The job's figures (failures capped at 100). */
  stats?: JobStatsRecord;
  /**
   * When items failed (or, fail-fast, never ran): the results the job had,
   * kept in its store data (msgpack) and how many items they cover, so that
   * `rerunFailed` runs only the items without one.
   */
  kept?: { ref: string; items: number };
  /** Who coordinated it to its end. */
  coordinator: string;
  started?: number;
  finished: number;
}

/** The figures kept in a result record. */
export interface JobStatsRecord {
  items: number;
  failed: number;
  retried: number;
  wallMs: number;
  messages: number;
  bytesPublished: number;
  bytesStored: number;
  failures: ItemFailure[];
}

/** Writes a detached job's result record (signed, with a signer). */
export async function writeOutcome(store: PayloadStore, jobId: string, outcome: JobOutcome, signer?: Signer): Promise<void> {
  await store.setMeta(jobId, 'result', sealRecord(signer, 'result', jobId, JSON.stringify(outcome)));
}

/** Reads a detached job's result record; undefined when it has none yet (or it is not signed with the key, or malformed). */
export async function readOutcome(store: PayloadStore, jobId: string, signer?: Signer): Promise<JobOutcome | undefined> {
  const raw = await store.getMeta(jobId, 'result');
  if (!raw) return undefined;
  try {
    const o = JSON.parse(openRecord(signer, 'result', jobId, raw)) as JobOutcome;
    if (!['succeeded', 'failed', 'cancelled'].includes(o?.state)) return undefined;
    if (o.state === 'succeeded' && typeof o.outputRef !== 'string') return undefined;
    if (o.error !== undefined && (typeof o.error.message !== 'string' || typeof o.error.exitCode !== 'number')) return undefined;
    return o;
  } catch {
    return undefined;
  }
}

/** The job's status record, rewritten as it runs (`fj status`). */
export interface JobStatus {
  state: 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
  task: string;
  total: number | null;
  done: number;
  failed: number;
  retried: number;
  /** Work messages published and not yet answered. */
  inFlightMessages: number;
  coordinator: string;
  /** The attached coordinator's run tag: `fj cancel` names it, so a stranger's cancel message is ignored. */
  run?: string;
  updated: string;
  error?: string;
}

/** Where to find a job: the broker and store it ran with. */
export interface JobLocation {
  /** Default `FJ_BROKER_URL`, else `amqp://guest:guest@127.0.0.1:5672`. */
  broker?: string;
  /** Default `FJ_STORE_URL`, else the default file store. */
  store?: string;
  /** The pool's signing key, when it signs (default `FJ_SIGNING_KEY` or `FJ_SIGNING_KEY_FILE`). */
  signingKey?: string;
}

/** What `status()` finds. */
export interface JobReport {
  jobId: string;
  /** The coordinator's last status record; undefined when the store holds none. */
  status: JobStatus | undefined;
  /** The job's results queue: results waiting, and whether a coordinator consumes it. Undefined when it does not exist. */
  resultsQueue: { messages: number; coordinators: number } | undefined;
}

/** The record `fj cancel` leaves for a job not attached yet: its coordinator stops before publishing anything. */
export const CANCEL_RECORD = 'cancel';

/** Whether `fj cancel` left a cancel for the job before it attached (a record not signed with the key does not count). */
export async function cancelRecorded(store: PayloadStore, jobId: string, signer?: Signer): Promise<boolean> {
  const raw = await store.getMeta(jobId, CANCEL_RECORD);
  if (!raw) return false;
  try {
    openRecord(signer, CANCEL_RECORD, jobId, raw);
    return true;
  } catch {
    return false;
  }
}

/** sha256 of bytes, hex (input files in the manifest). */
export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Writes the manifest record (signed, with a signer). */
export async function writeManifest(store: PayloadStore, jobId: string, manifest: Manifest, signer?: Signer): Promise<void> {
  await store.setMeta(jobId, 'manifest', sealRecord(signer, 'manifest', jobId, JSON.stringify(manifest)));
}

/**
 * Reads and checks the manifest record; UsageError when the job has none (it
 * finished, was cancelled or never ran in this store) or it is malformed.
 */
export async function readManifest(store: PayloadStore, jobId: string, signer?: Signer): Promise<Manifest> {
  const bytes = await store.getMeta(jobId, 'manifest');
  if (!bytes) throw new UsageError(`no job '${jobId}' in the store ${store.url}: it finished, was cancelled, or never started (resume needs the --store the job ran with)`);
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
  if (!m.input || !(('ref' in m.input && str(m.input.ref)) || ('file' in m.input && str(m.input.file) && str(m.input.sha256)))) throw malformed(jobId, 'input');
  if (!str(m.paramsRef) || !str(m.queue) || typeof m.options !== 'object' || m.options === null) throw malformed(jobId, 'params, queue or options');
  if (m.runs !== undefined && !(Array.isArray(m.runs) && m.runs.every(str))) throw malformed(jobId, 'runs');
  const d = m.detached;
  if (m.rerun !== undefined && !(typeof m.rerun === 'object' && m.rerun !== null && str(m.rerun.of) && str(m.rerun.keptRef))) throw malformed(jobId, 'rerun');
  if (d !== undefined && !(typeof d === 'object' && d !== null && str(d.label) && Number.isSafeInteger(d.submitted) && Number.isSafeInteger(d.resultTtlMs) && d.resultTtlMs > 0)) throw malformed(jobId, 'detached');
  return m;
}

function malformed(jobId: string, what: string): UsageError {
  return new UsageError(`job ${jobId}: its manifest record in the store is malformed (${what}); it cannot be resumed`);
}

/** Reads the status record; undefined when there is none or it does not parse (with a signer: is not signed with the key). */
export async function readStatus(store: PayloadStore, jobId: string, signer?: Signer): Promise<JobStatus | undefined> {
  const raw = await store.getMeta(jobId, 'status');
  if (!raw) return undefined;
  try {
    return JSON.parse(openRecord(signer, 'status', jobId, raw)) as JobStatus;
  } catch {
    return undefined;
  }
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
    this.writing = this.writing.then(() => this.store.setMeta(this.jobId, 'status', bytes).catch((err) => this.onError(err as Error)));
  }

  /** Waits for the writes made so far. */
  flushed(): Promise<void> {
    return this.writing;
  }
}
