/**
 * The amqp transport (the coordinator's side of distributed mode): a job's
 * batches become work messages on a pool's queue; `fj worker` processes
 * answer on the job's own results queue.
 *
 * - Backpressure: a window sized to the pool (window.ts, read from the
 *   broker by pool-watch.ts) bounds the messages and bytes awaiting results
 *   (fan-out by reference and publishing: publisher.ts).
 * - Results stay unacked in the durable results queue until the job ends:
 *   they are the job's record, so after a crash of the coordinator `fj
 *   resume` finds every result recorded so far. The coordinator consumes
 *   the queue exclusively: a second coordinator of the same job is refused
 *   by the broker itself.
 * - Only answers to messages this job issued count: a message id carries the
 *   run's unguessable tag, and an answer naming an id of no run of this job
 *   is dropped. Result messages are read strictly (results.ts); refs
 *   outside the job are refused.
 * - A lost connection (a broker restart) is survived: reconnect with backoff,
 *   declare the queues again, re-send what the broker had not confirmed.
 */
import type { ChannelModel, ConsumeMessage } from 'amqplib';
import { decode } from '../../core/codec.js';
import type { Batch, Transport, TransportEvents } from '../../dispatch/transport.js';
import { COMBINED_TARGET_MS } from '../../dispatch/batch-sizer.js';
import {
  AttachedElsewhereError,
  CancelledError,
  FjError,
  InternalError,
  isResumable,
  LimitError,
  TransportError,
  UsageError,
  WorkerRefusedError,
  ranOn,
} from '../../core/errors.js';
import type { JobPlan } from '../../dispatch/job-plan.js';
import type { PayloadStore } from '../../store/store.js';
import {
  brokerNode,
  codeQueueSpec,
  connect,
  CONTROL_EXCHANGE_SPEC,
  publishCancel,
  reconnectGiveUpMs,
  resultsQueue,
  resultsQueueSpec,
  resultsQueueState,
  withHeartbeat,
  workQueueSpecs,
} from '../../broker/amqp.js';
import { QUORUM_RESULTS_PREFETCH } from '../../broker/queue-type.js';
import { GhostConsumers } from './ghost-consumers.js';
import { ResilientLink, type LinkSession } from '../../broker/resilient-link.js';
import { show } from '../../broker/inspect.js';
import { fromWire } from '../../core/wire-error.js';
import { WorkPublisher, type AmqpJob } from './publisher.js';

export type { AmqpJob };
import { readResult } from './results.js';
import { cancelledMessage } from '../../store/cancel-record.js';
import { PoolCapacity } from './pool-capacity.js';
import { PoolWatch } from './pool-watch.js';
import { CodeWatch } from './code-watch.js';
import { Window } from './window.js';
import { FairShare } from './fair-share.js';
import { workerCommand } from '../../task/task-lookup.js';
import type { TaskInfo } from '../../task/registry.js';

/** A message should keep a worker busy about this long. */
const TARGET_BATCH_MS = 20;
const MAX_BATCH = 4096;
/** How long `fj resume` waits for the results already queued before publishing. */
const DRAIN_MS = 30_000;

/** One connection's channels: results are consumed (and dropped) on `ch`, work published through `publisher`. */
type Link = LinkSession;

export class AmqpTransport implements Transport {
  readonly batching;
  /** Whether this coordinator attached to the job's results queue (a refused `fj resume` never does). */
  attached = false;
  private events!: TransportEvents;
  /** The results link: declared and consumed again after every reconnect, for FJ_RECONNECT_GIVE_UP_MS at most. */
  private link: ResilientLink | undefined;
  private closing = false;
  /** How long the broker may be lost, or refuse every message, before the job stops (FJ_RECONNECT_GIVE_UP_MS; read in `open`). */
  private giveUpMs = 0;
  private readonly resultsQ: string;
  /** The job's work messages in flight. */
  private readonly out: WorkPublisher;
  private readonly pendingDecode = new Set<Promise<void>>();
  /** Workers that said they do not serve the task (they put its messages back for others), with why. */
  private readonly declined = new Map<string, string>();
  private countingConsumers = false;
  /** Result messages received, and queued when this coordinator first attached (`fj resume` waits for those). */
  private received = 0;
  /** Result messages held unacknowledged on the current channel (a quorum results queue delivers at most {@link QUORUM_RESULTS_PREFETCH}). */
  private held = 0;
  private backlog = -1;
  private drained: (() => void) | undefined;
  /** Messages allowed in flight, and what sizes it. */
  private readonly window = new Window();
  private readonly watch: PoolWatch;
  /** The pool's workers by the code they run for the task (their heartbeats). */
  private readonly capacity: PoolCapacity;
  /** What the job does when its pool's workers stop running its code. */
  private readonly code: CodeWatch;
  /** Messages a consumer that is gone holds: sent again (ghost-consumers.ts). */
  private readonly ghosts: GhostConsumers;
  /** The job's share of the pool, against the other jobs on it (their beacons). */
  private readonly fair: FairShare;

