/**
 * What `fj worker` does with a message it will not run, and whom it tells:
 *
 * - dead-lettered (a failed check, a job its store does not know, over
 *   `--max-message-bytes`, other code): the job's coordinator is told why
 *   (`refused`, which ends the job), but only when the message is plausibly
 *   its own (see {@link Refusals.notify}): a stranger's message gets no
 *   reply anywhere, so no job waits for answers that will never come and no
 *   worker can be used to publish into queues;
 * - a task this worker does not serve: the message is published again for
 *   another worker and the job told (`declined`); its coordinator fails the
 *   job once every worker of the pool has declined.
 */
import type { ConsumeMessage } from 'amqplib';
import { WorkerRefusedError } from '../core/errors.js';
import { isJobId } from '../core/job-id.js';
import type { TaskInfo } from '../task/registry.js';
import type { Logger } from '../task/types.js';
import { deadLetterQueue, H, PROTOCOL, resultsQueue, type ResultStatus } from '../broker/amqp.js';
import type { LinkSession } from '../broker/resilient-link.js';
import { show } from '../broker/inspect.js';
import { parseMessageId } from '../broker/message-id.js';
import { DECLINES, ISOLATED, type ResultBody } from '../broker/messages.js';
import { toWire } from '../core/wire-error.js';

/** Header of a message a worker that lacks its task put back: how many times that happened. */
/** A message put back this many times (no worker serving its task took it) is dead-lettered. */
const MAX_DECLINES = 50;
/** How long a worker that lacks a message's task holds it before putting it back (no spinning). */
const DECLINE_DELAY_MS = 500;
/** How long a worker trusts what it learnt about a job's coordinator (attached or not). */
const PROBE_TTL_MS = 2000;

/** The session a message came on (it is acked or rejected there, or not at all). */
type Link = LinkSession;

/** What refusals need from their worker. */
export interface RefusalParts {
  log: Logger;
  queue: string;
  tasks: Map<string, TaskInfo>;
  /** Publishes a result message for `msg` on the job's own results queue, confirmed. */
  reply(link: Link, job: string, msg: ConsumeMessage, status: ResultStatus, body: ResultBody): Promise<void>;
}

export class Refusals {
  /** Whether a job's coordinator is attached to its results queue, and when we looked. */
  private readonly probes = new Map<string, { at: number; attached: Promise<boolean> }>();
  /** Jobs whose task this worker lacks, with when it last told their coordinator. */
  private readonly lacking = new Map<string, number>();

  constructor(private readonly p: RefusalParts) {}

  /**
   * Rejects a message to the dead-letter queue, saying why, and tells its
   * job's coordinator (see {@link notify}). `unsigned`: the message does not
   * carry a good signature under this worker's key; the notice says so, so a
   * coordinator that signs with the same key knows the message was not its
   * own as sent (a changed copy) and does not end the job over it.
   */
  async deadLetter(link: Link, msg: ConsumeMessage, why: string, unsigned = false): Promise<void> {
    this.p.log.warn(
      `dead-lettered message ${show(msg.properties.messageId ?? '(no id)')} to ${deadLetterQueue(this.p.queue)}: ${why}`,
    );
    await this.notify(link, msg, 'refused', `dead-lettered to ${deadLetterQueue(this.p.queue)}: ${why}`, unsigned);
    if (link.open) link.ch.nack(msg, false, false);
  }

