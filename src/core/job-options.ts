/**
 * `RunOptions`: the one options path for `run()`, the CLI and benchmarks.
 * {@link normalizeOptions} fills the defaults and rejects bad values with a
 * TypeError naming the option and echoing the value.
 */
import { availableParallelism } from 'node:os';
import type { ItemFailure } from './errors.js';
import { isLogLevel, LOG_FORMATS, type LogFormat, type LogLevel } from './log.js';
import { redactUrls } from './url.js';
import { brokerUrlProblem, queueNameProblem, showValue } from './address.js';
import { locate, QUEUE_TYPE_ENV, QUEUE_TYPES, type Env, type QueueType } from './location.js';

/**
 * A bad option value: a TypeError (as p-queue and node throw for bad
 * arguments) that names the option and echoes the value. The CLI reports it
 * as a usage error (exit 2).
 */
export class OptionError extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = 'OptionError';
  }
}

/** The executors fj ships. */
export const EXECUTORS = ['eager', 'local', 'amqp'] as const;
/** Where items run: see the README's "Executors". */
export type ExecutorName = (typeof EXECUTORS)[number];

/** Progress of a job, reported after every finished batch of items. */
export interface Progress {
  /** Items finished so far. */
  done: number;
  /** Items in the job, once known (setup returned an array, or it has been consumed). */
  total: number | undefined;
  /** What the job is doing: `setup` (before its first item), `items`, or `join` (every item settled, `join` runs). */
  phase?: JobPhase;
  /** In a pipeline, the stage this progress is of: `2/3 align` (its number, the stage count, its name). */
  stage?: string;
}

/** A running job's phase: `setup` (no item seen yet), `items` (items running), `join` (every item settled; `join` runs). */
export type JobPhase = 'setup' | 'items' | 'join';

/** Figures about one job (never part of its output). */
export interface JobStats {
  /** Items that produced a result (kept for compatibility: the same as `succeeded`). */
  items: number;
  /** Items `setup` yielded: `succeeded + failed`. */
  total: number;
  /** Items that produced a result and went into the join. */
  succeeded: number;
  /** Messages sent to workers (thread batches for `local`, broker messages for `amqp`, 0 for `eager`). */
  messages: number;
  /** Bytes of encoded items and results sent between the job and its workers (thread messages or broker message bodies; 0 for `eager`). */
  bytesPublished: number;
  /** Bytes written to the payload store: params, and items and results over the inline limit (`amqp` only). */
  bytesStored: number;
  /** Wall-clock milliseconds from validation to output. */
  wallMs: number;
  /** Attempts beyond each item's first (retries, and re-runs after a timeout). */
  retried: number;
  /** Items that failed for good (`collect` policy; with `fail-fast` the job stops at the first). */
  failed: number;
  /** The failed items: index, attempts and the last error. */
  failures: ItemFailure[];
}

/** What happens when an item has used up its retries. */
export type FailurePolicy = 'fail-fast' | 'collect';

/** What an amqp job does when no live worker of its pool runs its task's code any more: see `RunOptions.onCodeChange`. */
export type CodeChangePolicy = 'fail' | 'follow';

/** The code-change policies. */
export const CODE_CHANGE_POLICIES = ['fail', 'follow'] as const;