  constructor(
    private readonly plan: JobPlan,
    private readonly store: PayloadStore,
    private readonly job: AmqpJob,
  ) {
    this.resultsQ = resultsQueue(job.jobId);
    // A message refused by a live broker is sent again, on another connection if this one keeps refusing
    // (until the broker has refused for the give-up time); one lost with its connection is the reconnect's to re-send.
    this.out = new WorkPublisher(plan, store, job, {
      current: () => this.link?.session?.publisher,
      closing: () => this.closing,
      giveUpMs: () => this.giveUpMs,
      giveUp: (err) => this.events.fatal(err),
      reconnect: (publisher, why) => {
        const session = this.link?.session;
        if (session?.publisher === publisher) session.abandon(why);
      },
    });
    // The workers' heartbeats: the window starts at the size of the workers that run the job's code.
    this.capacity = new PoolCapacity(
      store,
      job.queue,
      () => ({ task: plan.task.name, hash: this.out.codeHash }),
      job.signer,
    );
    this.code = new CodeWatch({
      plan,
      job,
      out: this.out,
      capacity: this.capacity,
      session: () => this.link?.session,
      closing: () => this.closing,
      events: () => this.events,
    });
    this.ghosts = new GhostConsumers({
      plan,
      out: this.out,
      capacity: this.capacity,
      publisher: () => this.link?.session?.publisher,
      closing: () => this.closing,
    });
    this.watch = new PoolWatch({
      window: this.window,
      pool: job.queue,
      codeQueue: () => this.out.queue,
      inFlight: () => this.out.inFlight,
      grew: () => this.events.room(),
      onReading: (r) => {
        this.code.reading(r);
        this.ghosts.reading(r);
      },
      capacity: this.capacity,
    });
    this.fair = new FairShare({
      store,
      signer: job.signer,
      pool: job.queue,
      job: job.jobId,
      weight: plan.options.weight,
      priority: plan.options.priority,
      tenant: plan.options.tenant,
      rated: (plan.options.rateLimit ?? plan.task.rateLimit) === undefined ? undefined : plan.task.name,
      inFlight: () => this.out.inFlight,
      capacity: () => this.capacity.get(),
      tenantCaps: () => this.capacity.tenantCaps,
      tenantWeights: () => this.capacity.tenantWeights,
      readCapacity: async () => (await this.capacity.refresh(), this.capacity.get()),
      onShare: (share) => {
        const before = this.window.allowed;
        this.window.share = share;
        if (this.window.allowed > before) this.events.room();
      },
    });
    const capacity = this.capacity;
    this.batching = {
      targetMs: plan.task.combines ? COMBINED_TARGET_MS.amqp : TARGET_BATCH_MS,
      max: MAX_BATCH,
      // While sizes ramp, a batch per message the pool's workers take at once (their prefetch): every thread has
      // work from the first answers on, where two batches left one worker's threads waiting on round trips.
      get rampSlots() {
        return capacity.get();
      },
    };
  }

  get hasRoom(): boolean {
    if (this.link?.session === undefined) return false;
    if (this.window.hasRoom(this.out.inFlight, this.out.bytesInFlight)) return true;
    this.fair.heldBack(); // the dispatcher has more to send: this job can use more of the pool
    return false;
  }

  get busy(): boolean {
    return this.pendingDecode.size > 0;
  }

  /** This run's tag: unique and unguessable, so only this job's coordinators can name its messages. */
  get runTag(): string {
    return this.out.runTag;
  }

  get inFlightMessages(): number {
    return this.out.inFlight;
  }

