/**
 * What `fj worker` does with a work message's items once the message has
 * been checked: fetch the job's params (once per process, cached), run the
 * items on the thread pool, and put large results in the store. No amqplib
 * here: the caller acks, replies and dead-letters.
 */
import { concatBytes, COVERED_BYTES, decode } from '../core/codec.js';
import { TaskError, UsageError } from '../core/errors.js';
import type { PayloadStore } from '../store/store.js';
import type { TaskInfo } from '../task/registry.js';
import type { Logger } from '../task/types.js';
import { checkMsgpack, DEFAULT_MAX_DEPTH } from '../broker/inspect.js';
import type { ResultBody, Slot, WorkBody } from '../broker/messages.js';
import { Lru } from './lru.js';
import type { PoolJob, ThreadPool } from '../runtime/thread-pool.js';
import { afterLoss, BatchLost, type ItemRun } from '../runtime/lost-batch.js';
import { toWire } from '../core/wire-error.js';

/** Jobs' params kept per process. */
const PARAMS_CACHED = 16;

export class MessageRunner {
  private readonly paramsCache = new Lru<Promise<Uint8Array>>(PARAMS_CACHED);

  constructor(
    private readonly pool: ThreadPool,
    private readonly store: PayloadStore,
    private readonly inlineLimit: number,
    private readonly log: Logger,
    /** The worker's `itemConcurrency`, over each task's `static concurrency`. */
    private readonly itemConcurrency?: number,
  ) {}

  /**
   * Runs a message's items in the thread pool, still encoded. An item that
   * fails is reported in `failures`; when a thread dies or times out, the item
   * it was running is reported failed and the others run again.
   */
  async run(
    task: TaskInfo,
    poolJob: PoolJob,
    job: string,
    body: WorkBody,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<ResultBody> {
    const { pool, store, inlineLimit } = this;
    const items = await Promise.all(
      body.items.map(async (s, i) => {
        if (typeof s !== 'string') return s;
        const bytes = await store.get(s);
        const bad = checkMsgpack(bytes, DEFAULT_MAX_DEPTH);
        if (bad) throw new UsageError(`item ${body.first + i} (stored as ${s}): ${bad}`);
        return bytes;
      }),
    );
    const results = new Array<Slot | null>(items.length).fill(null);
    const failures: NonNullable<ResultBody['failures']> = [];
    let ms = 0;
    let stored = 0;
    /** A result inline, or in the store when larger than the inline limit. */
    const slot = async (bytes: Uint8Array): Promise<Slot> => {
      if (bytes.length <= inlineLimit) return bytes;
      stored += bytes.length;
      return store.put(job, bytes);
    };
    const parts: ItemRun<Uint8Array>[] = [{ first: body.first, values: items }];
    while (parts.length) {
      signal.throwIfAborted();
      const part = parts.shift()!;
      const { first } = part;
      const at = first - body.first;
      let done;
      try {
        done = await pool.run(poolJob, first, concatBytes(part.values), {
          perItem: true,
          timeoutMs,
          signal,
          concurrency: this.itemConcurrency ?? task.concurrency,
        });
      } catch (err) {
        if (!(err instanceof BatchLost)) throw err;
        // The lost-batch rule: a culprit fails, suspects run again each alone (a repeat crash names its item), the rest runs again.
        const { again, charged } = afterLoss(part, err);
        parts.push(...again);
        if (charged)
          failures.push({
            i: charged.index - body.first,
            error: toWire(
              new TaskError({ task: task.name, hook: 'process', index: charged.index }, new Error(err.reason)),
            ),
          });
        else if (!err.suspects) await new Promise((r) => setTimeout(r, 50)); // the batch had not started: its thread is being replaced
        continue;
      }
      ms += done.ms;
      for (const f of done.failures ?? []) failures.push({ i: at + f.i, error: f.error });
      if (done.combined) {
        // One merged result (`combine`, a fold): it stands at its first item; the other items merged into it hold COVERED_BYTES.
        const merged = done.merged ?? [];
        for (let k = 0; k < merged.length; k++)
          results[at + merged[k]] = k === 0 ? await slot(done.bytes) : COVERED_BYTES;
        continue;
      }
      const out = decode<(Uint8Array | null)[]>(done.bytes);
      const failed = new Set(done.failures?.map((f) => f.i));
      for (let i = 0; i < out.length; i++) if (!failed.has(i)) results[at + i] = await slot(out[i]!);
    }
    return { first: body.first, results, failures: failures.length ? failures : undefined, ms, stored }; // ms: time in process, for batch sizing
  }

  /**
   * A job's params, fetched once per process and cached by ref (job and
   * content hash: a message naming another job's params hash under its own
   * job id must still find them in the store under its own job).
   */
  async params(ref: string): Promise<Uint8Array> {
    let params = this.paramsCache.get(ref);
    if (!params) {
      params = this.store.get(ref).then((bytes) => {
        this.log.info(`fetched params ${ref.slice(0, 60)} (${bytes.length} bytes)`);
        return bytes;
      });
      params.catch(() => this.paramsCache.delete(ref)); // a failed fetch is retried next time
      this.paramsCache.set(ref, params);
    }
    return params;
  }
}
