/**
 * The threads transport (local executor): batches run on a pool of worker
 * threads on this machine. Items cross threads by structured clone when that
 * gives exactly what the msgpack round trip would (strings, numbers: see
 * `clonesExactly`), else msgpack-encoded; results msgpack-encoded; buffers
 * copied, never transferred (see `detach`). Each thread holds at most two batches (one
 * running, one queued), so a slow item never leaves other threads idle.
 * The pool may serve other jobs at the same time; this transport aborts only
 * its own job's batches.
 */
import { clonesExactly, decode, detach, encodeChecked } from '../../core/codec.js';
import type { Batch, Transport, TransportEvents } from '../transport.js';
import { COMBINED_TARGET_MS } from '../batch-sizer.js';
import type { JobPlan } from '../job-plan.js';
import { BatchLost } from '../../runtime/lost-batch.js';
import { lostThread, type BatchDone, type PoolJob, type ThreadPool } from '../../runtime/thread-pool.js';
import { fromWire } from '../../core/wire-error.js';

/** A batch should take about this long in a thread. */
const TARGET_BATCH_MS = 4;
/** Never more items than this in one batch (a task with `combine` or a fold: {@link MAX_COMBINED_BATCH}). */
const MAX_BATCH = 4096;
/** Batches of a task with `combine` or a fold return one merged result however many items they hold: larger ones pay. */
const MAX_COMBINED_BATCH = 16_384;

export class ThreadsTransport implements Transport {
  readonly batching;
  readonly busy = false;
  private events!: TransportEvents;
  /** Aborts this job's batches (and only this job's) when it ends early. */
  private readonly abort = new AbortController();
  private readonly signal: AbortSignal;
  private readonly onRoom = () => this.events.room();
  private readonly onLost = (why: string, replaced: boolean) => this.plan.log.warn(lostThread(why, replaced));

  constructor(
    private readonly plan: JobPlan,
    private readonly pool: ThreadPool,
    private readonly job: PoolJob,
  ) {
    const combines = plan.task.combines;
    this.batching = {
      targetMs: combines ? COMBINED_TARGET_MS.local : TARGET_BATCH_MS,
      max: combines ? MAX_COMBINED_BATCH : MAX_BATCH,
      slots: pool.size,
    };
    this.signal = AbortSignal.any([plan.signal, this.abort.signal]);
  }

  get hasRoom(): boolean {
    return this.pool.hasRoom;
  }

  async open(events: TransportEvents): Promise<void> {
    this.events = events;
    this.pool.on('room', this.onRoom);
    this.pool.on('threadLost', this.onLost);
    this.pool.preload(this.job);
  }

  send(batch: Batch): void {
    const { counters, options } = this.plan;
    const items = clonesExactly(batch.values) ? batch.values : detach(encodeChecked(batch.values));
    counters.messages++;
    counters.bytesPublished += items instanceof Uint8Array ? items.length : clonedSize(items);
    this.pool
      .run(this.job, batch.first, items, {
        timeoutMs: options.itemTimeoutMs,
        signal: this.signal,
        concurrency: options.itemConcurrency ?? this.plan.task.concurrency,
      })
      .then(
        (done) => this.finished(batch, done),
        (err) =>
          err instanceof BatchLost
            ? this.events.lost(batch, err.culprit, err.reason, err.suspects)
            : this.events.failed(batch, batch.first, batch.values.length, err as Error),
      );
  }

  private finished(batch: Batch, r: BatchDone): void {
    const { counters } = this.plan;
    counters.bytesPublished += r.bytes.length;
    counters.messages++;
    const failures = r.failures?.map((f) => ({ index: batch.first + f.i, error: fromWire(f.error) }));
    const ms = r.ms;
    const ran = batch.values.length;
    if (!r.combined)
      return this.events.answer({ batch, first: batch.first, values: decode<unknown[]>(r.bytes), failures, ms, ran });
    // one merged result for the items that did not fail
    const indices = (r.merged ?? []).map((i) => batch.first + i);
    const groups = indices.length ? [{ indices, value: decode(r.bytes) }] : [];
    this.events.answer({ batch, groups, failures, ms, ran });
  }

  async close(error?: unknown): Promise<void> {
    this.pool.off('room', this.onRoom);
    this.pool.off('threadLost', this.onLost);
    if (error !== undefined) this.abort.abort(error);
  }
}

/** What a cloned batch counts in `bytesPublished`: its strings' lengths, 8 bytes per other value (about what msgpack would have sent). */
function clonedSize(values: readonly unknown[]): number {
  let n = 0;
  for (const v of values) n += typeof v === 'string' ? v.length : 8;
  return n;
}
