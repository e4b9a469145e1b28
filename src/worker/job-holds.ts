/**
 * The job messages a worker holds: the lease of a detached job's
 * coordinator, and the watch of a worker that found the job attached
 * elsewhere.
 *
 * A job message taken from the pool's jobs queue is moved, before the job
 * is coordinated or watched here, into this worker's held queue
 * (broker/held-queue.ts): a copy is published there (confirmed), then the
 * jobs queue's delivery is acknowledged. This worker is that queue's only
 * consumer and keeps the copy unacknowledged: that delivery is the lease.
 *
 * - **Renewed, never timed out.** Every `renewMs` (a minute by default,
 *   `FJ_LEASE_RENEW_MS`) a fresh copy is published and, once it arrives,
 *   the old delivery acknowledged, so no delivery outlives RabbitMQ's
 *   `consumer_timeout` (30 minutes by default): a job of any length keeps
 *   its one coordinator, and its message is never put back in a loop, so no
 *   delivery limit of a quorum queue counts against it.
 * - **Taken over when the holder dies.** The broker puts a dead holder's
 *   deliveries back in its held queue, where their TTL has passed: they
 *   dead-letter into the jobs queue and the next worker takes the job over
 *   (within `HELD_TTL_MS` of the last renewal at worst).
 * - **Lost with a connection, found again.** A copy given back by a lost
 *   connection comes back to this worker's new consumer while its TTL runs
 *   (adopted again), or goes on to the jobs queue, where whoever takes it
 *   finds the job attached here and watches it (this worker, taking it,
 *   holds it again).
 * - **Ended or handed back.** `ack()` once the job's end is written (the
 *   message is done with); `release()` hands it back to the jobs queue at
 *   once (a rejection, which dead-letters it there): the worker stops, or
 *   cannot coordinate it after all.
 *
 * A copy that arrives for a job nothing here holds (a duplicate from a
 * renewal cut short) goes on to the jobs queue the same way: whoever takes
 * it sees where the job is, and a job whose end is written is acknowledged
 * there.
 */
import type { ConsumeMessage } from 'amqplib';
import { randomUUID } from 'node:crypto';
import { UsageError } from '../core/errors.js';
import type { QueueType } from '../core/location.js';
import type { QueueSpec } from '../broker/amqp.js';
import { HELD_BY, HELD_TTL_MS, heldQueue, heldQueueSpec } from '../broker/held-queue.js';
import type { ConsumerSpec, LinkSession } from '../broker/resilient-link.js';
import type { Logger } from '../task/types.js';

/** How often a held job message is renewed by default, ms (well inside RabbitMQ's 30-minute consumer_timeout). */
export const LEASE_RENEW_MS = 60_000;

/** `FJ_LEASE_RENEW_MS`, else {@link LEASE_RENEW_MS}; a bad value is a usage error naming it. */
export function leaseRenewMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.FJ_LEASE_RENEW_MS;
  if (raw === undefined || raw === '') return LEASE_RENEW_MS;
  const ms = Number(raw);
  if (!Number.isSafeInteger(ms) || ms < 100)
    throw new UsageError(
      `FJ_LEASE_RENEW_MS must be a whole number of milliseconds from 100 up (well under RabbitMQ's consumer_timeout), got ${JSON.stringify(raw)}`,
    );
  return ms;
}

/** What the holds are built from. */
export interface JobHoldsParts {
  /** The worker's name. */
  name: string;
  log: Logger;
  /** The pool. */
  queue: string;
  queueType: QueueType;
  renewMs: number;
}

/** One job message held by this worker (see the module's header). */
export class Hold {
  /** The copy this worker holds now, and the session it came on. */
  delivery: { msg: ConsumeMessage; session: LinkSession } | undefined;
  /** Called when a copy arrives. */
  arrived: (() => void) | undefined;
  /** Ended by ack() or release(): a copy that arrives later is not adopted. */
  ended = false;

  constructor(
    readonly jobId: string,
    /** The message as last seen (its body and headers), held or not. */
    public msg: ConsumeMessage,
    private readonly holds: JobHolds,
  ) {}

  /** Whether this worker holds the message now (false once a lost connection gave it back). */
  get live(): boolean {
    return !this.ended && this.delivery?.session.open === true;
  }

  /** The job's end is written: the message is done with. */
  ack(): void {
    this.end((d) => d.session.ch.ack(d.msg));
  }

  /** Hands the message back to the jobs queue at once (dead-lettered there: no redelivery counted). */
  release(): void {
    this.end((d) => d.session.ch.nack(d.msg, false, false));
  }

  private end(settle: (d: { msg: ConsumeMessage; session: LinkSession }) => void): void {
    if (this.ended) return;
    this.ended = true;
    this.holds.forget(this);
    const d = this.delivery;
    if (!d?.session.open) return; // given back with its connection: it finds its way to the jobs queue by itself
    try {
      settle(d);
    } catch {
      // the channel closed meanwhile: the same
    }
  }
}

