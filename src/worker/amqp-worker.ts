/**
 * `fj worker`'s consumer: one connection to RabbitMQ, declared the same way
 * on every connect and reconnect (work queue, dead-letter queue, control
 * exchange, prefetch), and the life of a work message:
 *
 * - checked before anything else touches it (broker/inspect.ts);
 * - dead-lettered when it fails a check, its job is unknown to this
 *   worker's store, or it runs other code for its task (never stale code);
 *   the job's coordinator is told why, if the message is plausibly its own
 *   (see refusals.ts), so no job waits for answers that will
 *   never come, and a stranger's message gets no reply anywhere;
 * - put back for another worker (re-published, the job told) when this
 *   worker does not serve its task;
 * - a redelivered message is split item by item and each runs alone
 *   (crash-count.ts), so a death is charged to the item that caused it —
 *   alone for {@link SUSPECT_ALONE_MS} at most, so an item that never
 *   returns does not stop the worker's other jobs;
 * - run by the message runner, then answered on the job's own results queue
 *   and acked only after the broker confirmed the answer;
 * - a cancelled job's messages are aborted in hand and dropped from the queue;
 * - a warm shutdown finishes what is in hand for `shutdownTimeoutMs` at most,
 *   then gives the rest back to the queue (unacked) and stops.
 */
import type { QueueType } from '../core/location.js';
import type { ChannelModel, ConsumeMessage } from 'amqplib';
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { CancelledError, NotFoundError, TaskError, TransportError, UnrecoverableError } from '../core/errors.js';
import type { PayloadStore } from '../store/store.js';
import type { TaskInfo } from '../task/registry.js';
import type { Logger } from '../task/types.js';
import {
  brokerNode,
  codeQueueSpec,
  CONTROL_EXCHANGE_SPEC,
  CONTROL_QUEUE_SPEC,
  H,
  parseControl,
  PROTOCOL,
  resultsQueue,
  within,
  workQueueSpecs,
  type ResultStatus,
} from '../broker/amqp.js';
import { Cancellations } from './cancellations.js';
import { ResilientLink, type LinkSession } from '../broker/resilient-link.js';
import { DEFAULT_MAX_DEPTH, inspectWork, show } from '../broker/inspect.js';
import { parseMessageId } from '../broker/message-id.js';
import { encodeBody, ISOLATED, type ResultBody, type WorkBody } from '../broker/messages.js';
import { SIGNATURE_HEADER, signResult, signWork, verifyWork, type Signer } from '../core/signing.js';
import { clearStarts, countStart, MAX_CRASHES } from './crash-count.js';
import { Gate } from './gate.js';
import type { MessageRunner } from './message-runner.js';
import { JobLog } from './job-log.js';
import { Refusals } from './refusals.js';
import { lostThread, type PoolJob, type ThreadPool } from '../runtime/thread-pool.js';
import { toWire, type WireError } from '../core/wire-error.js';

/** A running worker. */
export interface WorkerHandle {
  /** `<host>.<pool>.<n>`. */
  readonly name: string;
  /** Settles when the worker has stopped (after `stop()` or a lost connection). */
  readonly stopped: Promise<void>;
  /** Warm shutdown: stop consuming, finish and ack what is in hand (for the shutdown timeout at most; the rest goes back to the queue), disconnect. */
  stop(): Promise<void>;
}

/** One connection's channels. A message is acked on the link it came from, or not at all. */
type Link = LinkSession;

/**
 * A suspect item (its last worker died holding it) keeps the worker's other
 * messages out this long at most: long enough to catch an item that kills
 * its process as it starts, short enough that one that never returns stops
 * nothing else.
 */
export const SUSPECT_ALONE_MS = 5000;

/**
 * How long a worker keeps publishing a result RabbitMQ refuses (while its
 * connection stays up) before it gives the work message back to the queue
 * to run again: longer than a quorum queue's leader election takes.
 */