  async open(events: TransportEvents): Promise<void> {
    this.events = events;
    this.giveUpMs = reconnectGiveUpMs(); // a bad FJ_RECONNECT_GIVE_UP_MS is reported before anything connects
    const link = (this.link = this.resultsLink(this.giveUpMs));
    const { plan, job } = this;
    const conn = await (job.conn ?? connect(withHeartbeat(plan.options.broker), `job ${job.jobId}`));
    try {
      plan.log.debug(`connected to RabbitMQ at ${brokerNode(conn) ?? 'its node'}`);
      if (plan.origin.resume) await this.checkResumable(conn);
      await link.start(conn).catch((err: unknown) => {
        throw refusal(err, job.jobId);
      });
      await job.onAttached?.();
      this.attached = true;
    } catch (err) {
      this.closing = true;
      this.watch.stop();
      await this.fair.stop();
      await link.close(async (s) => {
        if (s && !plan.origin.resume && !(err instanceof AttachedElsewhereError))
          await s.ch.deleteQueue(this.resultsQ).catch(() => {});
      });
      await conn.close().catch(() => {});
      throw err;
    }
    plan.options.onAttached?.({ jobId: job.jobId });
    // A warning only: the first items are sent meanwhile.
    link
      .session!.ch.checkQueue(this.out.queue)
      .then(({ consumerCount }) => {
        if (consumerCount === 0)
          plan.log.warn(
            `no worker of pool ${job.queue} runs task ${show(plan.task.name)} with this job's code (${this.out.codeHash}) yet: start one with '${workerCommand(job.queue, plan.task.moduleUrl)}'`,
          );
      })
      .catch(() => {}); // the link lost meanwhile: its reconnect is the job's concern
    plan.log.info(`job ${job.jobId}: queue ${job.queue}, store ${this.store.url}`);
    if (plan.origin.resume) await this.drain();
  }

  /** `fj resume`: the results queue must exist and have no coordinator consuming it. */
  private async checkResumable(conn: ChannelModel): Promise<void> {
    const state = await resultsQueueState(conn, this.job.jobId);
    if (!state)
      throw new UsageError(
        `job ${this.job.jobId} has no results queue on the broker: it finished, was cancelled, or expired (results queues live a day)`,
      );
    if (state.coordinators > 0) throw stillAttached(this.job.jobId);
  }

  /**
   * `fj resume`: records the results already in the queue before publishing
   * anything, so only items without one are sent again. (A coordinator that
   * died leaves its results unacked: the broker has put them back.)
   */
  private async drain(): Promise<void> {
    const deadline = Date.now() + DRAIN_MS;
    while (this.received < this.backlog && Date.now() < deadline && this.link?.session) {
      await new Promise<void>((r) => {
        this.drained = r;
        setTimeout(r, 200);
      });
    }
    this.drained = undefined;
    this.plan.log.info(`resumed job ${this.job.jobId}: ${this.plan.ledger.recorded} item(s) already have results`);
  }

