/**
 * The executor seam: an executor maps a job's items to their results, in item
 * order. Validation, setup, params and join happen once, in `run()`, the same
 * for every executor; an executor only decides where `process` runs.
 */
import type { NormalizedOptions } from '../options.js';
import type { TaskInfo } from '../task/registry.js';
import { TaskError } from '../errors.js';
import type { Ledger } from './ledger.js';
import type { ItemSource, Logger } from '../task/types.js';

/** Counters an executor fills in while it runs. */
export interface Counters {
  items: number;
  messages: number;
  bytesPublished: number;
  bytesStored: number;
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
  /** The validated input (the amqp executor's manifest keeps it, or its file, for `fj resume`). */
  readonly input: unknown;
  /** The input's file and its sha256, when it came from one (`fj run FILE`). */
  readonly inputFile?: { file: string; sha256: string };
  /** Re-attaching to a job that already ran (`fj resume`): skip items with results. */
  readonly resume?: boolean;
  /** Call after items finish, with how many finished. */
  readonly progress: (finished: number) => void;
}

/** Runs the items of a job. */
export interface Executor {
  /**
   * Optional: starts what the executor needs (threads, connections) while
   * the job validates its input and runs setup. `dispose` releases it if
   * the job ends before `map`.
   */
  prepare?(options: NormalizedOptions): void;
  /**
   * Runs every item, recording results and failures in `plan.ledger`;
   * rejects with the error that ended the job (the ledger's verdict, a
   * cancellation, a transport failure).
   */
  map(plan: JobPlan): Promise<void>;
  /** Releases what `prepare` started and `map` did not use. Safe to call twice. */
  dispose?(): Promise<void>;
}

/**
 * Pulls items from what `setup` returned, lazily, synchronously when the
 * source is a plain iterable (no microtask per item).
 */
export class ItemStream {
  /** Index the next item will get. */
  index = 0;
  /** True once the source has no more items. */
  done = false;
  /** Total items when known up front (arrays), else undefined until done. */
  total: number | undefined;
  private readonly sync?: Iterator<unknown>;
  private readonly async?: AsyncIterator<unknown>;

  constructor(
    source: ItemSource<unknown>,
    private readonly taskName?: string,
  ) {
    if (Array.isArray(source)) this.total = source.length;
    if (typeof (source as Iterable<unknown>)[Symbol.iterator] === 'function') this.sync = (source as Iterable<unknown>)[Symbol.iterator]();
    else this.async = (source as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  }

  /** Whether `source` is something `setup` may return. */
  static accepts(source: unknown): source is ItemSource<unknown> {
    return (
      source != null &&
      typeof source !== 'string' &&
      (typeof (source as Iterable<unknown>)[Symbol.iterator] === 'function' || typeof (source as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function')
    );
  }

  /**
   * Up to `max` next items (fewer at the end); waits only when the source is
   * async. A throwing generator becomes a TaskError of the `setup` hook.
   */
  take(max: number): unknown[] | Promise<unknown[]> {
    if (this.done) return [];
    if (!this.sync) return this.takeAsync(max);
    const out: unknown[] = [];
    let ended = false;
    try {
      while (out.length < max) {
        const r = this.sync.next();
        if (r.done) {
          ended = true;
          break;
        }
        out.push(r.value);
      }
    } catch (err) {
      this.done = true;
      throw new TaskError({ task: this.taskName, hook: 'setup', index: this.index + out.length }, err);
    }
    this.advance(out.length, ended);
    return out;
  }

  private async takeAsync(max: number): Promise<unknown[]> {
    const out: unknown[] = [];
    let ended = false;
    try {
      while (out.length < max) {
        const r = await this.async!.next();
        if (r.done) {
          ended = true;
          break;
        }
        out.push(r.value);
      }
    } catch (err) {
      this.done = true;
      throw new TaskError({ task: this.taskName, hook: 'setup', index: this.index + out.length }, err);
    }
    this.advance(out.length, ended);
    return out;
  }

  private advance(count: number, ended: boolean): void {
    this.index += count;
    if (ended) {
      this.done = true;
      this.total = this.index;
    }
  }

  /** Stops the source early (closes a generator). */
  async close(): Promise<void> {
    this.done = true;
    try {
      if (this.sync?.return) this.sync.return();
      if (this.async?.return) await this.async.return();
    } catch {
      // closing a failed generator can throw again; the first error is the one reported
    }
  }
}