export const REPLY_RETRY_MS = 60_000;

/**
 * How long a result may be refused on one connection before the worker
 * gives that connection up for a new one (its unacked messages go back to
 * the queue and run again): RabbitMQ 3.10 has been seen refusing every
 * message on a channel for good after a quorum queue's leader moved, while
 * a new channel publishes at once (the coordinator does the same:
 * executors/amqp/publisher.ts).
 */
export const REPLY_RECONNECT_MS = 5000;

/** The parts a worker is built from (started by startWorker). */
export interface WorkerParts {
  name: string;
  log: Logger;
  tasks: Map<string, TaskInfo>;
  pool: ThreadPool;
  store: PayloadStore;
  /** Broker URL, with its heartbeat. */
  url: string;
  concurrency: number;
  queue: string;
  /** The pool's queue type (see `WorkerOptions.queueType`). */
  queueType: QueueType;
  maxMessageBytes: number;
  /** A warm shutdown waits this long for the messages in hand, then gives them back to the queue. */
  shutdownTimeoutMs: number;
  runner: MessageRunner;
  /** Checks work and control messages and signs replies and records, when the pool has a signing key. */
  signer: Signer | undefined;
}

export class AmqpWorker implements WorkerHandle {
  readonly name: string;
  /** Items this worker has answered (heartbeats report it). */
  itemsDone = 0;
  readonly stopped: Promise<void>;
  private markStopped!: () => void;
  /** The connection: work queue, dead-letter queue, control exchange and queue, prefetch, declared again on every reconnect. */
  private readonly link: ResilientLink;
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly inHand = new Set<Promise<void>>();
  /** Cancelled runs, and the messages in hand a cancel aborts. */
  private readonly cancels = new Cancellations();
  /** When a result last got through on each connection (a connection that refuses every result is given up: {@link REPLY_RECONNECT_MS}). */
  private readonly repliedAt = new WeakMap<Link, number>();
  /** Start and end lines of the jobs served here. */
  private readonly jobs: JobLog;
  private stopping: Promise<void> | undefined;
  /** Suspect messages (their last worker died) run alone in this process. */
  private readonly gate = new Gate();
  /** Messages this worker will not run: dead-lettered or put back, and the job told. */
  private readonly refusals: Refusals;

  constructor(private readonly p: WorkerParts) {
    this.name = p.name;
    // Two messages per thread: one running, one queued, as in the local executor.
    this.limit = pLimit(p.concurrency * 2);
    this.stopped = new Promise((r) => (this.markStopped = r));
    this.jobs = new JobLog(p.log);
    this.refusals = new Refusals({
      log: p.log,
      queue: p.queue,
      tasks: p.tasks,
      reply: (link, job, msg, status, body) => this.reply(link, job, msg, status, body),
    });
    p.pool.on('threadLost', (why, replaced) => p.log.warn(lostThread(why, replaced)));
    this.link = new ResilientLink({
      name: `worker ${this.name}`,
      url: () => p.url,
      topology: {
        exchanges: [CONTROL_EXCHANGE_SPEC],
        queues: workQueueSpecs(p.queue, p.queueType),
        // Two messages per thread, as the limit above (per consumer: RabbitMQ's quorum queues know no per-channel limit).
        prefetch: p.concurrency * 2,
        consumers: [
          {
            queue: CONTROL_QUEUE_SPEC,
            options: { noAck: true },
            onMessage: (m) => this.onControl(m.content, m.properties.headers ?? {}),
          },
          // The pool's queue (messages of an older coordinator, requeued dead letters) and, for each task served,
          // the queue of its version of the code: jobs publish there, so only workers with their code see their items.
          ...[
            p.queue,
            ...[...p.tasks.values()].map((t) => codeQueueSpec(p.queue, t.name, t.codeHash, p.queueType)),
          ].map((queue) => ({
            queue,
            options: { noAck: false },
            onMessage: (msg: ConsumeMessage, link: Link) => this.track(this.limit(() => this.handle(msg, link))),
          })),
        ],
      },
      onChannelClosed: (reason, consumerTimeout) =>
        p.log.error(
          consumerTimeout
            ? `RabbitMQ closed the work channel: a message stayed unacknowledged past its consumer_timeout (an item ran longer than that): ${reason}. ` +
                'Its items go back to the queue and will run again. Raise consumer_timeout in rabbitmq.conf above your longest item, or stop such items with --item-timeout.'
            : `RabbitMQ closed the work channel: ${reason}`,
        ),
      onPublishingLost: (reason) =>
        p.log.error(
          `the connection to RabbitMQ can no longer publish: ${reason}; its unacked messages go back to the queue`,
        ),
      // The broker went away: what is in hand will be redelivered.
      onDown: () => {
        p.log.error('lost the connection to RabbitMQ; unacked messages go back to the queue; reconnecting');
        this.cancels.abortAll(new TransportError('connection lost'));
      },
      onAttempt: (n, err, wait) => {
        if (n === 1 || n % 10 === 0) p.log.warn(`reconnect attempt ${n} failed (${err.message}); next in ${wait} ms`);
      },
      onUp: (session, reconnected) => {
        if (reconnected) p.log.info(`reconnected to RabbitMQ at ${brokerNode(session.conn) ?? 'its node'}`);
      },
    });
  }

