/**
 * The coordinating side of `fj worker`: takes detached jobs (`fj submit`)
 * from the pool's jobs queue, at most `maxJobs` at once, and coordinates
 * each to its end in this process (detached/coordinate.ts). Items still run
 * on the worker threads, through the work queue, like any job's: the
 * coordinator is the main thread's work.
 *
 * A job message stays unacknowledged while its job runs here, so the broker
 * itself hands it to another worker when this one dies (kill -9, host
 * lost): that worker resumes the job from its records. It is acked once the
 * job's end is written; put back when this worker stops (the job goes on
 * elsewhere) or when another coordinator is attached (looked at again a
 * little later, so a coordinator that lost its message is still watched);
 * and a job whose task this worker does not serve goes to the others, then
 * fails, naming the task and the pool, once every worker on the pool lacks it.
 *
 * On its own connection: a coordination never holds up the items.
 */
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { setTimeout as sleep } from 'node:timers/promises';
import { coordinateDetached, type Coordinated } from '../detached/coordinate.js';
import { writeEnding } from '../detached/entries.js';
import { TransportError, WorkerRefusedError } from '../errors.js';
import { isJobId } from '../job-id.js';
import { readManifest, type Manifest } from '../job-records.js';
import type { LogFormat, LogLevel } from '../log.js';
import { SIGNATURE_HEADER, type Signer } from '../signing.js';
import type { PayloadStore } from '../store/store.js';
import type { TaskInfo } from '../task/registry.js';
import type { Logger } from '../task/types.js';
import { emptyTally, tallyEnd } from './job-tally.js';
import { assertJobsQueue, jobsQueue, reconnect, reconnectOnChannelError, resultsQueueState } from '../transport/amqp.js';

/** Header of a job message: the workers that do not serve its task. */
const DECLINED = 'fj-declined-by';
/** A job attached to another coordinator is looked at again after this long. */
const ELSEWHERE_RECHECK_MS = 5000;

/** What the consumer is built from. */
export interface JobConsumerParts {
  name: string;
  log: Logger;
  tasks: Map<string, TaskInfo>;
  store: PayloadStore;
  /** The store's URL as given (credentials included: the job's own connections open it again; never logged). */
  storeUrl: string;
  broker: string;
  /** The broker URL with its heartbeat. */
  url: string;
  queue: string;
  maxJobs: number;
  signingKey: string | undefined;
  signer: Signer | undefined;
  logLevel: LogLevel;
  /** The worker's log format: the jobs it coordinates log the same way. */
  logFormat: LogFormat;
}

export class JobConsumer {
  /** The jobs being coordinated here, by id. */
  readonly active = new Map<string, { task: string; started: number }>();
  /** The jobs this worker coordinated to their end (for its heartbeat). */
  readonly tally = emptyTally();
  private conn: ChannelModel | undefined;
  private ch: Channel | undefined;
  private stopping = false;
  private readonly stopSignal = new AbortController();
  private readonly inHand = new Set<Promise<void>>();

  constructor(private readonly p: JobConsumerParts) {}

  /** Jobs coordinated here now. */
  get coordinating(): number {
    return this.active.size;
  }

  async start(conn: ChannelModel): Promise<void> {
    const ch = await conn.createChannel();
    reconnectOnChannelError(conn, ch, (reason) => this.p.log.warn(`RabbitMQ closed the jobs channel: ${reason}`));
    await assertJobsQueue(ch, this.p.queue);
    await ch.prefetch(this.p.maxJobs);
    this.conn = conn;
    this.ch = ch;
    conn.on('close', () => this.onClose(conn));
    await ch.consume(jobsQueue(this.p.queue), (msg) => msg && this.track(this.take(msg, ch)), { noAck: false });
  }

  private onClose(conn: ChannelModel): void {
    if (this.stopping || this.conn !== conn) return;
    this.conn = this.ch = undefined;
    // The jobs coordinated here go on (their own connections); their messages are back in the queue, and whoever takes them sees them attached.
    void reconnect(this.p.url, `worker ${this.p.name} jobs`, { signal: this.stopSignal.signal })
      .then(async (c) => {
        if (this.stopping) return void (await c.close().catch(() => {}));
        await this.start(c);
      })
      .catch((err) => {
        if (!this.stopping) this.p.log.error(`jobs queue: could not reconnect: ${(err as Error).message}`);
      });
  }

  private track(p: Promise<void>): void {
    this.inHand.add(p);
    void p.finally(() => this.inHand.delete(p));
  }

