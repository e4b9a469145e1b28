/**
 * The coordinator's work messages: a batch becomes one message on the
 * pool's queue for the task's code (broker/amqp.ts `codeQueue`; items over the inline limit go to the store and travel
 * by ref), named `<job>:<run tag>:<seq>` and signed when the pool signs.
 * Keeps every message until the dispatcher has all its answers, so that a
 * reconnect re-sends what the broker had not confirmed, and tells an answer
 * to one of this job's messages from a stranger's.
 *
 * A message the broker refuses (nacks) on a live connection is sent again
 * after a pause: a quorum queue refuses publishes while it elects a leader
 * (a node lost), a full queue with `overflow: reject-publish` until it has
 * room. Refused on one connection for {@link REFUSED_RECONNECT_MS}, the
 * connection is given up and another one made: RabbitMQ 3.10 has been seen
 * refusing every message on a channel for good after the leader of the
 * queue moved, while a new channel publishes to it at once. The job gives
 * up, resumable, only once the broker has refused every message it was sent
 * for the give-up time on end (FJ_RECONNECT_GIVE_UP_MS, as for a lost
 * connection).
 */
import { randomBytes } from 'node:crypto';
import { encodeChecked } from '../../core/codec.js';
import { TransportError } from '../../core/errors.js';
import type { Batch } from '../../dispatch/transport.js';
import type { JobPlan } from '../../dispatch/job-plan.js';
import { SIGNATURE_HEADER, signWork } from '../../core/signing.js';
import type { PayloadStore } from '../../store/store.js';
import { codeQueue, H, PROTOCOL, resultsQueue, type Publisher } from '../../broker/amqp.js';
import { encodeBody, type Slot } from '../../broker/messages.js';
import { messageId, parseMessageId } from '../../broker/message-id.js';
import type { ChannelModel } from 'amqplib';
import type { Signer } from '../../core/signing.js';

/** Where the job is, for the transport. */
export interface AmqpJob {
  readonly jobId: string;
  readonly queue: string;
  readonly paramsRef: string;
  /** Tags of the job's earlier coordinator runs (`fj resume`): answers to their messages count too. */
  readonly earlierRuns: readonly string[];
  /** A connection opened early (while the input validated), else `open` connects. */
  readonly conn?: Promise<ChannelModel>;
  /** Signs work and checks results, when the pool has a signing key. */
  readonly signer?: Signer;
  /** Keep the results queue when the job succeeds (a detached job: deleted once its output is stored). */
  readonly keepResults?: boolean;
  /** Called once attached to the results queue, before anything is published (records this run). */
  readonly onAttached?: () => Promise<void>;
}

/** A published work message awaiting its results. */
interface Sent {
  batch: Batch;
  body: Buffer;
  /** The broker confirmed it (a reconnect re-sends only unconfirmed ones). */
  confirmed: boolean;
  /** Times the broker refused it in a row (the pause before sending it again grows with them). */
  refusals: number;
  /** When it was last published (Date.now()). */
  publishedAt: number;
  /** Copies sent again because a consumer that is gone held it ({@link WorkPublisher.resendUnanswered}). */
  copies: number;
}

/** What a {@link WorkPublisher} asks of its transport. */
export interface PublisherLink {
  /** The publisher of the live connection, if any (a refusal on another one was the connection's end: the reconnect re-sends). */
  current(): Publisher | undefined;
  /** The job is ending: nothing is sent again. */
  closing(): boolean;
  /** How long the broker may refuse every message before the job gives up, ms (FJ_RECONNECT_GIVE_UP_MS, as for a lost connection). */
  giveUpMs(): number;
  /** The broker refused the job's messages for {@link giveUpMs} on end: the job stops (resumable). */
  giveUp(err: TransportError): void;
  /** `publisher`'s connection refuses everything: give it up for another (which re-sends what was unconfirmed). */
  reconnect(publisher: Publisher, why: string): void;
}

/** The first pause before a refused message is sent again, ms; it doubles with each refusal of that message, up to {@link REFUSED_MAX_PAUSE_MS}. */
export const REFUSED_FIRST_PAUSE_MS = 100;
/** The longest pause before a refused message is sent again, ms. */
export const REFUSED_MAX_PAUSE_MS = 2000;
/** How long one connection may refuse every message before it is given up for another, ms. */
export const REFUSED_RECONNECT_MS = 5000;