  /** Declares the topology on `conn` and starts consuming; on a lost connection, reconnects with backoff until stopped. */
  start(conn: ChannelModel): Promise<void> {
    return this.link.start(conn);
  }

  private onControl(content: Buffer, headers: Record<string, unknown>): void {
    const msg = parseControl(content, headers, this.p.signer);
    if (!msg) {
      if (this.p.signer) this.p.log.warn("ignored a control message not signed with the pool's signing key");
      return;
    }
    const aborted = this.cancels.heard(msg, new CancelledError(`job ${msg.job} cancelled`));
    this.jobs.cancelled(msg.job, aborted ? `: aborting ${aborted} message(s) in hand` : '');
  }

  /** Whether `msg` (of `job`) belongs to a cancelled run: it is dropped. */
  private isCancelled(job: string, msg: ConsumeMessage): boolean {
    return this.cancels.isCancelled(job, parseMessageId(msg.properties.messageId, job)?.run);
  }

  private track(p: Promise<void>): void {
    this.inHand.add(p);
    void p.finally(() => this.inHand.delete(p));
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const { log, pool, store } = this.p;
      const { shutdownTimeoutMs } = this.p;
      log.info(
        `stopping: finishing ${this.inHand.size} message(s) in hand (for ${shutdownTimeoutMs / 1000} s at most)`,
      );
      let finished = false;
      // No reconnect from here on; the connection stays open while the messages in hand finish, so they can be acked.
      await this.link.close(async (link) => {
        // A broker that stopped answering never confirms the cancel: what it still delivers is not taken (stopping) and goes back on close.
        // The work consumers only: cancels still reach the messages in hand.
        const work = [...(link?.consumers ?? [])].filter(
          ([q]) => q === this.p.queue || q.startsWith(`${this.p.queue}.code.`),
        );
        if (link) await Promise.all(work.map(([, tag]) => within(link.ch.cancel(tag))));
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<false>((r) => (timer = setTimeout(() => r(false), shutdownTimeoutMs)));
        finished = await Promise.race([
          (async () => {
            while (this.inHand.size) await Promise.allSettled([...this.inHand]);
            return true;
          })(),
          late,
        ]);
        clearTimeout(timer);
        if (!finished) {
          // Closing the connection unacked gives the messages back to the queue: another worker runs them.
          log.warn(
            `shutdown timeout (${shutdownTimeoutMs / 1000} s) passed with ${this.inHand.size} message(s) in hand: they go back to the queue`,
          );
          if (link) link.open = false;
          this.cancels.abortAll(new TransportError('the worker is shutting down'));
        }
        if (link && finished) await within(link.publisher.flush());
      });
      await (finished ? pool.close() : pool.terminate());
      await store.close();
      this.jobs.close();
      log.info('stopped');
      this.markStopped();
    })();
    return this.stopping;
  }

  /** Publishes a result to the job's own results queue (never to a queue the message names) and waits for the confirm. */
  private async reply(
    link: Link,
    job: string,
    msg: ConsumeMessage,
    status: ResultStatus,
    body: ResultBody,
  ): Promise<void> {
    const correlationId = typeof msg.properties.messageId === 'string' ? msg.properties.messageId : undefined;
    const bytes = encodeBody(body);
    const headers: Record<string, unknown> = {
      [H.protocol]: PROTOCOL,
      [H.job]: job,
      [H.status]: status,
      [H.worker]: this.name,
    };
    if (this.p.signer) headers[SIGNATURE_HEADER] = signResult(this.p.signer, correlationId ?? '', job, status, bytes);
    const { confirmed } = await link.publisher.send(resultsQueue(job), bytes, {
      correlationId,
      contentType: 'application/x-msgpack',
      type: 'fj.result',
      headers,
    });
    await confirmed;
  }

  /** Whether `msg` carries a good signature; true when this worker has no key. Never throws (any header shape). */
  private signedWithKey(msg: ConsumeMessage): boolean {
    if (!this.p.signer) return true;
    try {
      return verifyWork(this.p.signer, msg.properties.messageId, msg.properties.headers ?? {}, msg.content);
    } catch {
      return false;
    }
  }

  private async handle(msg: ConsumeMessage, link: Link): Promise<void> {
    if (!link.open) return; // its delivery died with the connection: the broker redelivers it
    if (this.stopping) return; // delivered as the worker stops: left unacked, it goes back to the queue on close
    const { log, tasks, store } = this.p;
    const checked = inspectWork(msg.content, msg.properties.headers, {
      maxMessageBytes: this.p.maxMessageBytes,
      maxDepth: DEFAULT_MAX_DEPTH,
    });
    if (!checked.ok) {
      const { maxMessageBytes } = this.p;
      const over = msg.content.length > maxMessageBytes;
      const why = over
        ? `the message is ${msg.content.length} bytes, over this worker's --max-message-bytes ${maxMessageBytes} (lower the job's --inline-limit, or raise the limit)`
        : checked.reason;
      return this.refusals.deadLetter(link, msg, why, !this.signedWithKey(msg));
    }
    if (!this.signedWithKey(msg)) {
      return this.refusals.deadLetter(
        link,
        msg,
        "not signed with the pool's signing key (unsigned, signed with another key, or changed after signing)",
        true,
      );
    }
    const { job, body, paramsRef } = checked;
    if (this.isCancelled(job, msg)) return link.ch.ack(msg); // dropped: its run is cancelled
    // The job must exist (its params in the store) before anything is said
    // about it: a hostile message for a made-up job gets no reply anywhere.
    let paramsBytes: Uint8Array;
    try {
      paramsBytes = await this.p.runner.params(paramsRef);
    } catch (err) {
      if (err instanceof NotFoundError) {
        return this.refusals.deadLetter(
          link,
          msg,
          `unknown job ${job}: its params are not in ${store.url}, this worker's store (the job finished, was cancelled or never started, or this worker uses another --store than the job)`,
        );
      }
      log.warn(`job ${job}: cannot fetch its params (${(err as Error).message}); the message goes back to the queue`);
      await new Promise((r) => setTimeout(r, 1000)); // the store is failing: do not spin on redeliveries
      if (link.open) link.ch.nack(msg, false, true);
      return;
    }
    const task = tasks.get(checked.task);
    if (!task) return this.refusals.decline(link, msg, job, checked.task);
    if (checked.code !== task.codeHash) {
      const why = `task ${task.name}: this worker runs different code (${task.codeHash}) than the job (${checked.code}); restart the worker with the current code`;
      log.error(`refused job ${job} items from ${body.first}: ${why}`);
      await this.refusals.notify(link, msg, 'refused', why);
      if (link.open) link.ch.nack(msg, false, false);
      return;
    }
    const suspect = msg.fields.redelivered || msg.properties.headers?.[ISOLATED] === 1;
    // Its last holder may have died running it (kill -9, a native crash):
    // run its items one per message, each alone in this process, and count
    // its starts, so a death is charged to the item that caused it only.
    if (suspect && body.items.length > 1) return this.split(link, msg, body);
    const release = await (suspect ? this.gate.exclusive(SUSPECT_ALONE_MS) : this.gate.shared());
    try {
      if (suspect) {
        const verdict = await countStart(this.p.store, job, body.first, this.p.signer);
        if (typeof verdict === 'number')
          log.info(
            `job ${job}: item ${body.first} runs alone, start ${verdict} of ${MAX_CRASHES} (its message was redelivered)`,
          );
        else {
          log.error(`job ${job}: item ${body.first} ${verdict}; failing it`);
          const error = toWire(
            new TaskError({ task: task.name, hook: 'process', index: body.first }, new UnrecoverableError(verdict)),
          );
          await this.reply(link, job, msg, 'ok', {
            first: body.first,
            results: [null],
            failures: [{ i: 0, error }],
          }).catch(() => {});
          if (link.open) link.ch.ack(msg);
          return;
        }
      }
      const answered = await this.runMessage(link, msg, task, job, body, paramsRef, paramsBytes);
      if (suspect && answered) await clearStarts(this.p.store, job, body.first, this.p.signer);
    } finally {
      release();
    }
  }

  /** Runs a message's items and answers on the job's results queue; true when the answer was confirmed and the message acked. */
  private async runMessage(
    link: Link,
    msg: ConsumeMessage,
    task: TaskInfo,
    job: string,
    body: WorkBody,
    paramsRef: string,
    paramsBytes: Uint8Array,
  ): Promise<boolean> {
    const { log } = this.p;
    const hash = paramsRef.slice(paramsRef.lastIndexOf('/') + 1);
    const poolJob: PoolJob = {
      key: `${task.name}:${task.codeHash}:${hash}`,
      moduleUrl: task.moduleUrl!,
      className: task.cls.name,
      paramsBytes,
    };
    const timeout: unknown = msg.properties.headers?.[H.timeout];
    const timeoutMs = typeof timeout === 'number' && Number.isSafeInteger(timeout) && timeout > 0 ? timeout : 0;
    const controller = this.cancels.take(job, parseMessageId(msg.properties.messageId, job)?.run);
    this.jobs.start(job, task.name);
    let out: ResultBody;
    let status: ResultStatus = 'ok';
    try {
      out = await this.p.runner.run(task, poolJob, job, body, timeoutMs, controller.signal);
    } catch (err) {
      status = 'failed';
      const error: WireError = toWire(err);
      if (!controller.signal.aborted) log.warn(`job ${job}: ${error.message}`);
      out = { first: body.first, count: body.items.length, error };
    } finally {
      this.cancels.release(job, controller);
    }
    this.jobs.done(job, body.items.length, out.error ? body.items.length : (out.failures?.length ?? 0));
    if (!link.open) return false; // the broker redelivers it; the result would be a duplicate
    if (this.isCancelled(job, msg)) {
      link.ch.ack(msg);
      return false;
    }
    try {
      await this.replyUntilTaken(link, job, msg, status, out);
      if (link.open) link.ch.ack(msg);
      this.itemsDone += body.items.length;
      return true;
    } catch (err) {
      // Left unacked on a live connection it would never be delivered again: given back, it runs again.
      log.error(
        `could not publish the result of ${show(msg.properties.messageId)}: ${(err as Error).message}; ${link.open ? 'its message goes back to the queue' : 'the broker redelivers its message'}`,
      );
      if (link.open) tryNack(link, msg);
      return false;
    }
  }

  /**
   * {@link reply}, again while RabbitMQ refuses the result (a `basic.nack`:
   * a quorum queue whose leader is moving, a full results queue) and the
   * connection stays up, for up to {@link REPLY_RETRY_MS}: the result is
   * kept, not computed again. Refused for {@link REPLY_RECONNECT_MS} on a
   * connection that other results of it have not got through meanwhile, the
   * connection is given up (the message then runs again after the
   * reconnect). Throws the last refusal after that, or at once when the
   * connection is gone.
   */
  private async replyUntilTaken(
    link: Link,
    job: string,
    msg: ConsumeMessage,
    status: ResultStatus,
    out: ResultBody,
  ): Promise<void> {
    const started = Date.now();
    const giveUpAt = started + REPLY_RETRY_MS;
    for (let waitMs = 250, n = 1; ; waitMs = Math.min(waitMs * 2, 2000), n++) {
      try {
        await this.reply(link, job, msg, status, out);
        this.repliedAt.set(link, Date.now());
        return;
      } catch (err) {
        if (!link.open || Date.now() + waitMs > giveUpAt) throw err;
        const now = Date.now();
        if (now - started >= REPLY_RECONNECT_MS && (this.repliedAt.get(link) ?? 0) < started) {
          link.abandon(
            `RabbitMQ has refused every result on it for ${Math.round((now - started) / 1000)} s; reconnecting`,
          );
          throw err;
        }
        if (n === 1)
          this.p.log.warn(
            `RabbitMQ refused the result of ${show(msg.properties.messageId)} (${(err as Error).message}); publishing it again for up to ${REPLY_RETRY_MS / 1000} s`,
          );
        await sleep(waitMs);
      }
    }
  }

  /**
   * Re-publishes each item of a redelivered message as a message of its own
   * (same id: the coordinator counts answers per item), then acks it. A
   * message that killed its worker then costs one item, not the batch, and
   * the innocent items are not charged an attempt.
   */
  private async split(link: Link, msg: ConsumeMessage, body: WorkBody): Promise<void> {
    const headers = msg.properties.headers ?? {};
    const messageId = msg.properties.messageId as string;
    const sends = body.items.map(async (item, i) => {
      const part = encodeBody({ first: body.first + i, items: [item] });
      const partHeaders: Record<string, unknown> = {
        ...headers,
        [H.first]: body.first + i,
        [H.count]: 1,
        [ISOLATED]: 1,
      };
      if (this.p.signer) partHeaders[SIGNATURE_HEADER] = signWork(this.p.signer, messageId, partHeaders, part);
      const { confirmed } = await link.publisher.send(this.p.queue, part, {
        messageId,
        contentType: 'application/x-msgpack',
        type: 'fj.work',
        headers: partHeaders,
      });
      await confirmed;
    });
    try {
      await Promise.all(sends);
      if (link.open) link.ch.ack(msg);
      this.p.log.info(
        `split redelivered message ${show(msg.properties.messageId)} into ${body.items.length} single-item messages`,
      );
    } catch (err) {
      this.p.log.warn(
        `could not split ${show(msg.properties.messageId)}: ${(err as Error).message}; it goes back to the queue`,
      );
      if (link.open) link.ch.nack(msg, false, true);
    }
  }
}

/** Gives `msg` back to its queue; a connection closing meanwhile (amqplib throws then) redelivers it anyway. */
function tryNack(link: Link, msg: ConsumeMessage): void {
  try {
    link.ch.nack(msg, false, true);
  } catch {
    // the connection is closing: the broker puts the message back itself
  }
}
