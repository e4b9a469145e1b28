/** Batch sizing, for the dispatcher: a batch should take about as long as its transport asks. */

/**
 * How long a batch should take for a task with `combine` (or a fold): a
 * batch sends back one merged result, so fewer, larger batches mean fewer
 * results to encode, decode and join (word count on the local executor: 50 ms
 * batches instead of 4 ms ones cut the results from ~1.7 M keys to ~0.3 M;
 * 200 ms ones, capped by {@link BatchSizer.next}'s share so the last batches
 * still end together, halve them again). Through RabbitMQ the coordinator
 * decodes every result on a machine it may share with the workers, and the
 * broker's per-message cost is higher, so longer still.
 */
export const COMBINED_TARGET_MS = { local: 200, amqp: 200 } as const;

/** The shortest wait for an answer before a ramp ends for slow items: see {@link BatchSizer.patience}. */
export const RAMP_PATIENCE_MS = 250;

/**
 * With a known item count, no batch holds more than this fraction of one
 * slot's share of the items (a slot: a thread, or a worker's message): the
 * job ends in at least this many rounds of batches, so no slot is left alone
 * with a long last batch.
 */
const SHARE_ROUNDS = 4;

/**
 * Adaptive batch sizing: a batch should take about `targetMs` where it runs.
 * Starts at one item (the first answers say how long items take); with an
 * infinite target, every batch has `max` items. The time per item is an
 * average weighted by items (a batch of 1,000 items says more than a batch of
 * one, whose time is mostly a cold start). While the size is still growing
 * toward its target ({@link ramping}), the dispatcher keeps only a few
 * batches in flight, so a job does not open with a window full of
 * one-item batches; when no answer comes within {@link patience}, the
 * items are slower than a batch should be and the ramp ends
 * ({@link slowAnswers}).
 */
export class BatchSizer {
  size: number;
  /** True until the size has grown to what the answers say (or to `max`): see the class comment. */
  ramping: boolean;
  /** Decaying sums of observed milliseconds and items (their ratio is the time per item). */
  private ms = 0;
  private items = 0;

  constructor(
    private readonly targetMs: number,
    private readonly max: number,
    /** Never fewer items than this (the item concurrency of a thread). */
    private readonly min = 1,
    /** Batches that run at once where the transport sends them (threads, or worker slots); see {@link next}. */
    private readonly slots?: number,
  ) {
    this.size = targetMs === Infinity ? max : min;
    this.ramping = targetMs !== Infinity && this.size < max;
  }

  /**
   * Items for the next batch: {@link size}, but, when the job's item count
   * `total` is known and the transport said how many slots it has, at most
   * `total / (slots x SHARE_ROUNDS)` (and at least `min`).
   */
  next(total: number | undefined): number {
    if (total === undefined || !this.slots) return this.size;
    return Math.max(this.min, Math.min(this.size, Math.ceil(total / (this.slots * SHARE_ROUNDS))));
  }

  /**
   * The wait for an answer outlasted {@link patience}: items take longer
   * than a whole batch should, so the size is already as large as it should
   * be (the ramp is over; later answers may still grow it).
   */
  slowAnswers(): void {
    this.ramping = false;
  }

  /**
   * How long, in milliseconds, the dispatcher waits for an answer while
   * ramping before it calls {@link slowAnswers}: a batch's target time, but
   * at least {@link RAMP_PATIENCE_MS}, so that a first answer slowed by a
   * cold start (a thread importing the task, a worker fetching the job's
   * params) does not end the ramp of a job of tiny items.
   */
  get patience(): number {
    return Math.max(this.targetMs, RAMP_PATIENCE_MS);
  }

  /** Records that `count` items took `ms`; grows at most 4x per observation. */
  observe(ms: number, count: number): void {
    if (this.targetMs === Infinity || count <= 0) return;
    this.ms = 0.7 * this.ms + ms;
    this.items = 0.7 * this.items + count;
    const msPerItem = this.ms / this.items;
    const ideal = Math.max(
      this.min,
      Math.min(this.max, msPerItem > 0 ? Math.floor(this.targetMs / msPerItem) : this.max),
    );
    this.size = Math.min(ideal, this.size * 4);
    if (this.size === ideal) this.ramping = false;
  }
}