export class WorkPublisher {
  /** This run's tag: unique and unguessable, so only this job's coordinators can name its messages. */
  readonly runTag = randomBytes(12).toString('hex');
  /** Work messages awaiting results, by message id, and the ids of their batches. */
  private readonly sent = new Map<string, Sent>();
  private readonly ids = new Map<Batch, string>();
  private seq = 0;
  private bytes = 0;
  /** The code the job's items run: the coordinator's own, until the job follows new code ({@link follow}). */
  private code: string;
  /** Since when the broker has refused every message it was sent and confirmed none (undefined: it takes them). */
  private refusedSince: number | undefined;
  /** The publisher refusing now, and since when (a new connection's publisher starts its own count). */
  private refusing: { publisher: Publisher; since: number } | undefined;
  /** Refused messages waiting to be sent again. */
  private readonly retries = new Set<NodeJS.Timeout>();

  constructor(
    private readonly plan: JobPlan,
    private readonly store: PayloadStore,
    private readonly job: AmqpJob,
    private readonly link: PublisherLink,
  ) {
    this.code = plan.task.codeHash;
  }

  /** Sends nothing more again (the job is ending). */
  stop(): void {
    for (const t of this.retries) clearTimeout(t);
    this.retries.clear();
  }

  /** The code hash the job's items are published for now. */
  get codeHash(): string {
    return this.code;
  }

  /** The queue the job's items go to: its pool's queue for the task's code (only workers running that code consume it). */
  get queue(): string {
    return codeQueue(this.job.queue, this.plan.task.name, this.code);
  }

  /**
   * Moves the job onto other code for its task (the user allowed it: no
   * live worker runs the job's own any more): from now on its items are
   * published for `codeHash`, and every message not yet answered is sent
   * again there through `publisher` (an answer to either copy counts once).
   * Returns how many were sent again.
   */
  follow(codeHash: string, publisher: Publisher): number {
    this.code = codeHash;
    let n = 0;
    for (const [id, sent] of this.sent) {
      sent.confirmed = false;
      this.publish(id, sent, publisher);
      n++;
    }
    return n;
  }

  /** Messages published and not fully answered. */
  get inFlight(): number {
    return this.sent.size;
  }

  /** Bytes of the message bodies published and not fully answered (kept to be sent again after a reconnect). */
  get bytesInFlight(): number {
    return this.bytes;
  }

  /**
   * Publishes `batch` through the publisher `current()` gives when the
   * message is ready (none: the connection is down; the reconnect sends it).
   */
  send(batch: Batch, current: () => Publisher | undefined): void | Promise<void> {
    const encoded = batch.values.map((v) => encodeChecked(v));
    const { inlineLimit } = this.plan.options;
    if (encoded.every((b) => b.length <= inlineLimit)) return this.keep(batch, encoded, current());
    return Promise.all(encoded.map((b) => this.slot(b))).then((slots) => this.keep(batch, slots, current()));
  }

  /** Sends again every message the broker has not confirmed; returns how many. */
  resendUnconfirmed(publisher: Publisher): number {
    let n = 0;
    for (const [id, sent] of this.sent) {
      if (sent.confirmed) continue;
      this.publish(id, sent, publisher);
      n++;
    }
    return n;
  }

  /** Forgets `batch`'s message: every item is answered (later answers to it are duplicates). */
  forget(batch: Batch): void {
    const id = this.ids.get(batch);
    if (id === undefined) return;
    this.ids.delete(batch);
    this.bytes -= this.sent.get(id)?.body.length ?? 0;
    this.sent.delete(id);
  }

  /** The batch of message `id`, while it awaits answers. */
  batchOf(id: string): Batch | undefined {
    return this.sent.get(id)?.batch;
  }

  /** Whether `id` names a message of this job: this run's (in flight) or an earlier run's. */
  issued(id: string): 'now' | 'earlier' | undefined {
    if (this.sent.has(id)) return 'now';
    const parsed = parseMessageId(id, this.job.jobId);
    if (parsed && this.job.earlierRuns.includes(parsed.run)) return 'earlier';
    return undefined;
  }

  /** Whether `id` is one of this run's messages that has been answered already (a duplicate, not a stranger). */
  answeredBefore(id: string): boolean {
    const parsed = parseMessageId(id, this.job.jobId);
    return parsed?.run === this.runTag && parsed.seq < this.seq;
  }

  /** Inline bytes, or a store ref when over the inline limit. */
  private async slot(bytes: Uint8Array): Promise<Slot> {
    if (bytes.length <= this.plan.options.inlineLimit) return bytes;
    this.plan.counters.bytesStored += bytes.length;
    return this.store.put(this.job.jobId, bytes);
  }

  private keep(batch: Batch, slots: Slot[], publisher: Publisher | undefined): void {
    const id = messageId(this.job.jobId, this.runTag, this.seq++);
    const sent: Sent = {
      batch,
      body: encodeBody({ first: batch.first, items: slots }),
      confirmed: false,
      refusals: 0,
      publishedAt: Date.now(),
      copies: 0,
    };
    this.sent.set(id, sent);
    this.bytes += sent.body.length;
    this.ids.set(batch, id);
    if (publisher) this.publish(id, sent, publisher);
  }

