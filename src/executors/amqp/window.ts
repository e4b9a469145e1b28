/**
 * The coordinator's in-flight window: how many work messages (and bytes) a
 * job keeps awaiting results on an amqp pool. Pure: it is fed what the
 * broker reports about the pool's work queue and answers `hasRoom`; the
 * transport polls the broker (see pool-watch.ts).
 *
 * Why a window sized to the pool: a pool of `fj worker`s holds up to its
 * consumers' prefetch (2 × concurrency per worker) unacknowledged. Every
 * thread stays busy only when every worker's prefetch is full, and RabbitMQ
 * keeps messages *ready* (undelivered) only once every consumer's prefetch
 * is full. So the rule, polled a few times a second:
 *
 * - nothing ready and the window full: the pool could hold more, double the
 *   window (or, when the pool's capacity is known, jump to it);
 * - a few ready, under the target: grow by what is missing;
 * - more ready than four times the target: shrink by 1/16 to 1/8 of the
 *   window (more the more is ready), never below twice the target ready
 *   (too small a window idles threads; too large a one only keeps a few
 *   more messages waiting).
 *
 * Each step starts from the messages in flight at the reading, so readings
 * taken before the broker shows the effect of the last step do not pile up.
 *
 * The target is a few messages ready per consumer: enough that a worker
 * acking a message gets the next one from the broker at once, while the
 * coordinator's refill is on its way; no more, so a job with short items
 * holds few messages, and another job's messages queue behind only a few.
 *
 * Several jobs on one pool read the same ready count: each keeps it small,
 * so their messages interleave in the queue (a job started later waits
 * behind a few messages, not behind another job's whole input), and every
 * job grows by the same amount when the queue runs short while each shrinks
 * by the same fraction of its window when it runs long (additive increase,
 * multiplicative decrease, as TCP shares a link), which pulls the jobs'
 * windows toward even shares.
 *
 * Bounded by memory as well as by count: a window never holds more than
 * `maxBytes` of message bodies (the coordinator keeps each body until it is
 * answered, to send it again after a reconnect), but always room for one.
 */

/** What the broker says about a pool's work queue (`checkQueue`), and what else is known of the pool. */
export interface PoolReading {
  /** Messages ready (not yet delivered to any worker), of every job on the pool. */
  readonly ready: number;
  /** Workers consuming the queue. */
  readonly consumers: number;
  /**
   * Messages the pool's workers can hold at once (the sum of their
   * prefetch), when something reports it (worker heartbeats); undefined
   * when only the broker's counts are known.
   */
  readonly capacity?: number;
}

/** Bounds and tuning of a {@link Window}. */
export interface WindowOptions {
  /** Messages in flight when the job starts (before the first reading). */
  readonly initial: number;
  /** Never fewer messages than this. */
  readonly min: number;
  /** Never more messages than this. */
  readonly max: number;
  /** Never more bytes of message bodies in flight than this (one message always fits). */
  readonly maxBytes: number;
  /** Messages to keep ready on the broker per consumer. */
  readonly readyPerConsumer: number;
}

/** The defaults of the amqp transport. */
export const WINDOW_DEFAULTS: WindowOptions = {
  initial: 64,
  min: 4,
  max: 65_536,
  maxBytes: 256 * 1024 * 1024,
  readyPerConsumer: 2,
};

export class Window {
  /** Messages allowed in flight now, by the pool's readings. */
  limit: number;
  /**
   * The job's fair share of the pool, in messages (fair-share.ts), when
   * known: the window never lets more than this be in flight.
   */
  share: number | undefined;

  constructor(private readonly options: WindowOptions = WINDOW_DEFAULTS) {
    this.limit = clamp(options.initial, options.min, options.max);
  }

  /** Whether one more message may be sent, with `messages` of `bytes` in flight. */
  hasRoom(messages: number, bytes: number): boolean {
    return messages < this.allowed && (messages === 0 || bytes < this.options.maxBytes);
  }

  /** Messages allowed in flight now: the window's limit, within the job's share. */
  get allowed(): number {
    return this.share === undefined ? this.limit : Math.min(this.limit, this.share);
  }

  /** Messages to keep ready on the broker for `consumers` workers. */
  target(consumers: number): number {
    return Math.max(1, this.options.readyPerConsumer * consumers);
  }

  /**
   * Adjusts the window to a reading of the pool, taken while `inFlight` of
   * this job's messages were awaiting results. Returns whether it grew (the
   * caller sends more).
   */
  observe(reading: PoolReading, inFlight: number): boolean {
    const { min, max } = this.options;
    const { ready, consumers, capacity } = reading;
    const target = this.target(consumers);
    // Only a full window says anything about the pool: a job sending less (its last items) is not limited by it.
    const full = inFlight >= this.allowed - 1;
    const before = this.limit;
    // Each rule sets the window from what is in flight now, not from the window before: a second reading
    // taken before the broker reflects the first change (sends and answers take time) changes nothing more.
    if (ready === 0 && full) {
      this.limit = capacity === undefined ? 2 * inFlight : Math.max(2 * inFlight, capacity + target);
    } else if (ready <= 4 * target && full) {
      // Short of the target: grow by what is missing. At the target: probe upwards a little, so that
      // several jobs keep crossing the upper bound and the larger windows keep giving way to the smaller.
      this.limit = inFlight + Math.max(target - ready, Math.ceil(consumers / 4), 1);
    } else if (ready > 4 * target) {
      // Well over the target: shrink, gently (a window too small idles threads; one too large only keeps a
      // few more messages waiting), by a fraction of this job's window that depends only on the pool's
      // reading (1/16 to 1/8): of several jobs the larger windows give back more, in proportion, so the
      // jobs' windows converge toward even shares; never by more than brings the ready count to twice the target.
      const cut = Math.ceil((inFlight * (ready - 2 * target)) / (8 * ready));
      this.limit = Math.min(this.limit, inFlight - Math.max(1, Math.min(cut, ready - 2 * target)));
    }
    this.limit = clamp(this.limit, min, max);
    return this.limit > before;
  }
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, Math.round(n)));
}
