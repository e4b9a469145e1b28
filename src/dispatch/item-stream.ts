/**
 * The items of a job, pulled lazily from what `setup` returned.
 */
import { TaskError } from '../core/errors.js';
import type { ItemSource } from '../task/types.js';

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
    if (typeof (source as Iterable<unknown>)[Symbol.iterator] === 'function')
      this.sync = (source as Iterable<unknown>)[Symbol.iterator]();
    else this.async = (source as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  }

  /** Whether `source` is something `setup` may return. */
  static accepts(source: unknown): source is ItemSource<unknown> {
    return (
      source != null &&
      typeof source !== 'string' &&
      (typeof (source as Iterable<unknown>)[Symbol.iterator] === 'function' ||
        typeof (source as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function')
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

/**
 * What holds a job's items back (a pipeline stage streaming into the next,
 * or from the one before): how many items may be taken now, given how many
 * have been taken (0 or less: none yet), and a promise that settles when
 * that may have changed.
 */
export interface ItemGate {
  room(taken: number): number;
  wait(): Promise<void>;
  /** True once the job should take no more items (the pipeline stops): the stream ends. */
  readonly stopped: boolean;
}

/**
 * An {@link ItemStream} that takes, each time, only as many items as its
 * gate has room for, waiting before a take (never in the middle of one, so
 * the items already taken are sent on and their results can open room).
 */
export class GatedItemStream extends ItemStream {
  constructor(
    source: ItemSource<unknown>,
    taskName: string | undefined,
    private readonly gate: ItemGate,
  ) {
    super(source, taskName);
  }

  override async take(max: number): Promise<unknown[]> {
    let room = this.gate.room(this.index);
    while (room <= 0 && !this.done && !this.gate.stopped) {
      await this.gate.wait();
      room = this.gate.room(this.index);
    }
    if (this.gate.stopped) {
      await this.close();
      return [];
    }
    return super.take(Math.min(max, room));
  }
}
