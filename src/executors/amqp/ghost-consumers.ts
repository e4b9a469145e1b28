/**
 * Messages held by a consumer that is gone. After a node of a cluster is
 * lost, a quorum queue can go on counting the consumer of a channel that was
 * on that node (its worker has reconnected to another), and the messages
 * that consumer had taken stay checked out to it. Seen in
 * `bench/cluster.mjs`: the code queue counted 2 consumers for its one live
 * worker, nothing was waiting in it, and the job's last 4 messages came back
 * one every ~20 s, 80 s in all. A client that takes messages and never
 * answers (a hung program that is not an fj worker) holds them the same way.
 *
 * So once the broker has counted more consumers of the job's code queue
 * than live workers run the job's code (their heartbeats), with nothing
 * waiting in the queue (every live worker could take more), for
 * {@link GHOST_RESEND_MS} on end, the job's messages unanswered for as long
 * are sent again, each at most {@link GHOST_MAX_COPIES} times: the live
 * workers run them, and an answer to either copy counts once. (A worker
 * that has just started is counted by the broker before its first
 * heartbeat is read, for a second or two: the wait keeps that from looking
 * like a consumer that is gone.) Which messages the gone consumer holds is
 * not known: a message a live worker has been running for longer is copied
 * too, and its copy may run beside it, as after any redelivery (`process`
 * must be safe to repeat).
 */
import type { JobPlan } from '../../dispatch/job-plan.js';
import type { Publisher } from '../../broker/amqp.js';
import type { PoolCapacity } from './pool-capacity.js';
import type { CodeReading } from './pool-watch.js';
import type { WorkPublisher } from './publisher.js';

/** How long a message may go unanswered, while a consumer that is gone holds some, before it is sent again, ms. */
export const GHOST_RESEND_MS = 10_000;
/** The most copies of one message sent for this reason. */
export const GHOST_MAX_COPIES = 3;

/** What the watch needs of its job's transport. */
export interface GhostParts {
  readonly plan: JobPlan;
  /** The job's publisher: its unanswered messages, and where they go. */
  readonly out: WorkPublisher;
  /** The pool's live workers by the code they run (their heartbeats). */
  readonly capacity: PoolCapacity;
  /** The live connection's publisher, if any. */
  readonly publisher: () => Publisher | undefined;
  /** Whether the job is ending. */
  readonly closing: () => boolean;
}

export class GhostConsumers {
  /** Since when the readings have counted a consumer that is gone, with nothing waiting (undefined: they do not). */
  private since: number | undefined;

  constructor(private readonly p: GhostParts) {}

  /** A reading of the job's code queue (pool-watch.ts, a few times a second). */
  reading(r: CodeReading): void {
    const { plan, out, capacity } = this.p;
    const live = capacity.versions.running.get(out.codeHash)?.length ?? 0;
    // Heartbeats unread (live 0) say nothing; messages waiting mean the workers are busy, not that one is gone.
    if (live === 0 || r.codeConsumers <= live || r.ready > 0 || this.p.closing()) return void (this.since = undefined);
    const now = Date.now();
    this.since ??= now;
    if (now - this.since < GHOST_RESEND_MS) return;
    const publisher = this.p.publisher();
    if (!publisher) return;
    const resent = out.resendUnanswered(publisher, GHOST_RESEND_MS, GHOST_MAX_COPIES);
    if (resent > 0)
      plan.log.warn(
        `RabbitMQ counts ${r.codeConsumers} consumer(s) of ${out.queue} but ${live} live worker(s) run the job's code, ` +
          `and nothing waits in it: a consumer that is gone holds messages; sent ${resent} message(s) unanswered for ` +
          `${GHOST_RESEND_MS / 1000} s again (an answer to either copy counts once)`,
      );
  }
}