/** Options of `run()`. Every field is optional. */
export interface RunOptions {
  /** Where items run. Default `'local'`. */
  executor?: ExecutorName;
  /** Items (local: threads; amqp: in flight per worker is the worker's own setting) processed at once. Default: available cores. */
  concurrency?: number;
  /** Cancels the job: hooks see it as `ctx.signal`. */
  signal?: AbortSignal;
  /** Called as items finish. */
  onProgress?: (progress: Progress) => void;
  /** Called once with the job's figures, after the join. */
  onStats?: (stats: JobStats) => void;
  /**
   * amqp: called once the job exists on the broker (its results queue
   * declared, this coordinator attached), with its id: from then on
   * `status()`, `cancel()` and `resume()` know it. Not called when the job
   * fails before (the broker or store cannot be reached).
   */
  onAttached?: (job: { jobId: string }) => void;
  /** Log level for the framework and `ctx.log`. Default `'warn'`. */
  logLevel?: LogLevel;
  /** How log lines look: `'text'` (default) or `'json'`, one object per line (`time`, `level`, `scope`, `msg`) for log collectors. */
  logFormat?: LogFormat;
  /** Path of a services module (default export builds `ctx.services`). Default: none. */
  services?: string;
  /**
   * amqp: broker URL. Default `FJ_BROKER_URL`, else `amqp://guest:guest@127.0.0.1:5672`.
   * One URL, or several RabbitMQ nodes of one cluster separated by commas (`amqp://n1,amqp://n2`): tried in turn until one answers, the next one after a lost connection.
   * Must be `amqp://` or `amqps://` with a port from 1 to 65535 and valid
   * percent-encoding (checked before connecting).
   */
  broker?: string;
  /** amqp: payload store URL (`file://DIR`, `redis://HOST:PORT[/DB][?prefix=NAME]`, see `openStore`). Default `FJ_STORE_URL`, else a directory under the OS temp dir. */
  store?: string;
  /**
   * amqp: work queue (worker pool). Default: the task's `static queue`, else
   * `FJ_QUEUE`, else `fj.default`. 1-250 bytes of letters, digits, `.`, `_`,
   * `:`, `-`, not starting with `amq.` (checked before connecting).
   */
  queue?: string;
  /**
   * amqp: the queue type of the pool's queues and of the job's results
   * queue: `'classic'` or `'quorum'` (replicated over a RabbitMQ cluster's
   * nodes, see docs/scaling.md). Every client of a pool must use the same
   * type: a queue that exists with the other type fails the job with a
   * UsageError naming it and both types. Default `FJ_QUEUE_TYPE`, else `'classic'`.
   */
  queueType?: QueueType;
  /** amqp: job id (names the results queue and store keys). Default: a random UUID. */
  jobId?: string;
  /** amqp: keep the job's data in the store after it ends. Default `false`. */
  keep?: boolean;
  /** amqp: items and results larger than this many bytes travel by store reference. Default 65536. */
  inlineLimit?: number;
  /**
   * Attempts after an item's first failure. Default: the task's
   * `static retries`, else 0. A hook that throws `UnrecoverableError` is not
   * retried; neither is a result that cannot be encoded.
   */
  retries?: number;
  /**
   * Base delay before a retry, in milliseconds: attempt n waits a random time
   * between half and all of `retryDelayMs * 2^(n-1)`, at most 60 s. Default 1000.
   */
  retryDelayMs?: number;
  /**
   * `'fail-fast'` (default): the job stops at the first item that has used
   * up its retries. `'collect'`: failed items are left out, `join` runs on
   * the others and sees the failures in `ctx.failures`.
   */
  onFailure?: FailurePolicy;
  /**
   * `collect` only: the job fails once more items than this have failed: a
   * count (`10`) or a share of the items (`'5%'`). Default: no limit.
   */
  maxFailures?: number | `${number}%`;
  /**
   * The most results the coordinator holds for `join`, for a task without
   * `combine` (it holds every result until `join`): a job whose `setup`
   * yields more items fails at once with `LimitError`, naming the limit,
   * instead of growing its coordinator until it runs out of memory. A task
   * with `combine` (or a `FoldTask`) has its results merged as they arrive
   * and is not limited. Default {@link DEFAULT_MAX_RESULTS} (10,000,000).
   */
  maxResults?: number;
  /**
   * An attempt running longer than this (milliseconds) fails and is retried
   * elsewhere; a late result of it is ignored. local and amqp stop the
   * thread running it; eager can only abort `ctx.signal`. Default: none.
   */
  itemTimeoutMs?: number;
  /**
   * At most this many items started a second (a positive number; `0.5` is
   * one every 2 s), for a `process` that calls a service with a quota.
   * Held across the whole job, on every executor: the coordinator lets
   * each batch through only when the job's rate allows (a token bucket of
   * one second's items: after a pause, up to that many start at once).
   * Retried attempts count. On amqp it holds across every worker of the
   * pool (the coordinator paces the whole job), and the rated jobs of the
   * task running on the pool at the same time share it by weight. Default:
   * the task's `static rateLimit`, else none.
   */
  rateLimit?: number;
  /**
   * amqp: what the job does when its pool has workers but, for 5 s, none
   * runs the job's code for its task (a rolling deploy replaced the last
   * one). Items always go only to workers that run the job's code (never to
   * another version). `'fail'` (default): the job fails, naming the versions
   * the pool's workers run. `'follow'`: when they all run one other version,
   * the job's remaining items run on it, and the job's log says so (items
   * answered before ran the old code; `setup` and `join` run where the job
   * is coordinated). A pool with no worker at all is neither: the job waits.
   */
  onCodeChange?: CodeChangePolicy;
  /**
   * amqp: the job's weight among the jobs of its priority running on its
   * pool at once: they share the pool's slots in proportion to their
   * weights (a job of weight 2 gets twice the slots of a job of weight 1).
   * A number above 0, at most 1,000,000. Default 1.
   */
  weight?: number;
  /**
   * amqp: the job's priority on its pool, a whole number from -100 to 100:
   * the jobs of the highest priority present take the pool's slots first;
   * a job of a lower priority keeps a floor (2 messages in flight, so at
   * least one item running) and gets whatever the higher ones cannot use.
   * Default 0.
   */
  priority?: number;
  /**
   * amqp: who the job is run for (a team, a customer): 1-100 letters,
   * digits and `. _ : @ -`. Within a priority, a pool's slots are shared
   * equally between tenants first (the jobs without a tenant count
   * together as one more tenant), then between each tenant's jobs by weight; a pool
   * can cap a tenant's share (`fj worker --tenant-cap`). Default: none.
   */
  tenant?: string;
  /**
   * Items each worker thread runs at once, for a `process` that awaits I/O
   * (see `ForkJoinTask.concurrency`, which it overrides) on local and
   * eager. amqp: each message then holds at least that many items, while
   * the lanes are the `fj worker`'s own `itemConcurrency`, else the task's.
   * Default: the task's `static concurrency` (1 unless set).
   */
  itemConcurrency?: number;
  /**
   * amqp: the key that signs and checks every message and job record
   * (HMAC-SHA256; at least 16 bytes; the same on every worker of the pool).
   * Default `FJ_SIGNING_KEY`, else the file `FJ_SIGNING_KEY_FILE` names, else
   * none: nothing is signed.
   */
  signingKey?: string;
  /**
   * eager only: after the job, run it again under other groupings of its
   * items into batches (all in one, each alone, random runs, items taken
   * out, items scattered) and fail with `LawsError`, naming two groupings
   * that disagree, when the outputs differ: the test of a task's `combine`
   * or `fold` laws. `true` for the defaults, or `{ batchings, seed }`.
   * Tasks without `combine` run once. Default: off.
   */
  checkLaws?: boolean | LawCheckOptions;
}

