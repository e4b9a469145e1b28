/**
 * `submit()`: hands a job to the cluster and returns at once. The input is
 * validated here (an invalid one queues nothing), stored once in the job's
 * store data, and the job's records (manifest, status, index entry) are
 * written before its message goes on the pool's jobs queue; a worker of the
 * pool takes it and coordinates it (worker/job-consumer.ts).
 */
import { randomUUID } from 'node:crypto';
import { encodeChecked } from '../core/codec.js';
import { InputError, UsageError } from '../core/errors.js';
import { checkJobId } from '../core/job-id.js';
import type { Manifest } from '../store/job-records.js';
import {
  atMost,
  MAX_RESULT_TTL_MS,
  normalizeOptions,
  OptionError,
  positiveInt,
  type RunOptions,
} from '../core/job-options.js';
import type { Env } from '../core/location.js';
import { signerFrom } from '../core/signing.js';
import { DEFAULT_RESULT_TTL_MS, MAX_LABEL } from '../store/job-index.js';
import { openStore } from '../store/open.js';
import type { TaskClass } from '../task/fork-join-task.js';
import { resolveTask, type TaskInfo } from '../task/registry.js';
import { connect, DEFAULT_QUEUE, withHeartbeat } from '../broker/amqp.js';
import { queueJob } from './queue-job.js';
import { JobHandle } from './handle.js';
import { keyMismatch, readBeacons } from '../broker/beacon.js';
import { dueTime, holdJob, type DelayOptions } from './delay.js';

/** A job's output and records are kept this long after it ends, unless set otherwise: 7 days. */
export { DEFAULT_RESULT_TTL_MS };

/**
 * Options of {@link submit}: the job's own settings, as for `run()`, where and how long it lives, and
 * when it starts (`at` or `delayMs`: a delayed job, `scheduled` until then; default: at once).
 */
export interface SubmitOptions
  extends
    DelayOptions,
    Pick<
      RunOptions,
      | 'broker'
      | 'store'
      | 'queue'
      | 'jobId'
      | 'inlineLimit'
      | 'retries'
      | 'retryDelayMs'
      | 'onFailure'
      | 'maxFailures'
      | 'maxResults'
      | 'itemTimeoutMs'
      | 'rateLimit'
      | 'onCodeChange'
      | 'weight'
      | 'priority'
      | 'tenant'
      | 'queueType'
      | 'signingKey'
    > {
  /** The job's human description, shown wherever jobs are listed. Default: the task's `description`, else its name. At most 200 characters. */
  label?: string;
  /** How long the job's output and records are kept once it ends, ms. Default `FJ_RESULT_TTL_MS`, else 7 days. */
  resultTtlMs?: number;
  /** What to call the input in error messages (a file name). Default `input`. */
  source?: string;
}

/**
 * Validates `input`, stores it and the job's records, queues the job on its
 * pool and resolves to a {@link JobHandle} (in milliseconds, whatever the
 * job's size: nothing of the job runs here). With `at` or `delayMs` the job
 * is held in the store, `scheduled`, and its pool's scheduler queues it when
 * it is due (detached/delay.ts; no broker is needed to submit it). Rejects
 * with InputError (an invalid input; nothing is queued), UsageError (a job
 * id in use, a bad option, a due time in the past) or TransportError (the
 * broker or store cannot be reached).
 *
 * ```ts
 * const job = await submit('wordcount', { documents }, { label: 'count the corpus' });
 * res.json({ id: job.id });                      // a web handler answers at once
 * const output = await attach(id).result();      // anyone, later, anywhere
 * ```
 */
export async function submit(
  task: TaskClass | string,
  input: unknown,
  options: SubmitOptions = {},
): Promise<JobHandle> {
  return submitJob(task, input, options);
}

/** What a re-run of another job's failed items adds to a submission (see `rerunFailed`). */
export interface RerunOf {
  /** The job whose failed items run again. */
  of: string;
  /** Its task's name: the re-run must run the same task. */
  task: string;
  /** The results it kept (msgpack KeptResults), copied into the new job's store data. */
  kept: Uint8Array;
}

/**
 * Validates a copy of the input against the task's schema and resolves to it (defaults applied), or rejects
 * with InputError. The default runs the task's validator in this thread; the dashboard's runs on a thread
 * of its own, with a time limit.
 */
export type InputCheck = (info: TaskInfo, input: unknown, source: string | undefined) => Promise<unknown>;

const checkHere: InputCheck = async (info, input, source) => {
  let valid: unknown;
  try {
    valid = structuredClone(input);
  } catch (err) {
    throw new InputError(`${source ?? 'input'} is not plain data: ${(err as Error).message}`, [], {
      cause: err,
    });
  }
  await info.validate(valid, source);
  return valid;
};

