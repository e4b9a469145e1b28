/**
 * The amqp executor (the coordinator side of distributed mode). Publishes a
 * job's items to a pool's work queue, collects results from the job's own
 * results queue, and hands them to `run()` for the join.
 *
 * - Fan-out by reference: params are stored once and named by ref in every
 *   message; an item larger than the inline limit is stored and sent as a ref.
 * - Backpressure: at most {@link MAX_IN_FLIGHT} messages await their results,
 *   and publishes wait for broker confirms beyond a bound, so `setup` is
 *   consumed lazily and the job is never buffered whole.
 * - Batching: small items share a message; sizes adapt to the time workers
 *   report, as in the local executor.
 * - Exactly-once effect: results are recorded once per message, whatever the
 *   number of deliveries.
 */
import { randomUUID } from 'node:crypto';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { assertPlain, decode, encodeChecked } from '../codec.js';
import { FjError, TransportError } from '../errors.js';
import type { PayloadStore } from '../store/store.js';
import { openStore } from '../store/open.js';
import { assertResultsQueue, assertWorkQueue, connect, DEFAULT_QUEUE, H, PROTOCOL, Publisher, withHeartbeat } from '../transport/amqp.js';
import { decodeBody, encodeBody, type ResultBody, type Slot } from '../transport/messages.js';
import { fromWire } from '../worker/wire-error.js';
import { BatchSizer } from './batch-sizer.js';
import { OrderedResults } from './ordered-results.js';
import type { Executor, JobPlan } from './executor.js';

/** Work messages awaiting results, at most. */
const MAX_IN_FLIGHT = 64;
/** A message should keep a worker busy about this long. */
const TARGET_BATCH_MS = 20;
const MAX_BATCH = 4096;
/** Job ids name queues and store keys: keep them to safe characters. */
const JOB_ID = /^[A-Za-z0-9._-]{1,100}$/;

export class AmqpExecutor implements Executor {
  async map(plan: JobPlan): Promise<unknown[]> {
    const { options, task } = plan;
    const jobId = options.jobId ?? randomUUID();
    if (!JOB_ID.test(jobId)) throw new FjError(`invalid job id '${jobId}': use letters, digits, '.', '_' or '-' (at most 100)`, 'FJ_USAGE', 2);
    const queue = options.queue ?? task.queue ?? DEFAULT_QUEUE;
    const store = await openStore(options.store || undefined);
    let conn: ChannelModel | undefined;
    try {
      conn = await connect(withHeartbeat(options.broker), `job ${jobId}`);
      const job = new Job(plan, conn, store, jobId, queue);
      return await job.run();
    } finally {
      if (!options.keep) await store.deleteJob(jobId).catch((err) => plan.log.warn(`could not delete job data: ${(err as Error).message}`));
      await conn?.close().catch(() => {});
      await store.close();
    }
  }
}

class Job {
  private publisher!: Publisher;
  private consumeCh!: Channel;
  private paramsRef = '';
  private resultsQ = '';
  private readonly inFlight = new Map<number, number>(); // first -> count
  private readonly results = new OrderedResults();
  private readonly pendingDecode: Promise<void>[] = [];
  private readonly sizer = new BatchSizer(TARGET_BATCH_MS, MAX_BATCH);
  private pumping = false;
  private failed = false;
  private resolve!: (v: unknown[]) => void;
  private reject!: (e: unknown) => void;

  constructor(
    private readonly plan: JobPlan,
    private readonly conn: ChannelModel,
    private readonly store: PayloadStore,
    private readonly jobId: string,
    private readonly queue: string,
  ) {}

  async run(): Promise<unknown[]> {
    const { plan, conn } = this;
    const { counters, log } = plan;
    this.consumeCh = await conn.createChannel();
    this.consumeCh.on('error', () => {});
    this.publisher = new Publisher(await conn.createConfirmChannel());
    this.publisher.channel.on('error', () => {});
    await assertWorkQueue(this.consumeCh, this.queue);
    this.resultsQ = await assertResultsQueue(this.consumeCh, this.jobId);
    const { consumerCount } = await this.consumeCh.checkQueue(this.queue);
    if (consumerCount === 0) log.warn(`no worker is consuming ${this.queue} yet: start one with 'fj worker --queue ${this.queue}'`);
    log.info(`job ${this.jobId}: queue ${this.queue}, store ${this.store.url}`);

    this.paramsRef = await this.store.put(this.jobId, plan.paramsBytes);
    counters.bytesStored += plan.paramsBytes.length;
    await this.consumeCh.prefetch(MAX_IN_FLIGHT * 2);

    try {
      return await new Promise<unknown[]>((resolve, reject) => {
        this.resolve = resolve;
        this.reject = reject;
        conn.on('close', () => this.fail(new TransportError('lost the connection to RabbitMQ')));
        const onAbort = () => this.fail(plan.signal.reason ?? new Error('job cancelled'));
        if (plan.signal.aborted) return onAbort();
        plan.signal.addEventListener('abort', onAbort, { once: true });
        this.consumeCh
          .consume(this.resultsQ, (msg) => msg && this.onResult(msg), { noAck: false })
          .then(() => this.pump(), (err) => this.fail(err));
      });
    } finally {
      await this.consumeCh.deleteQueue(this.resultsQ).catch(() => {});
    }
  }