  private async take(msg: ConsumeMessage, ch: Channel): Promise<void> {
    const { log, signer } = this.p;
    const ack = () => ch.ack(msg);
    const putBack = () => ch.nack(msg, false, true);
    let jobId: unknown;
    try {
      jobId = (JSON.parse(msg.content.toString('utf8')) as { job?: unknown }).job;
    } catch {
      jobId = undefined;
    }
    if (!isJobId(jobId)) return void (log.warn('dropped a malformed job message'), ack());
    if (signer && !signer.verify(msg.properties.headers?.[SIGNATURE_HEADER], 'job', jobId)) {
      return void (log.warn(`dropped a job message for ${jobId} not signed with the pool's signing key`), ack());
    }
    if (this.active.has(jobId)) return void (await this.later(putBack));
    try {
      const conn = this.conn;
      if (!conn) return; // the channel is gone with its connection: the broker hands the message out again
      const state = await resultsQueueState(conn, jobId);
      if ((state?.coordinators ?? 0) > 0) return void (await this.later(putBack));
      const manifest = await readManifest(this.p.store, jobId, signer).catch(() => undefined);
      if (!manifest?.detached) return void (log.warn(`job ${jobId} has no records in store ${this.p.store.url} (forgotten or expired): dropped its message`), ack());
      const task = this.p.tasks.get(manifest.task.name);
      // Never stale code: a worker with other code for the task passes the job on, as one without the task does.
      const why = !task ? 'lacks the task' : task.codeHash !== manifest.task.codeHash ? `runs other code for it (${task.codeHash}; restart it)` : undefined;
      if (!task || why) return void (await this.decline(msg, ch, jobId, manifest, why!));
      const takenAt = Date.now();
      this.active.set(jobId, { task: task.name, started: takenAt });
      log.info(`job ${jobId} (${manifest.task.name}, "${manifest.detached.label}"): coordinating`);
      let done: Coordinated;
      try {
        done = await coordinateDetached(jobId, task, {
          store: this.p.store,
          storeUrl: this.p.storeUrl,
          broker: this.p.broker,
          signingKey: this.p.signingKey,
          logLevel: this.p.logLevel === 'debug' ? 'debug' : 'warn',
          logFormat: this.p.logFormat,
          conn,
          signal: this.stopSignal.signal,
          coordinator: this.p.name,
        });
      } finally {
        this.active.delete(jobId);
      }
      if (done.how === 'ended') {
        const o = done.outcome;
        // Counted once, by the coordinator that wrote the end (not for a job found ended already).
        if (o.coordinator === this.p.name && o.finished >= takenAt) tallyEnd(this.tally, o);
        log.info(`job ${jobId}: ${o.state} in ${o.finished - (o.started ?? o.finished)} ms${o.stats ? ` (${o.stats.items} item(s), ${o.stats.failed} failed)` : ''}${o.error ? `: ${o.error.message}` : ''}`);
        ack();
      } else if (done.how === 'elsewhere') {
        log.info(`job ${jobId} is coordinated by another worker now`);
        await this.later(putBack);
      } else if (!this.stopping) {
        log.warn(`job ${jobId} stopped here (${(done.error as Error)?.message}); it goes back to the queue for the next coordinator`);
        putBack();
      }
    } catch (err) {
      // The store or broker failing under us: the job goes back for another try (here or elsewhere).
      log.error(`job ${String(jobId)}: could not coordinate it: ${(err as Error).message}`);
      if (!this.stopping) await this.later(putBack);
    }
  }

  /** Puts a message back after a moment (no spinning), unless the worker stops meanwhile (closing the connection puts it back). */
  private async later(putBack: () => void): Promise<void> {
    await sleep(ELSEWHERE_RECHECK_MS, undefined, { signal: this.stopSignal.signal }).catch(() => {});
    if (!this.stopping) {
      try {
        putBack();
      } catch {
        // the channel is gone: so is the delivery
      }
    }
  }

  /** This worker cannot coordinate the job (`why`): the next worker gets the message; once every worker on the pool has said so, the job fails. */
  private async decline(msg: ConsumeMessage, ch: Channel, jobId: string, manifest: Manifest, why: string): Promise<void> {
    const { queue, name, log } = this.p;
    const before = msg.properties.headers?.[DECLINED];
    const seen = new Map<string, string>(Array.isArray(before) ? before.filter((n): n is string => typeof n === 'string').map((n) => [n.split(' ')[0]!, n]) : []);
    seen.set(name, `${name} ${why}`);
    const { consumerCount } = await ch.checkQueue(jobsQueue(queue));
    if (seen.size >= consumerCount) {
      const error = new WorkerRefusedError(
        `no worker on pool ${queue} can coordinate task ${manifest.task.name} with the code it was submitted with (${manifest.task.codeHash}): ${[...seen.values()].join('; ')}; start one with 'fj worker --queue ${queue} --tasks MODULE'`,
      );
      await writeEnding(this.p.store, jobId, manifest, { state: 'failed', error }, name, this.p.signer);
      log.warn(`job ${jobId}: failed: ${error.message}`);
      return void ch.ack(msg);
    }
    log.info(`job ${jobId}: this worker ${why}; passed on to the other workers of ${queue}`);
    await sleep(500);
    ch.sendToQueue(jobsQueue(queue), msg.content, { persistent: true, headers: { ...msg.properties.headers, [DECLINED]: [...seen.values()] } });
    ch.ack(msg);
  }

  /** Stops taking jobs; the jobs coordinated here stop and go back to the queue (another worker resumes them). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopSignal.abort(new TransportError('the worker coordinating it is shutting down', { resumable: true }));
    await Promise.allSettled([...this.inHand]);
    await this.conn?.close().catch(() => {});
  }
}
