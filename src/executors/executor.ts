/**
 * The executor seam: an executor runs a job's items and records their
 * results in the job's ledger. Validation, setup, params and join happen
 * once, in `run()`, the same for every executor; an executor only decides
 * where `process` runs. Each one is a {@link Dispatcher} over a transport
 * (inline, threads, RabbitMQ); see docs/architecture.md.
 */
import type { NormalizedOptions } from '../options.js';
import type { TaskInfo } from '../task/registry.js';
import type { Ledger } from '../dispatch/ledger.js';
import type { ItemStream } from '../dispatch/item-stream.js';
import type { Logger } from '../task/types.js';

/** Counters an executor fills in while it runs. */
export interface Counters {
  items: number;
  messages: number;
  bytesPublished: number;
  bytesStored: number;
}

/** Where a job came from, for the records of a job that can be resumed (`amqp`). */
export interface JobOrigin {
  /** The validated input. */
  readonly input: unknown;
  /** The input's file and its sha256, when it came from one (`fj run FILE`). */
  readonly inputFile?: { file: string; sha256: string };
  /** Re-attaching to a job that already ran (`fj resume`): skip items with results. */
  readonly resume?: boolean;
}

/** Everything an executor needs to run one job's items. */
export interface JobPlan {
  readonly task: TaskInfo;
  /** Params after the codec round trip, as every worker sees them. */
  readonly params: object;
  /** The same params, encoded once. */
  readonly paramsBytes: Uint8Array;
  readonly items: ItemStream;
  readonly signal: AbortSignal;
  readonly log: Logger;
  readonly options: NormalizedOptions;
  readonly counters: Counters;
  /** Where results are recorded (once per item) and failures judged. */
  readonly ledger: Ledger;
  readonly origin: JobOrigin;
  /** Call after items finish, with how many finished. */
  readonly progress: (finished: number) => void;
}

/**
 * Runs the items of jobs. An executor may serve many jobs, one after another
 * or at once (its threads or connection stay up between them) until
 * `dispose`.
 */
export interface Executor {
  /**
   * Optional: starts what the executor needs (threads, connections) while
   * the job validates its input and runs setup.
   */
  prepare?(options: NormalizedOptions): void;
  /**
   * Runs every item, recording results and failures in `plan.ledger`;
   * rejects with the error that ended the job (the ledger's verdict, a
   * cancellation, a transport failure).
   */
  map(plan: JobPlan): Promise<void>;
  /** Releases what the executor started. Safe to call twice. */
  dispose?(): Promise<void>;
}
