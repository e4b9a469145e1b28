/**
 * `fj worker`'s options: the one place their defaults are filled in (option
 * < environment < built-in default) and their values checked, as
 * `normalizeOptions` does for `run()`.
 */
import { availableParallelism, hostname } from 'node:os';
import { isLogLevel, LOG_FORMATS, type LogFormat, type LogLevel } from '../core/log.js';
import {
  DEFAULT_INLINE_LIMIT,
  MAX_WEIGHT,
  OptionError,
  positiveInt,
  resolveQueueType,
  TENANT_NAME,
} from '../core/job-options.js';
import { DEFAULT_QUEUE, locate, originName, type Env, type QueueType } from '../core/location.js';
import { checkBrokerUrl, checkQueueName } from '../core/address.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../broker/messages.js';
import type { Signer } from '../core/signing.js';
import type { PayloadStore } from '../store/store.js';
import type { TaskInfo } from '../task/registry.js';
import type { Logger } from '../task/types.js';

/** Options of {@link startWorker} (and `fj worker`). */
export interface WorkerOptions {
  /**
   * Broker URL. Default `FJ_BROKER_URL`, else `amqp://guest:guest@127.0.0.1:5672`.
   * One URL, or several RabbitMQ nodes of one cluster separated by commas (`amqp://n1,amqp://n2`): tried in turn until one answers, the next one after a lost connection.
   */
  broker?: string;
  /** Payload store URL. Default `FJ_STORE_URL`, else the default file store. */
  store?: string;
  /** The pool's work queue. Default `FJ_QUEUE`, else `fj.default`. */
  queue?: string;
  /**
   * The queue type of the pool's queues (work, code, dead-letter, jobs):
   * `'classic'` or `'quorum'` (replicated over a RabbitMQ cluster, see
   * docs/scaling.md). Every client of the pool must use the same type; a
   * queue of the other type stops the worker with a UsageError naming it.
   * Default `FJ_QUEUE_TYPE`, else `'classic'`.
   */
  queueType?: QueueType;
  /** Worker threads running `process`; two messages per thread are in flight (the prefetch). Default: available cores. */
  concurrency?: number;
  /** Task modules this worker serves besides the built-in tasks. */
  tasks?: string[];
  /** Services module: its default export builds `ctx.services` once per worker thread. */
  services?: string;
  /** Log level. Default `'info'`. */
  logLevel?: LogLevel;
  /** Messages larger than this are dead-lettered unread. Default 8 MiB. */
  maxMessageBytes?: number;
  /** Results larger than this go to the store by ref. Default 65536. */
  inlineLimit?: number;
  /** The worker's identity in logs and replies. Default `<host>.<queue>.<pid>`. */
  name?: string;
  /**
   * Detached jobs (`fj submit`) this worker coordinates at once (setup,
   * publishing, the ledger and join, in its main thread; the items still run
   * on the pool's threads). 0: it coordinates none (`fj worker
   * --no-coordinate`, a pure item worker). Default 4.
   */
  maxJobs?: number;
  /** The pool's signing key (see `RunOptions.signingKey`). Default `FJ_SIGNING_KEY`, else the file `FJ_SIGNING_KEY_FILE` names, else none. */
  signingKey?: string;
  /**
   * Warm shutdown (SIGTERM, `stop()`): how long to wait for the messages in
   * hand before giving them back to the queue and stopping, ms. Default 30000.
   */
  shutdownTimeoutMs?: number;
  /**
   * When the broker cannot be reached at start (workers often start before
   * it: containers, systemd), keep trying this long, ms, with backoff,
   * logging each attempt; 0 fails at once. Default 0 (`fj worker`: 300 s).
   */
  waitForBrokerMs?: number;
  /** Aborting it stops a start still waiting for the broker (SIGTERM in `fj worker`). */
  signal?: AbortSignal;
  /** Log lines as text (each starting with its time) or as JSON, one object per line. Default `'text'`. */
  logFormat?: LogFormat;
  /** Items each thread runs at once, over every task's `static concurrency` (see `ForkJoinTask.concurrency`). Default: each task's. */
  itemConcurrency?: number;
  /**
   * The most of the pool's slots each tenant's jobs hold together (see
   * `RunOptions.tenant`): tenant name -> a share above 0, at most 1
   * (`{ 'team-a': 0.5 }`). The worker announces it in its heartbeat and
   * every job on the pool keeps to it; when workers of one pool disagree,
   * the smallest cap counts. Default: none.
   */
  tenantCaps?: Record<string, number>;
  /**
   * Each tenant's weight on the pool (see `RunOptions.tenant`): tenant name
   * -> a number above 0, at most 1,000,000 (`{ 'team-a': 3 }`): within a
   * priority, tenants share the pool's slots in proportion to their
   * weights (a tenant not named weighs 1), then each tenant's jobs share its
   * part by their own weights. Announced in the heartbeat like
   * `tenantCaps`; when workers of one pool disagree, the smallest weight
   * counts. Default: none (every tenant 1).
   */
  tenantWeights?: Record<string, number>;
}