/** `checkLaws` settings. */
export interface LawCheckOptions {
  /** Groupings tried besides the eager run's own. Default 6. */
  batchings?: number;
  /** Seed of the random groupings (a failure's message names it: pass it to repeat them). Default: random. */
  seed?: number;
}

/** `checkLaws` with its defaults filled in. */
export interface LawCheck {
  batchings: number;
  seed: number;
}

/** The {@link RunOptions} that stay optional once defaults are filled in (they have none). */
type WithoutDefault =
  | 'signal'
  | 'onProgress'
  | 'onStats'
  | 'onAttached'
  | 'services'
  | 'queue'
  | 'jobId'
  | 'retries'
  | 'itemTimeoutMs'
  | 'rateLimit'
  | 'itemConcurrency'
  | 'signingKey'
  | 'tenant';

/** {@link RunOptions} with every default filled in. */
export type NormalizedOptions = Required<Omit<RunOptions, WithoutDefault | 'maxFailures' | 'checkLaws'>> &
  Pick<RunOptions, WithoutDefault> & {
    /** `maxFailures` as a function of the item count. */
    maxFailures: (total: number) => number;
    /** `maxFailures` as given. */
    maxFailuresSpec: number | string | undefined;
    /** `checkLaws` with defaults, or undefined when off. */
    checkLaws: LawCheck | undefined;
  };

