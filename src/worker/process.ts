/**
 * `fj worker`: consumes a pool's work queue and runs `process` for every task
 * it knows. Small and separate from the CLI and from the coordinator.
 *
 * - Acks a work message only after its result is confirmed by the broker.
 * - Refuses (dead-letters, and tells the job) a message for a task it does
 *   not know or whose code differs from its own: never runs stale code.
 * - Dead-letters what it cannot decode or what exceeds the size limit, and
 *   keeps running.
 * - Fetches each job's params once per process and caches them by content
 *   hash (bounded), so shared data crosses the network once per worker.
 * - `stop()` is a warm shutdown: no new work, finish and ack what is in hand.
 */
import { availableParallelism, hostname } from 'node:os';
import type { ChannelModel, Channel, ConsumeMessage } from 'amqplib';
import pLimit from 'p-limit';
import { decode, detach, encodeChecked } from '../codec.js';
import { TransportError } from '../errors.js';
import { createLogger, type LogLevel } from '../log.js';
import { openStore } from '../store/open.js';
import type { PayloadStore } from '../store/store.js';
import { builtinTaskNames, loadAllTasks, type TaskInfo } from '../task/registry.js';
import type { Logger } from '../task/types.js';
import { assertWorkQueue, connect, deadLetterQueue, DEFAULT_QUEUE, H, PROTOCOL, Publisher, withHeartbeat, type ResultStatus } from '../transport/amqp.js';
import { DEFAULT_BROKER } from '../options.js';
import { decodeBody, encodeBody, type ResultBody, type Slot, type WorkBody } from '../transport/messages.js';
import { ThreadPool, type PoolJob } from './pool.js';
import { toWire, type WireError } from './wire-error.js';

/** Options of {@link startWorker} (and `fj worker`). */
export interface WorkerOptions {
  /** Broker URL. Default `FJ_BROKER_URL`, else `amqp://guest:guest@127.0.0.1:5672`. */
  broker?: string;
  /** Payload store URL. Default `FJ_STORE_URL`, else the default file store. */
  store?: string;
  /** The pool's work queue. Default `FJ_QUEUE`, else `fj.default`. */
  queue?: string;
  /** Worker threads running `process`; two messages per thread are in flight (the prefetch). Default: available cores. */
  concurrency?: number;
  /** Task modules this worker serves besides the built-in tasks. */
  tasks?: string[];
  /** Services module: its default export builds `ctx.services` once per worker thread. */
  services?: string;
  /** Log level. Default `'info'`. */
  logLevel?: LogLevel;
  /** Messages larger than this are dead-lettered unread. Default 8 MiB. */
  maxMessageBytes?: number;
  /** Results larger than this go to the store by ref. Default 65536. */
  inlineLimit?: number;
  /** The worker's identity in logs and replies. Default `<host>.<queue>.<pid>`. */
  name?: string;
}

/** A running worker. */
export interface WorkerHandle {
  /** `<host>.<pool>.<n>`. */
  readonly name: string;
  /** Settles when the worker has stopped (after `stop()` or a lost connection). */
  readonly stopped: Promise<void>;
  /** Warm shutdown: stop consuming, finish and ack what is in hand, disconnect. */
  stop(): Promise<void>;
}

/** Bounded map with least-recently-used eviction. */
class Lru<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  delete(key: string): void {
    this.map.delete(key);
  }
  set(key: string, value: V): void {
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }
}