/** {@link WorkerOptions} with every default filled in. */
export interface NormalizedWorkerOptions {
  broker: string;
  /** Empty: the default file store. */
  store: string;
  queue: string;
  queueType: QueueType;
  concurrency: number;
  tasks: string[];
  services: string | undefined;
  logLevel: LogLevel;
  maxMessageBytes: number;
  inlineLimit: number;
  name: string;
  maxJobs: number;
  signingKey: string | undefined;
  shutdownTimeoutMs: number;
  waitForBrokerMs: number;
  signal: AbortSignal | undefined;
  itemConcurrency: number | undefined;
  logFormat: LogFormat;
  tenantCaps: Record<string, number>;
  tenantWeights: Record<string, number>;
}

/** Detached jobs a worker coordinates at once, unless set otherwise. */
export const DEFAULT_MAX_JOBS = 4;

/**
 * What a worker's clients of its pool beside the work consumer (the job
 * consumer, the scheduler) are built from: its options and what it opened.
 */
export interface PoolParts {
  name: string;
  log: Logger;
  tasks: Map<string, TaskInfo>;
  store: PayloadStore;
  /** The store's URL as given (credentials included: the jobs submitted or coordinated here open it again; never logged). */
  storeUrl: string;
  broker: string;
  /** The broker URL with its heartbeat. */
  url: string;
  queue: string;
  /** The pool's queue type (see `WorkerOptions.queueType`): the jobs queued from here are declared with it. */
  queueType: QueueType;
  signingKey: string | undefined;
  signer: Signer | undefined;
}
/** How long a warm shutdown waits for the messages in hand, unless set otherwise. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;

/** Fills the defaults of a worker's options and checks every value (OptionError naming the option). */
export function normalizeWorkerOptions(options: WorkerOptions = {}, env: Env = process.env): NormalizedWorkerOptions {
  const where = locate(options, env);
  const queue = where.queue ?? DEFAULT_QUEUE;
  const logLevel = options.logLevel ?? 'info';
  if (!isLogLevel(logLevel))
    throw new OptionError(
      `Expected \`logLevel\` to be silent, error, warn, info or debug, got \`${String(logLevel)}\``,
    );
  const tasks = options.tasks ?? [];
  if (!Array.isArray(tasks) || !tasks.every((t) => typeof t === 'string' && t.length > 0))
    throw new OptionError(`Expected \`tasks\` to be a list of module paths, got \`${String(tasks)}\``);
  // Checked before anything connects: a bad name must not leave queues (or a retrying loop) behind.
  checkQueueName(queue, originName('queue', where.from.queue, 'queue'));
  const broker = checkBrokerUrl(where.broker, originName('broker', where.from.broker, 'broker'));
  return {
    broker,
    store: where.store,
    queue,
    queueType: resolveQueueType(options.queueType, env),
    concurrency: positiveInt('concurrency', options.concurrency ?? availableParallelism()),
    tasks,
    services: options.services,
    logLevel,
    maxMessageBytes: positiveInt('maxMessageBytes', options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES),
    inlineLimit: positiveInt('inlineLimit', options.inlineLimit ?? DEFAULT_INLINE_LIMIT),
    name: options.name ?? `${hostname()}.${queue}.${process.pid}`,
    maxJobs: options.maxJobs === 0 ? 0 : positiveInt('maxJobs', options.maxJobs ?? DEFAULT_MAX_JOBS),
    signingKey: options.signingKey,
    shutdownTimeoutMs: positiveInt('shutdownTimeoutMs', options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS),
    waitForBrokerMs: nonNegativeMs('waitForBrokerMs', options.waitForBrokerMs ?? 0),
    signal: options.signal,
    logFormat: logFormat(options.logFormat),
    itemConcurrency:
      options.itemConcurrency === undefined ? undefined : positiveInt('itemConcurrency', options.itemConcurrency),
    tenantCaps: perTenant('tenantCaps', 'a share above 0 and at most 1', options.tenantCaps, (n) => n > 0 && n <= 1),
    tenantWeights: perTenant(
      'tenantWeights',
      `a weight above 0 and at most ${MAX_WEIGHT}`,
      options.tenantWeights,
      (n) => n > 0 && n <= MAX_WEIGHT,
    ),
  };
}

/** A tenant -> number option (`tenantCaps`, `tenantWeights`), checked: each tenant named as `--tenant` names one, each number `rule`. */
function perTenant(name: string, rule: string, value: unknown, ok: (n: number) => boolean): Record<string, number> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new OptionError(`Expected \`${name}\` to be an object of tenant -> number, got \`${String(value)}\``);
  for (const [tenant, n] of Object.entries(value)) {
    if (!TENANT_NAME.test(tenant))
      throw new OptionError(
        `Expected \`${name}\` to name tenants of 1-100 letters, digits and . _ : @ -, got ${JSON.stringify(tenant.slice(0, 120))}`,
      );
    if (typeof n !== 'number' || !ok(n))
      throw new OptionError(`Expected \`${name}.${tenant}\` to be ${rule}, got \`${String(n)}\``);
  }
  return { ...(value as Record<string, number>) };
}

function nonNegativeMs(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new OptionError(
      `Expected \`${name}\` to be a number of milliseconds from 0 and up, got \`${String(value)}\``,
    );
  return value;
}

function logFormat(value: unknown): LogFormat {
  if (value === undefined) return 'text';
  if (!LOG_FORMATS.includes(value as LogFormat))
    throw new OptionError(`Expected \`logFormat\` to be ${LOG_FORMATS.join(' or ')}, got \`${String(value)}\``);
  return value as LogFormat;
}