  /** Publishes batches while the in-flight window has room. */
  private async pump(): Promise<void> {
    if (this.pumping || this.failed) return;
    this.pumping = true;
    const { items, task, counters, options } = this.plan;
    try {
      while (!this.failed && !items.done && this.inFlight.size < MAX_IN_FLIGHT) {
        const first = items.index;
        const maybe = items.take(this.sizer.size);
        const batch = maybe instanceof Promise ? await maybe : maybe;
        if (batch.length === 0) break;
        const slots: Slot[] = [];
        for (let i = 0; i < batch.length; i++) {
          const where = { task: task.name, hook: 'setup' as const, index: first + i };
          assertPlain(batch[i], where);
          const bytes = encodeChecked(batch[i]);
          if (bytes.length > options.inlineLimit) {
            slots.push(await this.store.put(this.jobId, bytes));
            counters.bytesStored += bytes.length;
          } else slots.push(bytes);
        }
        const body = encodeBody({ first, items: slots });
        this.inFlight.set(first, batch.length);
        counters.messages++;
        counters.bytesPublished += body.length;
        const { confirmed } = await this.publisher.send(this.queue, body, {
          messageId: `${this.jobId}:${first}`,
          replyTo: this.resultsQ,
          contentType: 'application/x-msgpack',
          type: 'fj.work',
          headers: { [H.protocol]: PROTOCOL, [H.job]: this.jobId, [H.task]: task.name, [H.code]: task.codeHash, [H.params]: this.paramsRef, [H.first]: first, [H.count]: batch.length },
        });
        confirmed.catch((err) => this.fail(err));
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.pumping = false;
    }
    this.finishIfDone();
  }

  private onResult(msg: ConsumeMessage): void {
    this.consumeCh.ack(msg);
    if (this.failed) return;
    const { counters, log } = this.plan;
    const status = msg.properties.headers?.[H.status] as string | undefined;
    const worker = String(msg.properties.headers?.[H.worker] ?? 'unknown worker');
    let body: ResultBody;
    try {
      body = decodeBody<ResultBody>(msg.content);
    } catch (err) {
      log.warn(`ignored an undecodable result message from ${worker}: ${(err as Error).message}`);
      return;
    }
    const count = this.inFlight.get(body.first);
    if (count === undefined) return; // a duplicate delivery: already recorded
    counters.messages++;
    counters.bytesPublished += msg.content.length;
    if (status === 'refused') {
      const why = body.error?.message ?? 'refused';
      return this.fail(new FjError(`worker ${worker} refused the job's items: ${why}`, 'FJ_WORKER_REFUSED', 1));
    }
    if (status !== 'ok' || !body.results) return this.fail(body.error ? fromWire(body.error) : new FjError(`worker ${worker} failed`, 'FJ_INTERNAL', 1));
    this.inFlight.delete(body.first);
    counters.bytesStored += body.stored ?? 0;
    if (body.ms !== undefined) this.sizer.observe(body.ms, count);
    const decoded = this.decodeResults(body.results);
    if (decoded instanceof Promise) {
      const p = decoded.then(
        (values) => this.record(body.first, values),
        (err) => this.fail(err),
      );
      this.pendingDecode.push(p);
      void p.then(() => this.finishIfDone());
    } else this.record(body.first, decoded);
    void this.pump();
  }

  private record(first: number, values: unknown[]): void {
    this.results.add(first, values);
    this.plan.counters.items += values.length;
    this.plan.progress(values.length);
  }

  /** Decodes inline results; fetches stored ones (async only when some are refs). */
  private decodeResults(slots: Slot[]): unknown[] | Promise<unknown[]> {
    if (slots.every((s) => typeof s !== 'string')) return slots.map((s) => decode(s as Uint8Array));
    return Promise.all(slots.map(async (s) => decode(typeof s === 'string' ? await this.store.get(s) : s)));
  }

  private finishIfDone(): void {
    if (this.failed || this.pumping || !this.plan.items.done || this.inFlight.size > 0) return;
    if (this.plan.counters.items < (this.plan.items.total ?? 0)) return; // stored results still being fetched
    this.failed = true; // settled: ignore anything that arrives later
    this.resolve(this.results.toArray());
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    void this.plan.items.close();
    this.reject(err instanceof Error ? err : new TransportError(String(err)));
  }
}

