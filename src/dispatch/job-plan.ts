/**
 * One job as the dispatcher runs it: its task, params, items, ledger and
 * counters (built once by `run()`, handed to an executor).
 */
import type { Manifest } from '../store/job-records.js';
import type { NormalizedOptions } from '../core/job-options.js';
import type { TaskInfo } from '../task/registry.js';
import type { Logger } from '../task/types.js';
import type { ItemStream } from './item-stream.js';
import type { Ledger } from './ledger.js';

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
  /** Results kept by an earlier job and restored into the ledger (a re-run of its failed items): skip the items they cover. */
  readonly seeded?: boolean;
  /** A detached job's manifest, written by `submit()`: its coordinator keeps it (adding its run) and leaves the job's end to its finisher. */
  readonly manifest?: Manifest;
  /** Called once an amqp coordinator has attached to the job, before it publishes (a detached job indexes itself as running). */
  readonly onAttached?: () => Promise<void>;
  /** Who coordinates, for the records: a worker's `--name`. Default `<host>:<pid>`. */
  readonly coordinator?: string;
  /** When the job first started (ms since the epoch), when an earlier coordinator started it: kept in its records. */
  readonly started?: number;
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