/** Connects, declares the pool's queues and starts consuming. */
export async function startWorker(options: WorkerOptions = {}): Promise<WorkerHandle> {
  const queue = options.queue ?? process.env.FJ_QUEUE ?? DEFAULT_QUEUE;
  const name = options.name ?? `${hostname()}.${queue}.${process.pid}`;
  const log = createLogger(name, options.logLevel ?? 'info');
  const concurrency = options.concurrency ?? availableParallelism();
  const tasks = new Map<string, TaskInfo>();
  for (const spec of [...builtinTaskNames(), ...(options.tasks ?? [])]) {
    for (const info of await loadAllTasks(spec)) tasks.set(info.name, info);
  }
  const pool = await ThreadPool.start({ size: concurrency, services: options.services, logLevel: options.logLevel ?? 'info', idPrefix: name });
  const store = await openStore(options.store ?? process.env.FJ_STORE_URL);
  const conn = await connect(withHeartbeat(options.broker ?? process.env.FJ_BROKER_URL ?? DEFAULT_BROKER), `worker ${name}`);
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  await assertWorkQueue(ch, queue);
  await ch.prefetch(concurrency * 2);
  const publisher = new Publisher(await conn.createConfirmChannel());
  publisher.channel.on('error', () => {});
  const worker = new Worker({ name, log, tasks, pool, store, conn, ch, publisher, concurrency, queue, maxMessageBytes: options.maxMessageBytes ?? 8 * 1024 * 1024, inlineLimit: options.inlineLimit ?? 65536 });
  await worker.start();
  log.info(`serving ${[...tasks.keys()].join(', ')} from ${queue} (concurrency ${concurrency}, store ${store.url})`);
  return worker;
}

interface Parts {
  name: string;
  log: Logger;
  tasks: Map<string, TaskInfo>;
  pool: ThreadPool;
  store: PayloadStore;
  conn: ChannelModel;
  ch: Channel;
  publisher: Publisher;
  concurrency: number;
  queue: string;
  maxMessageBytes: number;
  inlineLimit: number;
}

class Worker implements WorkerHandle {
  readonly name: string;
  readonly stopped: Promise<void>;
  private markStopped!: () => void;
  private consumerTag = '';
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly inHand = new Set<Promise<void>>();
  private readonly params = new Lru<Promise<Uint8Array>>(16);
  private readonly abort = new AbortController();
  private stopping: Promise<void> | undefined;

  constructor(private readonly p: Parts) {
    this.name = p.name;
    // Two messages per thread: one running, one queued, as in the local executor.
    this.limit = pLimit(p.concurrency * 2);
    this.stopped = new Promise((r) => (this.markStopped = r));
  }

  async start(): Promise<void> {
    this.p.conn.on('close', () => {
      if (this.stopping) return;
      this.p.log.error('lost the connection to RabbitMQ; unacked messages go back to the queue');
      this.abort.abort(new TransportError('connection lost'));
      this.p.pool.abort();
      void this.p.pool.terminate();
      this.markStopped();
    });
    const { consumerTag } = await this.p.ch.consume(this.p.queue, (msg) => msg && this.track(this.limit(() => this.handle(msg))), { noAck: false });
    this.consumerTag = consumerTag;
  }