  /**
   * The link to the broker: the pool's work queue, the control exchange and
   * the job's results queue, consumed exclusively (a second coordinator of
   * the job is refused by the broker). Lost, it reconnects for `giveUpMs`,
   * then the job ends resumable.
   */
  private resultsLink(giveUpMs: number): ResilientLink {
    const { log, options } = this.plan;
    const { jobId, queue } = this.job;
    return new ResilientLink({
      name: `job ${jobId}`,
      url: () => withHeartbeat(options.broker),
      giveUpMs,
      closeBehind: true, // awaited by the executor's dispose (connectionClosed), after the job's end is written
      topology: {
        exchanges: [CONTROL_EXCHANGE_SPEC],
        queues: [
          ...workQueueSpecs(queue, options.queueType),
          codeQueueSpec(queue, this.plan.task.name, this.out.codeHash, options.queueType),
          resultsQueueSpec(jobId, options.queueType),
        ],
        // Results stay unacked until the job ends (they are its durable record),
        // so no prefetch limit: the window of work messages bounds them. A quorum
        // queue reads "none" as 2,000: it gets the most AMQP allows.
        prefetch: options.queueType === 'quorum' ? QUORUM_RESULTS_PREFETCH : undefined,
        consumers: [
          {
            queue: this.resultsQ,
            options: { noAck: false, exclusive: true },
            onMessage: (msg, link) => this.onResult(msg, link),
          },
        ],
      },
      // Another coordinator consumes the results queue: reconnecting changes nothing.
      retryable: (err) => !accessRefused(err),
      onChannelClosed: (reason, consumerTimeout) =>
        log.warn(
          consumerTimeout
            ? `RabbitMQ closed the results channel after its consumer_timeout (the job holds its results unacknowledged until it ends): ${reason}. ` +
                'Reconnecting; the results are delivered again and counted once. For jobs this long, raise consumer_timeout in rabbitmq.conf.'
            : `RabbitMQ closed the results channel: ${reason}; reconnecting`,
        ),
      onPublishingLost: (reason) => log.warn(`the connection to RabbitMQ can no longer publish: ${reason}`),
      onDown: () => log.warn('lost the connection to RabbitMQ; reconnecting'),
      onAttempt: (n, err) => log.info(`reconnect attempt ${n}: ${err.message}`),
      onUp: async (link, reconnected) => {
        this.held = 0; // a new channel: the broker delivers every unacknowledged result again
        if (this.backlog < 0) this.backlog = link.declared.get(this.resultsQ)?.messageCount ?? 0;
        if (reconnected) {
          // What the broker had not confirmed may be lost: send it again (duplicates are harmless).
          // Before anything else publishes on the new link, so only what the old one left is sent again.
          const resent = this.out.resendUnconfirmed(link.publisher);
          log.warn(
            `reconnected to RabbitMQ at ${brokerNode(link.conn) ?? 'its node'}; re-sent ${resent} unconfirmed message(s)`,
          );
          this.events.room();
        }
        await this.watch.attach(link.conn);
        this.fair.start();
      },
      onGiveUp: (err) => {
        const refused = refusal(err, jobId);
        const why = `lost RabbitMQ and could not reconnect within ${Math.round(giveUpMs / 1000)} s (FJ_RECONNECT_GIVE_UP_MS): ${err.message}`;
        this.events.fatal(
          refused instanceof FjError && !(refused instanceof TransportError)
            ? refused
            : new TransportError(why, { resumable: true }),
        );
      },
    });
  }

  // --- sending (publisher.ts) -------------------------------------------------

  send(batch: Batch): void | Promise<void> {
    // The publisher is looked up when the message is ready (after large items are stored): a reconnect may come in between.
    return this.out.send(batch, () => this.link?.session?.publisher);
  }

  /** Every item of `batch` is answered: its message is forgotten (later answers to it are duplicates). */
  done(batch: Batch): void {
    this.out.forget(batch);
  }

  /** The task's rate limit is shared by weight with its other rated jobs on the pool (their beacons: fair-share.ts). */
  rateShare(limit: number): number {
    return limit * this.fair.rateFraction;
  }

  // --- answers -----------------------------------------------------------------