/** {@link submit}, for a re-run of another job's failed items too, with the input checked by `check`. */
export async function submitJob(
  task: TaskClass | string,
  input: unknown,
  options: SubmitOptions,
  rerun?: RerunOf,
  check: InputCheck = checkHere,
): Promise<JobHandle> {
  const info = await resolveTask(task);
  if (rerun && rerun.task !== info.name)
    throw new UsageError(`job ${rerun.of} ran task ${rerun.task}, not ${info.name}`);
  const opts = normalizeOptions({ ...options, executor: 'amqp' });
  const resultTtlMs = resultTtl(options.resultTtlMs);
  const label = options.label ?? (info.description || info.name);
  if (typeof label !== 'string')
    throw new OptionError(`Expected \`label\` to be a string, got ${label === null ? 'null' : typeof label}`); // String() of {toString: 1} throws
  const due = dueTime(options);
  const valid = await check(info, input, options.source);
  const jobId = checkJobId(options.jobId ?? randomUUID());
  const queue = opts.queue ?? info.queue ?? DEFAULT_QUEUE;
  const signer = signerFrom(opts.signingKey);
  const store = await openStore(opts.store || undefined);
  try {
    if (await store.getMeta(jobId, 'manifest'))
      throw new UsageError(`job id ${jobId} is in use: pick another, or 'fj forget ${jobId}' first`);
    // Workers that hold another signing key would drop the job (or it their results): refuse before anything is written.
    const mismatch = keyMismatch(await readBeacons(store, signer), queue, signer?.fingerprint);
    if (mismatch) throw new UsageError(`job not submitted: ${mismatch}`);
    // A delayed job needs no broker now: its pool's scheduler publishes it when it is due (delay.ts).
    const conn = due === undefined ? await connect(withHeartbeat(opts.broker), `submit ${jobId}`) : undefined;
    try {
      const submitted = Date.now();
      const detached = { label: label.slice(0, MAX_LABEL), submitted, resultTtlMs, ...(due ? { due } : {}) };
      const manifest: Manifest = {
        version: 1,
        task: { name: info.name, module: info.moduleUrl, className: info.cls.name, codeHash: info.codeHash },
        input: { ref: await store.put(jobId, encodeChecked(valid)) },
        paramsRef: '',
        queue,
        options: manifestOptions(opts),
        created: new Date(submitted).toISOString(),
        runs: [],
        detached,
        ...(rerun ? { rerun: { of: rerun.of, keptRef: await store.put(jobId, rerun.kept) } } : {}),
      };
      if (conn) await queueJob(store, conn, jobId, manifest, signer);
      else await holdJob(store, jobId, manifest, signer);
    } finally {
      await conn?.close().catch(() => {});
    }
  } finally {
    await store.close();
  }
  return new JobHandle(jobId, { broker: options.broker, store: options.store, signingKey: options.signingKey });
}

/** A job manifest's `options`, from normalized options. */
export function manifestOptions(opts: ReturnType<typeof normalizeOptions>): Manifest['options'] {
  return {
    retries: opts.retries,
    retryDelayMs: opts.retryDelayMs,
    onFailure: opts.onFailure,
    maxFailures: opts.maxFailuresSpec,
    maxResults: opts.maxResults,
    itemTimeoutMs: opts.itemTimeoutMs,
    rateLimit: opts.rateLimit,
    inlineLimit: opts.inlineLimit,
    onCodeChange: opts.onCodeChange,
    ...(opts.weight === 1 ? {} : { weight: opts.weight }),
    ...(opts.priority === 0 ? {} : { priority: opts.priority }),
    ...(opts.tenant === undefined ? {} : { tenant: opts.tenant }),
    queueType: opts.queueType,
  };
}

/**
 * The retention of a job's output: the option, else `FJ_RESULT_TTL_MS`, else
 * 7 days; at most {@link MAX_RESULT_TTL_MS} (10 years). OptionError naming
 * what is wrong.
 */
export function resultTtl(option: number | undefined, env: Env = process.env): number {
  if (option !== undefined)
    return atMost('resultTtlMs', positiveInt('resultTtlMs', option), MAX_RESULT_TTL_MS, 'ms (10 years)');
  const raw = env.FJ_RESULT_TTL_MS;
  if (raw === undefined || raw === '') return DEFAULT_RESULT_TTL_MS;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_RESULT_TTL_MS)
    throw new OptionError(
      `Expected FJ_RESULT_TTL_MS to be a whole number of milliseconds from 1 to ${MAX_RESULT_TTL_MS} (10 years), got \`${raw}\``,
    );
  return n;
}
