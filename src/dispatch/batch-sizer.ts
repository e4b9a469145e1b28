/** Batch sizing, for the dispatcher: a batch should take about as long as its transport asks. */

/**
 * How long a batch should take for a task with `combine`: a batch sends back
 * one merged result, so fewer, larger batches mean fewer results to encode,
 * decode and join (word count on the local executor: 50 ms batches instead
 * of 4 ms ones cut the results from ~1.7 M keys to ~0.3 M). Through RabbitMQ
 * the coordinator decodes every result on a machine it may share with the
 * workers, and the broker's per-message cost is higher, so longer still.
 */
export const COMBINED_TARGET_MS = { local: 50, amqp: 200 } as const;

/**
 * Adaptive batch sizing: a batch should take about `targetMs` where it runs.
 * Starts at one item (the first answers say how long items take); with an
 * infinite target, every batch has `max` items.
 */
export class BatchSizer {
  size: number;
  private msPerItem = -1;

  constructor(
    private readonly targetMs: number,
    private readonly max: number,
    /** Never fewer items than this (the item concurrency of a thread). */
    private readonly min = 1,
  ) {
    this.size = targetMs === Infinity ? max : min;
  }

  /** Records that `count` items took `ms`; grows at most 4x per observation. */
  observe(ms: number, count: number): void {
    if (this.targetMs === Infinity) return;
    const per = ms / count;
    this.msPerItem = this.msPerItem < 0 ? per : 0.7 * this.msPerItem + 0.3 * per;
    const ideal = this.msPerItem > 0 ? Math.floor(this.targetMs / this.msPerItem) : this.max;
    this.size = Math.max(this.min, Math.min(this.max, ideal, this.size * 4));
  }
}
