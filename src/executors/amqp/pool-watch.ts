/**
 * Watches a pool for a job's coordinator: a few times a second asks the
 * broker how many messages of the job's code queue are ready and how many
 * workers consume it (`checkQueue`, plain AMQP: no management plugin), and
 * feeds the job's {@link Window}. When no worker consumes the code queue, it
 * also asks how many consume the pool's own queue (every worker of the pool
 * does), so the job can tell "no worker yet" from "the pool's workers run
 * other code" ({@link PoolWatchOptions.onReading}). On a channel of its own,
 * so a failed check never closes the channel the job's results arrive on.
 */
import type { Channel, ChannelModel } from 'amqplib';
import type { PoolReading, Window } from './window.js';

/** A source of the pool's capacity in messages, read as the pool is. */
export interface CapacitySource {
  get(): number | undefined;
  start(): void;
  stop(): void;
}

/** How often the pool is read, ms. */
export const POLL_MS = 100;

/** One reading of who can run the job's items. */
export interface CodeReading {
  /** Workers consuming the job's code queue: those that run its code. */
  readonly codeConsumers: number;
  /** Messages waiting in the job's code queue (of every job on it), not yet taken by a worker. */
  readonly ready: number;
  /** Workers consuming the pool's queue (all of the pool's workers); read only when `codeConsumers` is 0. */
  readonly poolConsumers?: number;
}

export interface PoolWatchOptions {
  readonly window: Window;
  /** The pool's queue. */
  readonly pool: string;
  /** The queue of the job's code (it changes when the job follows new code). */
  readonly codeQueue: () => string;
  /** Messages of this job in flight now. */
  readonly inFlight: () => number;
  /** The window grew: send more. */
  readonly grew: () => void;
  /** Every reading, for the job to act on a pool that runs none of its code. */
  readonly onReading?: (reading: CodeReading) => void;
  /** What else is known of the pool's capacity (worker heartbeats: pool-capacity.ts), when anything is. */
  readonly capacity?: CapacitySource;
}

export class PoolWatch {
  private ch: Channel | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reading = false;
  /** The last reading, if any. */
  last: PoolReading | undefined;

  constructor(private readonly o: PoolWatchOptions) {}

  /** Starts (or, after a reconnect, restarts) reading the pool over `conn`. */
  async attach(conn: ChannelModel): Promise<void> {
    const ch = await conn.createChannel();
    ch.on('error', () => {}); // a failed check closes this channel only; the next attach opens another
    this.ch = ch;
    this.o.capacity?.start();
    this.timer ??= setInterval(() => void this.poll(), POLL_MS);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    const ch = this.ch;
    if (this.reading || !ch) return;
    this.reading = true;
    try {
      const q = await ch.checkQueue(this.o.codeQueue());
      this.last = { ready: q.messageCount, consumers: q.consumerCount, capacity: this.o.capacity?.get() };
      if (this.o.window.observe(this.last, this.o.inFlight())) this.o.grew();
      const poolConsumers = q.consumerCount > 0 ? undefined : (await ch.checkQueue(this.o.pool)).consumerCount;
      this.o.onReading?.({ codeConsumers: q.consumerCount, ready: q.messageCount, poolConsumers });
    } catch {
      if (this.ch === ch) this.ch = undefined; // its channel is gone (a lost connection): the reconnect attaches again
    } finally {
      this.reading = false;
    }
  }

  /** Stops reading. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.ch = undefined;
    this.o.capacity?.stop();
  }
}
