/**
 * What `fj worker` does with a work message's items once the message has
 * been checked: fetch the job's params (once per process, cached), run the
 * items on the thread pool, and put large results in the store. No amqplib
 * here: the caller acks, replies and dead-letters.
 */
import { concatBytes, COVERED_BYTES, decode } from '../codec.js';
import { TaskError, UsageError } from '../errors.js';
import type { PayloadStore } from '../store/store.js';
import type { TaskInfo } from '../task/registry.js';
import type { Logger } from '../task/types.js';
import { checkMsgpack, DEFAULT_MAX_DEPTH } from '../transport/inspect.js';
import type { ResultBody, Slot, WorkBody } from '../transport/messages.js';
import { Lru } from './lru.js';
import { BatchLost, type PoolJob, type ThreadPool } from './pool.js';
import { toWire } from './wire-error.js';

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
  async run(task: TaskInfo, poolJob: PoolJob, job: string, body: WorkBody, timeoutMs: number, signal: AbortSignal): Promise<ResultBody> {
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
    const parts = [{ at: 0, items }];
    while (parts.length) {
      signal.throwIfAborted();
      const part = parts.shift()!;
      const first = body.first + part.at;
      let done;
      try {
        done = await pool.run(poolJob, first, concatBytes(part.items), { perItem: true, timeoutMs, signal, concurrency: this.itemConcurrency ?? task.concurrency });
      } catch (err) {
        if (!(err instanceof BatchLost)) throw err;
        if (err.suspects) {
          // Several items were in flight: none is charged, each suspect runs again alone (a repeat crash names it).
          const from = Math.max(0, err.suspects.from - first);
          const to = Math.min(part.items.length - 1, err.suspects.to - first);
          if (from > 0) parts.push({ at: part.at, items: part.items.slice(0, from) });
          for (let k = from; k <= to; k++) parts.push({ at: part.at + k, items: [part.items[k]] });
          if (to + 1 < part.items.length) parts.push({ at: part.at + to + 1, items: part.items.slice(to + 1) });
          continue;
        }
        const c = err.culprit === undefined ? -1 : err.culprit - first;
        if (c < 0) {
          parts.push(part);
          await new Promise((r) => setTimeout(r, 50)); // the thread is being replaced
          continue;
        }
        if (c > 0) parts.push({ at: part.at, items: part.items.slice(0, c) });
        failures.push({ i: part.at + c, error: toWire(new TaskError({ task: task.name, hook: 'process', index: err.culprit }, new Error(err.reason))) });
        if (c + 1 < part.items.length) parts.push({ at: part.at + c + 1, items: part.items.slice(c + 1) });
        continue;
      }
      ms += done.ms;
      for (const f of done.failures ?? []) failures.push({ i: part.at + f.i, error: f.error });
      if (done.combined) {
        // One merged result (`combine`, a fold): it stands at its first item; the other items merged into it hold COVERED_BYTES.
        const merged = done.merged ?? [];
        for (let k = 0; k < merged.length; k++) results[part.at + merged[k]] = k === 0 ? await slot(done.bytes) : COVERED_BYTES;
        continue;
      }
      const out = decode<(Uint8Array | null)[]>(done.bytes);
      const failed = new Set(done.failures?.map((f) => f.i));
      for (let i = 0; i < out.length; i++) if (!failed.has(i)) results[part.at + i] = await slot(out[i]!);
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
  }}