  private onResult(msg: ConsumeMessage, link: Link): void {
    if (this.closing) return;
    const { counters, log } = this.plan;
    if (++this.held === QUORUM_RESULTS_PREFETCH && this.plan.options.queueType === 'quorum') this.atResultsLimit();
    // Every message of the backlog counts as seen, even one dropped below: `fj resume` waits for them all, not for its deadline.
    this.received++;
    this.drained?.();
    const r = readResult(msg.content, msg.properties, this.job.jobId, this.job.signer);
    if (r.kind === 'cancel') {
      if (r.token === this.out.runTag)
        return this.events.fatal(new CancelledError(cancelledMessage(this.job.jobId, r.by)));
      log.warn(`ignored a cancel message on ${this.resultsQ} that does not name this coordinator's run`);
      return this.drop(link, msg);
    }
    if (r.kind === 'bad') {
      log.warn(`dropped a malformed result message from ${r.worker}: ${r.reason}`);
      return this.drop(link, msg);
    }
    const whose = this.out.issued(r.id);
    if (r.kind === 'unsigned') {
      // A stranger's forgery naming no message of ours is dropped; an answer to one of ours means a worker without the key.
      log.warn(`dropped a result from ${r.worker} that is not signed with the signing key`);
      this.drop(link, msg);
      if (whose === 'now')
        this.events.fatal(
          new UsageError(
            `worker ${r.worker} answered without a valid signature: every worker of the pool needs the job's signing key (FJ_SIGNING_KEY or FJ_SIGNING_KEY_FILE)`,
          ),
        );
      return;
    }
    if (!whose) {
      // A late duplicate of an answered message of this run is normal; anything else was never sent by this job.
      if (this.out.answeredBefore(r.id)) log.debug(`dropped a duplicate result for ${r.id}`);
      else log.warn(`dropped a result from ${r.worker} for a message this job never sent`);
      return this.drop(link, msg);
    }
    counters.messages++;
    counters.bytesPublished += msg.content.length;
    const batch = whose === 'now' ? this.out.batchOf(r.id) : undefined;
    const count = r.kind === 'ok' ? r.slots.length : r.count;
    if (batch && (r.first < batch.first || r.first + count > batch.first + batch.values.length)) {
      log.warn(`dropped a result from ${r.worker} for items ${r.first}..${r.first + count - 1}, outside its message`);
      return;
    }
    if (r.kind === 'refused') {
      if (!batch) return;
      if (r.unsigned && this.job.signer) {
        // The worker holds our key (its answer verified) and our message verifies under it: what it refused
        // was a copy changed after signing, published by someone without the key. The genuine message still counts.
        log.warn(
          `dropped a refusal from ${r.worker} of a changed copy of message ${r.id} (it is not signed with the key)`,
        );
        return;
      }
      const { jobId, queue } = this.job;
      return this.events.fatal(
        new WorkerRefusedError(
          `worker ${r.worker} refused items of job ${jobId}: ${r.reason} (the job runs on pool ${queue} with store ${this.store.url})`,
        ),
      );
    }
    if (r.kind === 'declined') {
      if (batch) this.onDeclined(r.worker, r.reason, link);
      return;
    }
    if (r.kind === 'failed') {
      // The whole message failed (its params could not be fetched, its task not loaded).
      const err = r.error ? fromWire(r.error) : new InternalError(`worker ${r.worker} failed`);
      return this.events.failed(batch, r.first, r.count, ranOn(err, r.worker));
    }
    counters.bytesStored += r.stored;
    const failures = r.failed.map((f) => ({ index: r.first + f.at, error: ranOn(fromWire(f.error), r.worker) }));
    const heads = r.groups.map((g) => r.slots[g[0]]!);
    // Without merged results (no `combine`) every group is one item: answer them as one list, the dispatcher's cheap path.
    const single = r.groups.length + r.failed.length === count;
    const answer = (values: unknown[]) => {
      if (single) {
        const perItem = new Array<unknown>(count);
        for (let k = 0; k < r.groups.length; k++) perItem[r.groups[k][0]] = values[k];
        return this.events.answer({ batch, first: r.first, values: perItem, failures, ms: r.ms, ran: count });
      }
      const groups = r.groups.map((g, k) => ({ indices: g.map((at) => r.first + at), value: values[k] }));
      this.events.answer({ batch, groups, failures, ms: r.ms, ran: count });
    };
    if (heads.every((s) => typeof s !== 'string')) {
      let values: unknown[];
      try {
        values = heads.map((s) => decode(s));
      } catch (err) {
        return this.undecodable(batch, r.first, count, err as Error);
      }
      return answer(values);
    }
    const p = Promise.all(heads.map(async (s) => decode(typeof s === 'string' ? await this.store.get(s) : s))).then(
      answer,
      (err: Error) =>
        err instanceof TransportError ? this.events.fatal(err) : this.undecodable(batch, r.first, count, err),
    );
    this.pendingDecode.add(p);
    void p.finally(() => {
      this.pendingDecode.delete(p);
      this.events.room();
    });
  }

  /**
   * A worker does not serve the task: it has put the message back for
   * another worker. The job fails once every worker consuming the pool has
   * said so (nobody will ever run its items), naming the task and the pool.
   */
  private onDeclined(worker: string, reason: string, link: Link): void {
    const { log, task } = this.plan;
    const { queue } = this.job;
    if (!this.declined.has(worker))
      log.warn(
        `worker ${worker} does not serve task ${show(task.name)}; its messages go to the other workers of pool ${queue}`,
      );
    this.declined.set(worker, reason);
    if (this.countingConsumers) return;
    this.countingConsumers = true;
    void link.ch
      .checkQueue(queue)
      .then(({ consumerCount }) => {
        if (this.closing || this.declined.size < consumerCount) return;
        this.events.fatal(
          new WorkerRefusedError(noWorkerServes(queue, task, [...this.declined.keys()], consumerCount)),
        );
      })
      .catch(() => {}) // the broker went away: the reconnect takes over, and the next decline counts again
      .finally(() => (this.countingConsumers = false));
  }