/** The failure policies. */
export const FAILURE_POLICIES = ['fail-fast', 'collect'] as const;

/** The most results a coordinator holds for `join` (a task without `combine`), unless set otherwise (`maxResults`). */
export const DEFAULT_MAX_RESULTS = 10_000_000;

/** Items and results larger than this many bytes travel by store reference, unless set otherwise. */
export const DEFAULT_INLINE_LIMIT = 65536;

export { DEFAULT_BROKER } from './location.js';

/**
 * The longest a detached job's output and records may be kept (`resultTtlMs`,
 * `--result-ttl`), in days: 10 years. Bounded so that an expiry stays a
 * date the job index can name and sweep.
 */
export const MAX_RESULT_TTL_DAYS = 3650;

/** {@link MAX_RESULT_TTL_DAYS} in milliseconds. */
export const MAX_RESULT_TTL_MS = MAX_RESULT_TTL_DAYS * 24 * 3600 * 1000;

/** The longest a timer can wait, ms (2^31 - 1, about 24.8 days): Node fires a longer `setTimeout` at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

function nonNegativeInt(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new OptionError(
      `Expected \`${name}\` to be an integer from 0 and up, got \`${String(value)}\` (${typeof value})`,
    );
  }
  return value;
}

/** `maxFailures` (`10`, `'10'` or `'5%'`) as a limit for a given item count. */
export function parseMaxFailures(value: unknown): (total: number) => number {
  if (value === undefined) return () => Infinity;
  if (typeof value === 'number') {
    const n = nonNegativeInt('maxFailures', value);
    return () => n;
  }
  const m = typeof value === 'string' ? /^(\d+(?:\.\d+)?)(%?)$/.exec(value.trim()) : null;
  if (!m || (m[2] && Number(m[1]) > 100) || (!m[2] && !Number.isInteger(Number(m[1])))) {
    throw new OptionError(
      `Expected \`maxFailures\` to be a count like 10 or a share like '5%', got \`${String(value)}\``,
    );
  }
  const x = Number(m[1]);
  return m[2] ? (total) => Math.floor((total * x) / 100) : () => x;
}

/** `value` when it is a finite number above 0; OptionError naming the option otherwise. */
export function positiveRate(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new OptionError(
      `Expected \`${name}\` to be a number of items a second above 0, got \`${String(value)}\` (${typeof value})`,
    );
  }
  return value;
}

/** `value` when it is an integer from 1 and up; OptionError naming the option otherwise. */
export function positiveInt(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new OptionError(
      `Expected \`${name}\` to be an integer from 1 and up, got \`${String(value)}\` (${typeof value})`,
    );
  }
  return value;
}

/** `value` when it is at most `max`; OptionError naming the option and the maximum otherwise. */
export function atMost(name: string, value: number, max: number, unit: string): number {
  if (value > max) throw new OptionError(`Expected \`${name}\` to be at most ${max} ${unit}, got \`${value}\``);
  return value;
}

