/**
 * `RunOptions`: the one options path for `run()`, the CLI and benchmarks.
 * {@link normalizeOptions} fills the defaults and rejects bad values with a
 * TypeError naming the option and echoing the value.
 */
import { availableParallelism } from 'node:os';
import { isLogLevel, type LogLevel } from './log.js';

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
}

/** Figures about one job (never part of its output). */
export interface JobStats {
  /** Items processed. */
  items: number;
  /** Messages sent to workers (thread batches for `local`, broker messages for `amqp`, 0 for `eager`). */
  messages: number;
  /** Bytes of encoded items and results sent between the job and its workers (thread messages or broker message bodies; 0 for `eager`). */
  bytesPublished: number;
  /** Bytes written to the payload store: params, and items and results over the inline limit (`amqp` only). */
  bytesStored: number;
  /** Wall-clock milliseconds from validation to output. */
  wallMs: number;
}

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
  /** Log level for the framework and `ctx.log`. Default `'warn'`. */
  logLevel?: LogLevel;
  /** Path of a services module (default export builds `ctx.services`). Default: none. */
  services?: string;
  /** amqp: broker URL. Default `FJ_BROKER_URL`, else `amqp://guest:guest@127.0.0.1:5672`. */
  broker?: string;
  /** amqp: payload store URL (`file://DIR`, `redis://HOST:PORT`). Default `FJ_STORE_URL`, else a directory under the OS temp dir. */
  store?: string;
  /** amqp: work queue (worker pool). Default: the task's `static queue`, else `FJ_QUEUE`, else `fj.default`. */
  queue?: string;
  /** amqp: job id (names the results queue and store keys). Default: a random UUID. */
  jobId?: string;
  /** amqp: keep the job's data in the store after it ends. Default `false`. */
  keep?: boolean;
  /** amqp: items and results larger than this many bytes travel by store reference. Default 65536. */
  inlineLimit?: number;
}

/** {@link RunOptions} with every default filled in. */
export type NormalizedOptions = Required<Omit<RunOptions, 'signal' | 'onProgress' | 'onStats' | 'services' | 'queue' | 'jobId'>> &
  Pick<RunOptions, 'signal' | 'onProgress' | 'onStats' | 'services' | 'queue' | 'jobId'>;

/** The broker URL used when neither an option nor `FJ_BROKER_URL` names one. */
export const DEFAULT_BROKER = 'amqp://guest:guest@127.0.0.1:5672';

function positiveInt(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new TypeError(`Expected \`${name}\` to be an integer from 1 and up, got \`${String(value)}\` (${typeof value})`);
  }
  return value;
}

/** Fills defaults (option < environment < built-in default) and validates every field. */
export function normalizeOptions(options: RunOptions = {}, env: NodeJS.ProcessEnv = process.env): NormalizedOptions {
  const executor = options.executor ?? 'local';
  if (!EXECUTORS.includes(executor)) {
    throw new TypeError(`Expected \`executor\` to be one of ${EXECUTORS.join(', ')}, got \`${String(executor)}\``);
  }
  const logLevel = options.logLevel ?? 'warn';
  if (!isLogLevel(logLevel)) throw new TypeError(`Expected \`logLevel\` to be silent, error, warn, info or debug, got \`${String(logLevel)}\``);
  for (const fn of ['onProgress', 'onStats'] as const) {
    if (options[fn] !== undefined && typeof options[fn] !== 'function') throw new TypeError(`Expected \`${fn}\` to be a function, got \`${typeof options[fn]}\``);
  }
  return {
    ...options,
    executor,
    logLevel,
    concurrency: positiveInt('concurrency', options.concurrency ?? availableParallelism()),
    broker: options.broker ?? env.FJ_BROKER_URL ?? DEFAULT_BROKER,
    store: options.store ?? env.FJ_STORE_URL ?? '',
    queue: options.queue ?? env.FJ_QUEUE,
    keep: options.keep ?? false,
    inlineLimit: positiveInt('inlineLimit', options.inlineLimit ?? 65536),
  };
}