  /** A result whose values cannot be decoded: its items failed an attempt. */
  private undecodable(batch: Batch | undefined, first: number, count: number, err: Error): void {
    const error = new InternalError(`a worker's result could not be decoded: ${err.message}`);
    this.events.answer({ batch, failures: Array.from({ length: count }, (_, k) => ({ index: first + k, error })) });
  }

  /** Acks and drops a message that will never count (it would otherwise come back on every reconnect). */
  private drop(link: Link, msg: ConsumeMessage): void {
    this.held--;
    if (link.open) link.ch.nack(msg, false, false);
  }

  /**
   * The coordinator holds as many unacknowledged results as a quorum results
   * queue delivers to it ({@link QUORUM_RESULTS_PREFETCH}): no more will come.
   * Unless the job ends meanwhile (its last result may be this one), it fails
   * rather than wait forever.
   */
  private atResultsLimit(): void {
    setTimeout(() => {
      if (this.closing || this.held < QUORUM_RESULTS_PREFETCH) return;
      this.events.fatal(
        new LimitError(
          `job ${this.job.jobId} holds ${QUORUM_RESULTS_PREFETCH} result messages unacknowledged, the most a quorum results queue delivers to one consumer: ` +
            'run it on a classic pool (--queue-type classic), or send more items per message',
        ),
      );
    }, 1000).unref();
  }

  // --- the end -----------------------------------------------------------------

  /**
   * Ends the job on the broker: on success or failure the results queue is
   * deleted (and, when the job did not finish, every worker told to drop its
   * items); when the broker was lost for good, everything stays for `fj resume`.
   */
  async close(error?: unknown): Promise<void> {
    this.closing = true;
    this.out.stop();
    this.watch.stop();
    await this.fair.stop();
    // A link that comes up as the job ends (its setup was under way) is released the same way.
    await this.link?.close((link) => link && this.release(link, error));
  }

  /** Settles once the job's broker connection is closed, after {@link close}. */
  get connectionClosed(): Promise<void> {
    return this.link?.connectionClosed ?? Promise.resolve();
  }

  /** Ends the job on `link`'s broker connection (which the results link then closes). */
  private async release(link: Link, error: unknown): Promise<void> {
    // Another coordinator took the job over (a detached job's worker came back after its message went elsewhere): the job is its now.
    if (link.open && !isResumable(error) && !(error instanceof AttachedElsewhereError)) {
      // Workers drop what is left of the job's runs (only those: the job id may be used again at once).
      if (error !== undefined)
        publishCancel(link.ch, this.job.jobId, [...this.job.earlierRuns, this.out.runTag], this.job.signer);
      // A detached job's results stay until its output is stored (a coordinator dying in `join` leaves them for the next).
      if (error !== undefined || !this.job.keepResults) await link.ch.deleteQueue(this.resultsQ).catch(() => {});
    }
  }
}

/** 403 ACCESS_REFUSED on the exclusive consume: another coordinator consumes the job's results queue (two `fj resume`s at once). */
function accessRefused(err: unknown): boolean {
  return (err as { code?: unknown } | undefined)?.code === 403;
}

/** The error a failed attach ends the job with: AttachedElsewhereError for a refused consume, else `err`. */
function refusal(err: unknown, jobId: string): unknown {
  return accessRefused(err) ? stillAttached(jobId) : err;
}

function stillAttached(jobId: string): UsageError {
  return new AttachedElsewhereError(
    `job ${jobId} is still attached to a running coordinator ('fj status ${jobId}' names it)`,
  );
}

/** Why a job fails when every worker of its pool declined its task: who lacks it, and the command that serves it. */
export function noWorkerServes(queue: string, task: TaskInfo, workers: string[], consumerCount: number): string {
  const names = workers.length ? ` (${workers.join(', ')})` : '';
  const who =
    consumerCount === 1 ? `its only worker${names} lacks it` : `all ${consumerCount} of its workers${names} lack it`;
  return `no worker on pool ${queue} serves task ${show(task.name)}: ${who}; start one with '${workerCommand(queue, task.moduleUrl)}'`;
}