  private track(p: Promise<void>): void {
    this.inHand.add(p);
    void p.finally(() => this.inHand.delete(p));
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const { ch, conn, log, pool, store } = this.p;
      log.info(`stopping: finishing ${this.inHand.size} message(s) in hand`);
      await ch.cancel(this.consumerTag).catch(() => {});
      while (this.inHand.size) await Promise.allSettled([...this.inHand]);
      await this.p.publisher.flush().catch(() => {});
      await conn.close().catch(() => {});
      await pool.close();
      await store.close();
      log.info('stopped');
      this.markStopped();
    })();
    return this.stopping;
  }

  /** Rejects a message to the dead-letter queue, saying why. */
  private deadLetter(msg: ConsumeMessage, why: string): void {
    this.p.log.warn(`dead-lettered message ${msg.properties.messageId ?? '(no id)'} to ${deadLetterQueue(this.p.queue)}: ${why}`);
    this.p.ch.nack(msg, false, false);
  }

  private async reply(msg: ConsumeMessage, status: ResultStatus, body: ResultBody): Promise<void> {
    const to = msg.properties.replyTo as string | undefined;
    if (!to) return;
    const headers = msg.properties.headers ?? {};
    const { confirmed } = await this.p.publisher.send(to, encodeBody(body), {
      correlationId: msg.properties.messageId as string | undefined,
      contentType: 'application/x-msgpack',
      type: 'fj.result',
      headers: { [H.protocol]: PROTOCOL, [H.job]: headers[H.job], [H.status]: status, [H.worker]: this.name },
    });
    await confirmed;
  }

  private async handle(msg: ConsumeMessage): Promise<void> {
    const { log, tasks } = this.p;
    const headers = msg.properties.headers ?? {};
    if (msg.content.length > this.p.maxMessageBytes) return this.deadLetter(msg, `${msg.content.length} bytes, over the ${this.p.maxMessageBytes}-byte limit`);
    if (headers[H.protocol] !== PROTOCOL) return this.deadLetter(msg, `not an fj protocol ${PROTOCOL} message`);
    let body: WorkBody;
    try {
      body = decodeBody<WorkBody>(msg.content);
      if (!Number.isInteger(body.first) || !Array.isArray(body.items)) throw new Error('missing first or items');
    } catch (err) {
      return this.deadLetter(msg, `cannot decode the body: ${(err as Error).message}`);
    }
    const taskName = String(headers[H.task]);
    const task = tasks.get(taskName);
    const refuse = async (why: string) => {
      log.error(`refused job ${String(headers[H.job])} items from ${body.first}: ${why}`);
      await this.reply(msg, 'refused', { first: body.first, error: { code: 'FJ_WORKER_REFUSED', message: why } }).catch(() => {});
      this.p.ch.nack(msg, false, false);
    };
    if (!task) return refuse(`unknown task '${taskName}' (this worker serves ${[...tasks.keys()].join(', ')}; start it with --tasks MODULE)`);
    if (headers[H.code] !== task.codeHash) {
      return refuse(`task ${taskName}: this worker runs different code (${task.codeHash}) than the job (${String(headers[H.code])}); restart the worker with the current code`);
    }
    let out: ResultBody;
    let status: ResultStatus = 'ok';
    try {
      out = await this.run(task, String(headers[H.params]), body);
    } catch (err) {
      if (this.abort.signal.aborted) return; // connection gone: the broker redelivers
      status = 'failed';
      const error: WireError = toWire(err);
      log.warn(`job ${String(headers[H.job])}: ${error.message}`);
      out = { first: body.first, error };
    }
    try {
      await this.reply(msg, status, out);
      this.p.ch.ack(msg);
    } catch (err) {
      log.error(`could not publish the result of ${msg.properties.messageId}: ${(err as Error).message}; it will be redelivered`);
    }
  }

  private async run(task: TaskInfo, paramsRef: string, body: WorkBody): Promise<ResultBody> {
    const job = await this.poolJob(task, paramsRef);
    // Items and results stay encoded here: the thread decodes and encodes them.
    const items = await Promise.all(body.items.map((s) => (typeof s === 'string' ? this.p.store.get(s) : s)));
    const done = await this.p.pool.run(job, body.first, detach(encodeChecked(items)), true);
    const results: Slot[] = [];
    let stored = 0;
    const jobId = paramsRef.split('/')[0];
    for (const bytes of decode<Uint8Array[]>(done.bytes)) {
      if (bytes.length > this.p.inlineLimit) {
        results.push(await this.p.store.put(jobId, bytes));
        stored += bytes.length;
      } else results.push(bytes);
    }
    return { first: body.first, results, ms: done.ms, stored }; // ms: time in process, for batch sizing
  }

  /** The pool job for a task and params, fetching the params once per content hash. */
  private async poolJob(task: TaskInfo, ref: string): Promise<PoolJob> {
    const hash = ref.slice(ref.lastIndexOf('/') + 1);
    let params = this.params.get(hash);
    if (!params) {
      params = this.p.store.get(ref).then((bytes) => {
        this.p.log.info(`fetched params ${hash.slice(0, 12)} (${bytes.length} bytes)`);
        return bytes;
      });
      params.catch(() => this.params.delete(hash)); // a failed fetch is retried next time
      this.params.set(hash, params);
    }
    return { key: `${task.name}:${task.codeHash}:${hash}`, moduleUrl: task.moduleUrl!, className: task.cls.name, paramsBytes: await params };
  }
}