  /**
   * Tells a job's coordinator why this worker will not run a message's
   * items — only when the message is plausibly that coordinator's own:
   * its headers name a job and items, its id is `<job>:<run tag>:<seq>` of
   * that job, and a coordinator is attached to the job's results queue (it
   * consumes it exclusively, so a consumer there is the job's coordinator).
   * A made-up job, or a stranger's copy of a finished job's message, gets no
   * reply anywhere, so a worker cannot be used to publish into queues. A
   * stranger who copies a live job's headers reaches only its coordinator,
   * which counts an answer only to a message id it issued (unguessable).
   */
  async notify(
    link: Link,
    msg: ConsumeMessage,
    status: 'refused' | 'declined',
    why: string,
    unsigned = false,
  ): Promise<void> {
    const headers = msg.properties.headers;
    if (!headers || Object.getPrototypeOf(headers) !== Object.prototype) return;
    const own = (name: string): unknown => (Object.hasOwn(headers, name) ? headers[name] : undefined);
    const job = own(H.job);
    const first = own(H.first);
    const count = own(H.count);
    if (own(H.protocol) !== PROTOCOL || !isJobId(job) || !parseMessageId(msg.properties.messageId, job)) return;
    if (!Number.isSafeInteger(first) || (first as number) < 0 || !Number.isSafeInteger(count) || (count as number) < 1)
      return;
    if (!(await this.coordinatorAttached(link, job))) return;
    const body: ResultBody = {
      first: first as number,
      count: count as number,
      error: toWire(new WorkerRefusedError(why)),
      ...(unsigned ? { unsigned: true } : {}),
    };
    await this.p.reply(link, job, msg, status, body).catch(() => {});
  }

  /** Whether a coordinator consumes `job`'s results queue (a passive check, on a channel of its own: a 404 closes it). */
  private coordinatorAttached(link: Link, job: string): Promise<boolean> {
    const now = Date.now();
    const known = this.probes.get(job);
    if (known && now - known.at < PROBE_TTL_MS) return known.attached;
    if (this.probes.size > 1000) this.probes.clear();
    const attached = (async () => {
      const ch = await link.conn.createChannel();
      ch.on('error', () => {});
      try {
        return (await ch.checkQueue(resultsQueue(job))).consumerCount > 0;
      } finally {
        await ch.close().catch(() => {});
      }
    })().catch(() => false);
    this.probes.set(job, { at: now, attached });
    return attached;
  }

  /**
   * This worker does not serve the message's task: tell the job (its
   * coordinator fails once every worker of the pool has said so), hold the
   * message a moment, then publish it again at the back of the queue for a
   * worker that serves it, and ack it. (A nack with requeue would spin, and
   * mark the message redelivered: the next worker would take it for one
   * whose worker died.) After {@link MAX_DECLINES} such rounds it is
   * dead-lettered.
   */
  async decline(link: Link, msg: ConsumeMessage, job: string, task: string): Promise<void> {
    const { log, tasks, queue } = this.p;
    const headers = msg.properties.headers ?? {};
    const rounds = typeof headers[DECLINES] === 'number' ? headers[DECLINES] : 0;
    const why = `this worker does not serve task ${show(task)} (it serves ${[...tasks.keys()].join(', ')}; start it with --tasks MODULE)`;
    if (rounds >= MAX_DECLINES)
      return this.deadLetter(link, msg, `${why}; put back ${rounds} times, and no worker that serves it took it`);
    const told = this.lacking.get(job);
    if (told === undefined) log.warn(`job ${job}: ${why}; its messages go back to ${queue} for other workers`);
    if (told === undefined || Date.now() - told > PROBE_TTL_MS) {
      if (this.lacking.size > 1000) this.lacking.clear();
      this.lacking.set(job, Date.now());
      await this.notify(link, msg, 'declined', why);
    }
    await new Promise((r) => setTimeout(r, DECLINE_DELAY_MS));
    if (!link.open) return; // its delivery died with the connection: the broker redelivers it
    try {
      const { confirmed } = await link.publisher.send(queue, msg.content, {
        messageId: msg.properties.messageId as string | undefined,
        contentType: msg.properties.contentType as string | undefined,
        type: msg.properties.type as string | undefined,
        // A redelivered message stays suspect in its new copy (see crash-count.ts).
        headers: { ...headers, [DECLINES]: rounds + 1, ...(msg.fields.redelivered ? { [ISOLATED]: 1 } : {}) },
      });
      await confirmed;
      if (link.open) link.ch.ack(msg);
    } catch (err) {
      log.warn(
        `could not put back ${show(msg.properties.messageId)}: ${(err as Error).message}; it goes back to the queue`,
      );
      if (link.open) link.ch.nack(msg, false, true);
    }
  }
}
