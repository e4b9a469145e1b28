/**
 * Watches a pool's work queue for a job's coordinator: a few times a second
 * asks the broker how many messages are ready and how many workers consume
 * (`checkQueue`, plain AMQP: no management plugin), and feeds the job's
 * {@link Window}. On a channel of its own, so a failed check never closes
 * the channel the job's results arrive on.
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

export class PoolWatch {
  private ch: Channel | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reading = false;
  /** The last reading, if any. */
  last: PoolReading | undefined;

  constructor(
    private readonly window: Window,
    private readonly queue: string,
    /** Messages of this job in flight now. */
    private readonly inFlight: () => number,
    /** The window grew: send more. */
    private readonly grew: () => void,
    /** What else is known of the pool's capacity (worker heartbeats: pool-capacity.ts), when anything is. */
    private readonly capacity?: CapacitySource,
  ) {}

  /** Starts (or, after a reconnect, restarts) reading the pool over `conn`. */
  async attach(conn: ChannelModel): Promise<void> {
    const ch = await conn.createChannel();
    ch.on('error', () => {}); // a failed check closes this channel only; the next attach opens another
    this.ch = ch;
    this.capacity?.start();
    this.timer ??= setInterval(() => void this.poll(), POLL_MS);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    const ch = this.ch;
    if (this.reading || !ch) return;
    this.reading = true;
    try {
      const q = await ch.checkQueue(this.queue);
      this.last = { ready: q.messageCount, consumers: q.consumerCount, capacity: this.capacity?.get() };
      if (this.window.observe(this.last, this.inFlight())) this.grew();
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
    this.capacity?.stop();
  }
}