/** Fills defaults (option < environment < built-in default) and validates every field. */
export function normalizeOptions(options: RunOptions = {}, env: Env = process.env): NormalizedOptions {
  const executor = options.executor ?? 'local';
  if (!EXECUTORS.includes(executor)) {
    throw new OptionError(`Expected \`executor\` to be one of ${EXECUTORS.join(', ')}, got \`${String(executor)}\``);
  }
  const logLevel = options.logLevel ?? 'warn';
  if (!isLogLevel(logLevel))
    throw new OptionError(
      `Expected \`logLevel\` to be silent, error, warn, info or debug, got \`${String(logLevel)}\``,
    );
  const logFormat = options.logFormat ?? 'text';
  if (!LOG_FORMATS.includes(logFormat))
    throw new OptionError(`Expected \`logFormat\` to be ${LOG_FORMATS.join(' or ')}, got \`${String(logFormat)}\``);
  for (const fn of ['onProgress', 'onStats', 'onAttached'] as const) {
    if (options[fn] !== undefined && typeof options[fn] !== 'function')
      throw new OptionError(`Expected \`${fn}\` to be a function, got \`${typeof options[fn]}\``);
  }
  const where = locate(options, env);
  const { broker, queue } = where;
  if (executor === 'amqp') {
    // Before anything connects: a name or URL the broker or amqplib would choke on is the caller's mistake.
    const badUrl = brokerUrlProblem(broker);
    if (badUrl)
      throw new OptionError(
        `Expected \`broker\`${where.from.broker === 'env' ? ' (from $FJ_BROKER_URL)' : ''} to be a broker URL, got ${showValue(redactUrls(broker))}: ${badUrl}`,
      );
    const badQueue = queue === undefined ? undefined : queueNameProblem(queue);
    if (badQueue)
      throw new OptionError(
        `Expected \`queue\`${where.from.queue === 'env' ? ' (from $FJ_QUEUE)' : ''} to be a RabbitMQ queue name, got ${showValue(queue!)}: ${badQueue}`,
      );
  }
  return {
    ...options,
    executor,
    logLevel,
    logFormat,
    concurrency: positiveInt('concurrency', options.concurrency ?? availableParallelism()),
    broker,
    store: where.store,
    queue,
    queueType: resolveQueueType(options.queueType, env),
    keep: options.keep ?? false,
    inlineLimit: positiveInt('inlineLimit', options.inlineLimit ?? DEFAULT_INLINE_LIMIT),
    retries: options.retries === undefined ? undefined : nonNegativeInt('retries', options.retries),
    retryDelayMs: nonNegativeInt('retryDelayMs', options.retryDelayMs ?? 1000),
    onFailure: policy(options.onFailure),
    onCodeChange: codeChangePolicy(options.onCodeChange),
    maxFailures: parseMaxFailures(options.maxFailures),
    maxFailuresSpec: options.maxFailures,
    maxResults: positiveInt('maxResults', options.maxResults ?? DEFAULT_MAX_RESULTS),
    rateLimit: options.rateLimit === undefined ? undefined : positiveRate('rateLimit', options.rateLimit),
    itemTimeoutMs:
      options.itemTimeoutMs === undefined
        ? undefined
        : atMost('itemTimeoutMs', positiveInt('itemTimeoutMs', options.itemTimeoutMs), MAX_TIMER_MS, 'ms'),
    checkLaws: lawCheck(options.checkLaws, executor),
    itemConcurrency:
      options.itemConcurrency === undefined ? undefined : positiveInt('itemConcurrency', options.itemConcurrency),
    weight: jobWeight(options.weight),
    priority: jobPriority(options.priority),
    tenant: options.tenant === undefined ? undefined : jobTenant(options.tenant),
  };
}

/** What a tenant's name may hold (`tenant`, `--tenant`, `fj worker --tenant-cap`). */
export const TENANT_NAME = /^[A-Za-z0-9._:@-]{1,100}$/;