/** This worker's held job messages, by job (see the module's header). */
export class JobHolds {
  /** This process's held queue. */
  readonly queueName: string;
  private readonly holds = new Map<string, Hold>();
  private timer: NodeJS.Timeout | undefined;
  /** The link's session now (renewals are published on it). */
  private session: () => LinkSession | undefined = () => undefined;

  constructor(private readonly p: JobHoldsParts) {
    this.queueName = heldQueue(p.queue, p.name, randomUUID().slice(0, 8));
  }

  /** The held queue's declaration, for the link's topology. */
  get spec(): QueueSpec {
    return heldQueueSpec(this.queueName, this.p.queue, this.p.queueType);
  }

  /** The held queue's consumer, for the link's topology: no prefetch limit (a held message must never wait there). */
  get consumer(): ConsumerSpec {
    return {
      queue: this.queueName,
      options: { noAck: false },
      prefetch: 0,
      onMessage: (msg, session) => this.arrive(msg, session),
    };
  }

  /** Starts renewing; `session` gives the link's session now. */
  start(session: () => LinkSession | undefined): void {
    this.session = session;
    this.timer ??= setInterval(() => this.renew(), this.p.renewMs);
    this.timer.unref();
  }

  /** Whether a message of job `jobId` is held (or being moved) here. */
  has(jobId: string): boolean {
    return this.holds.has(jobId);
  }

  /**
   * Moves `msg` (delivered on `session`, from the jobs queue) into the held
   * queue, and resolves with its hold once the copy is held (or after a
   * while without it: then it is not `live`, and is adopted if it comes). A
   * job held already keeps its hold (the copy replaces the one held).
   */
  async hold(jobId: string, msg: ConsumeMessage, session: LinkSession): Promise<Hold> {
    const known = this.holds.get(jobId);
    const h = known ?? new Hold(jobId, msg, this);
    if (!known) this.holds.set(jobId, h);
    const arrived = new Promise<void>((r) => (h.arrived = r));
    try {
      await this.publish(msg, session);
    } catch (err) {
      // Not moved: the message stays where it was (unacked, it goes back with its channel), and no hold is left behind.
      if (!known) this.forget(h);
      throw err;
    }
    session.ch.ack(msg);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([arrived, new Promise<void>((r) => (timer = setTimeout(r, HELD_TTL_MS / 2)))]);
    clearTimeout(timer);
    if (!h.live)
      this.p.log.warn(
        `job ${jobId}: its message did not reach this worker's held queue ${this.queueName} in ${HELD_TTL_MS / 2} ms; it goes back to the jobs queue by itself`,
      );
    return h;
  }

  /** Hands every held message back to the jobs queue (the worker stops). */
  releaseAll(): void {
    for (const h of [...this.holds.values()]) h.release();
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops renewing (the worker stops; what is held goes back with the connection). */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** @internal Called by a hold as it ends. */
  forget(h: Hold): void {
    if (this.holds.get(h.jobId) === h) this.holds.delete(h.jobId);
  }

  /** Publishes a copy of `msg` to the held queue on `session`, confirmed (its hold takes it as it arrives). */
  private async publish(msg: ConsumeMessage, session: LinkSession): Promise<void> {
    const { confirmed } = await session.publisher.send(this.queueName, msg.content, {
      persistent: true,
      messageId: msg.properties.messageId as string | undefined,
      type: msg.properties.type as string | undefined,
      headers: { ...msg.properties.headers, [HELD_BY]: this.p.name },
    });
    await confirmed;
  }

  /** A copy arrived in the held queue: the hold of its job adopts it (the one it replaces is acknowledged), else it goes on to the jobs queue. */
  private arrive(msg: ConsumeMessage, session: LinkSession): void {
    let jobId: unknown;
    try {
      jobId = (JSON.parse(msg.content.toString('utf8')) as { job?: unknown }).job;
    } catch {
      jobId = undefined;
    }
    const h = typeof jobId === 'string' ? this.holds.get(jobId) : undefined;
    try {
      if (!h || h.ended) return void session.ch.nack(msg, false, false); // dead-lettered into the jobs queue: whoever takes it sees where the job is
      const old = h.delivery;
      h.delivery = { msg, session };
      h.msg = msg;
      if (old && old.msg !== msg && old.session.open) old.session.ch.ack(old.msg);
    } catch {
      // the channel closed meanwhile: the copies go back to the held queue, then on to the jobs queue
    }
    h?.arrived?.();
  }

  /** Publishes a fresh copy of every live hold; each replaces the one before as it arrives. */
  private renew(): void {
    for (const h of this.holds.values()) {
      const s = h.delivery?.session.open ? h.delivery.session : this.session();
      if (!h.live || !s) continue; // given back with its connection: not ours to renew
      this.publish(h.msg, s).catch((err: Error) =>
        this.p.log.warn(
          `job ${h.jobId}: its lease was not renewed (${err.message}); tried again in ${this.p.renewMs} ms`,
        ),
      );
    }
  }
}