  /**
   * Sends again, through `publisher`, every confirmed message published
   * more than `olderThanMs` ago and still unanswered, at most `maxCopies`
   * times each; returns how many. For messages a consumer that is gone
   * holds (ghost-consumers.ts): an answer to either copy counts once.
   */
  resendUnanswered(publisher: Publisher, olderThanMs: number, maxCopies: number): number {
    const now = Date.now();
    let n = 0;
    for (const [id, sent] of this.sent) {
      if (!sent.confirmed || sent.copies >= maxCopies || now - sent.publishedAt < olderThanMs) continue;
      sent.copies++;
      sent.confirmed = false;
      this.publish(id, sent, publisher);
      n++;
    }
    return n;
  }

  private publish(id: string, sent: Sent, publisher: Publisher): void {
    const { counters, task, options } = this.plan;
    sent.publishedAt = Date.now();
    counters.messages++;
    counters.bytesPublished += sent.body.length;
    const headers: Record<string, unknown> = {
      [H.protocol]: PROTOCOL,
      [H.job]: this.job.jobId,
      [H.task]: task.name,
      [H.code]: this.code,
      [H.params]: this.job.paramsRef,
      [H.first]: sent.batch.first,
      [H.count]: sent.batch.values.length,
    };
    if (options.itemTimeoutMs) headers[H.timeout] = options.itemTimeoutMs;
    if (this.job.signer) headers[SIGNATURE_HEADER] = signWork(this.job.signer, id, headers, sent.body);
    publisher
      .send(this.queue, sent.body, {
        messageId: id,
        replyTo: resultsQueue(this.job.jobId),
        contentType: 'application/x-msgpack',
        type: 'fj.work',
        headers,
      })
      .then(({ confirmed }) => confirmed)
      .then(
        () => this.confirmed(sent),
        (err: Error) => this.refused(id, sent, publisher, err),
      );
  }

  private confirmed(sent: Sent): void {
    sent.confirmed = true;
    sent.refusals = 0;
    this.refusing = undefined;
    if (this.refusedSince === undefined) return;
    const s = Math.round((Date.now() - this.refusedSince) / 100) / 10;
    this.refusedSince = undefined;
    this.plan.log.warn(`RabbitMQ takes the job's messages again after ${s} s of refusals (${this.queue})`);
  }

  /**
   * `publisher` did not confirm message `id`. On the live connection the
   * broker refused it: it is sent again after a pause; after
   * {@link REFUSED_RECONNECT_MS} of refusals on that connection, on another;
   * unless the broker has refused everything for the give-up time. (Lost
   * with its connection, it is the reconnect's to send again; answered
   * meanwhile, or the job ending, it is nobody's.)
   */
  private refused(id: string, sent: Sent, publisher: Publisher, err: Error): void {
    if (this.link.closing() || this.link.current() !== publisher || !publisher.open || this.sent.get(id) !== sent)
      return;
    const now = Date.now();
    if (this.refusedSince === undefined) {
      this.refusedSince = now;
      this.plan.log.warn(
        `RabbitMQ refused a message of the job for ${this.queue} (${err.cause instanceof Error ? err.cause.message : err.message}); sending it again ` +
          `(a quorum queue refuses messages while it elects a new leader; a full queue with overflow reject-publish, until it has room)`,
      );
    } else if (now - this.refusedSince >= this.link.giveUpMs()) {
      return this.link.giveUp(
        new TransportError(
          `RabbitMQ refused the job's messages for ${this.queue} for ${Math.round(this.link.giveUpMs() / 1000)} s on end ` +
            `(FJ_RECONNECT_GIVE_UP_MS); the last refusal: ${err.message}`,
          { resumable: true, cause: err },
        ),
      );
    }
    if (this.refusing?.publisher !== publisher) this.refusing = { publisher, since: now };
    else if (now - this.refusing.since >= REFUSED_RECONNECT_MS) {
      // the reconnect sends every unconfirmed message again, this one included
      return this.link.reconnect(
        publisher,
        `RabbitMQ has refused every message on it for ${Math.round((now - this.refusing.since) / 1000)} s; reconnecting`,
      );
    }
    const pause = Math.min(REFUSED_MAX_PAUSE_MS, REFUSED_FIRST_PAUSE_MS * 2 ** sent.refusals++);
    const t = setTimeout(() => {
      this.retries.delete(t);
      const current = this.link.current();
      // answered by an earlier copy, re-sent by a reconnect, or the job ending: nothing to do
      if (this.link.closing() || this.sent.get(id) !== sent || sent.confirmed || !current) return;
      this.publish(id, sent, current);
    }, pause);
    this.retries.add(t);
  }
}