/** `tenant`: 1-100 letters, digits and `. _ : @ -`. */
export function jobTenant(value: unknown): string {
  if (typeof value !== 'string' || !TENANT_NAME.test(value))
    throw new OptionError(
      `Expected \`tenant\` to be 1-100 letters, digits and . _ : @ -, got ${typeof value === 'string' ? JSON.stringify(value.slice(0, 120)) : `\`${String(value)}\``}`,
    );
  return value;
}

/**
 * The options that say how a job treats its items (retries, failures, limits,
 * pace): the settings a pipeline stage and a schedule's jobs take over
 * alike, named once.
 */
export const ITEM_POLICY_KEYS = [
  'retries',
  'retryDelayMs',
  'onFailure',
  'maxFailures',
  'maxResults',
  'itemTimeoutMs',
  'rateLimit',
] as const satisfies readonly (keyof RunOptions)[];

/** The largest job weight (`weight`, `--weight`). */
export const MAX_WEIGHT = 1_000_000;
/** The range of job priorities (`priority`, `--priority`). */
export const MIN_PRIORITY = -100;
export const MAX_PRIORITY = 100;

/** `weight`, default 1: a number above 0, at most {@link MAX_WEIGHT}. */
export function jobWeight(value: unknown): number {
  if (value === undefined) return 1;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_WEIGHT)
    throw new OptionError(
      `Expected \`weight\` to be a number above 0 and at most ${MAX_WEIGHT}, got \`${String(value)}\` (${typeof value})`,
    );
  return value;
}

/** `priority`, default 0: a whole number from {@link MIN_PRIORITY} to {@link MAX_PRIORITY}. */
export function jobPriority(value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < MIN_PRIORITY || value > MAX_PRIORITY)
    throw new OptionError(
      `Expected \`priority\` to be a whole number from ${MIN_PRIORITY} to ${MAX_PRIORITY}, got \`${String(value)}\` (${typeof value})`,
    );
  return value;
}

function lawCheck(value: unknown, executor: ExecutorName): LawCheck | undefined {
  if (value === undefined || value === false) return undefined;
  if (value !== true && (typeof value !== 'object' || value === null))
    throw new OptionError(`Expected \`checkLaws\` to be a boolean or { batchings, seed }, got \`${String(value)}\``);
  if (executor !== 'eager')
    throw new OptionError(`Expected \`checkLaws\` only with the eager executor, got executor \`${executor}\``);
  const given: LawCheckOptions = value === true ? {} : value;
  const { batchings = 6, seed = Math.floor(Math.random() * 2 ** 31) } = given;
  return { batchings: positiveInt('checkLaws.batchings', batchings), seed: nonNegativeInt('checkLaws.seed', seed) };
}

function codeChangePolicy(value: unknown): CodeChangePolicy {
  if (value === undefined) return 'fail';
  if (!CODE_CHANGE_POLICIES.includes(value as CodeChangePolicy))
    throw new OptionError(`Expected \`onCodeChange\` to be fail or follow, got \`${String(value)}\``);
  return value as CodeChangePolicy;
}

function policy(value: unknown): FailurePolicy {
  if (value === undefined) return 'fail-fast';
  if (!FAILURE_POLICIES.includes(value as FailurePolicy))
    throw new OptionError(`Expected \`onFailure\` to be fail-fast or collect, got \`${String(value)}\``);
  return value as FailurePolicy;
}

/**
 * A pool's queue type: the option, else `FJ_QUEUE_TYPE`, else `'classic'`;
 * anything else is an OptionError naming where it came from.
 */
export function resolveQueueType(given: unknown, env: Env = process.env): QueueType {
  const fromEnv = env[QUEUE_TYPE_ENV];
  const [value, where] =
    given !== undefined
      ? [given, '`queueType`']
      : fromEnv
        ? [fromEnv, `\`queueType\` (from $${QUEUE_TYPE_ENV})`]
        : ['classic', ''];
  if (!QUEUE_TYPES.includes(value as QueueType))
    throw new OptionError(`Expected ${where} to be ${QUEUE_TYPES.join(' or ')}, got ${showValue(String(value))}`);
  return value as QueueType;
}
