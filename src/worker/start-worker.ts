/**
 * `fj worker`'s entry: loads the tasks it serves, connects, starts the
 * thread pool and the store, and hands them to an {@link AmqpWorker}. Small
 * and separate from the CLI and from the coordinator.
 */
import { createLogger } from '../core/log.js';
import { signerFrom } from '../core/signing.js';
import { openStore } from '../store/open.js';
import type { PayloadStore } from '../store/store.js';
import { builtinTaskNames, loadAllTasks, type TaskInfo } from '../task/registry.js';
import { brokerNode, connect, reconnect, withHeartbeat } from '../broker/amqp.js';
import { AmqpWorker, type WorkerHandle } from './amqp-worker.js';
import { startHeartbeat, type Heartbeat } from './heartbeat.js';
import { emptyTally } from '../broker/job-tally.js';
import { leaseRenewMs } from './job-holds.js';
import { JobConsumer } from './job-consumer.js';
import { MessageRunner } from './message-runner.js';
import { Scheduler } from './scheduler.js';
import { ThreadPool } from '../runtime/thread-pool.js';
import {
  normalizeWorkerOptions,
  type NormalizedWorkerOptions,
  type PoolParts,
  type WorkerOptions,
} from './worker-options.js';
import type { Logger } from '../task/types.js';

export type { WorkerHandle, WorkerOptions };
export { MAX_CRASHES } from './crash-count.js';

/** The tasks a worker serves: the built-in ones and every task of `modules`, each fingerprinted as loaded. */
async function servedTasks(modules: readonly string[]): Promise<Map<string, TaskInfo>> {
  const tasks = new Map<string, TaskInfo>();
  for (const spec of [...builtinTaskNames(), ...modules]) {
    for (const info of await loadAllTasks(spec)) {
      void info.codeHash; // fingerprinted now, as loaded: what this process runs is what it hashed
      tasks.set(info.name, info);
    }
  }
  return tasks;
}

/**
 * Connects, starts the thread pool, has every thread import the task modules
 * served (its heartbeat says `warming` meanwhile), then declares the pool's
 * queues and starts consuming (`ready`).
 */
export async function startWorker(options: WorkerOptions = {}): Promise<WorkerHandle> {
  const o = normalizeWorkerOptions(options);
  const logStyle = { format: o.logFormat, timestamps: true }; // a worker's log is read later: every line says when
  const log = createLogger(o.name, o.logLevel, undefined, logStyle);
  const signer = signerFrom(o.signingKey); // a bad key is a usage error before anything connects
  const tasks = await servedTasks(o.tasks);
  const url = withHeartbeat(o.broker);
  const conn = await firstConnection(url, o, log);
  let pool: ThreadPool | undefined;
  let store: PayloadStore | undefined;
  let jobsConn: Awaited<ReturnType<typeof connect>> | undefined;
  let heartbeat: Heartbeat | undefined;
  let scheduler: Scheduler | undefined;
  try {
    pool = await ThreadPool.start({
      size: o.concurrency,
      services: o.services,
      logLevel: o.logLevel,
      logStyle,
      idPrefix: o.name,
    });
    // Every thread imports every task module served here before the worker takes a message: a job's first
    // batch runs as fast as its tenth (a thread that replaces a dead one imports them too, see keepWarm).
    const modules = [...new Set([...tasks.values()].flatMap((t) => (t.moduleUrl ? [t.moduleUrl] : [])))];
    const warmStart = Date.now();
    const warmed = pool.keepWarm(modules);
    store = await openStore(o.store || undefined);
    const p = pool;
    let ready = false;
    let worker: AmqpWorker | undefined, jobs: JobConsumer | undefined;
    // Beating from now on: `fj workers` shows the worker warming until its threads are.
    heartbeat = startHeartbeat(
      store,
      {
        name: o.name,
        pool: o.queue,
        concurrency: o.concurrency,
        maxJobs: o.maxJobs,
        tenantCaps: o.tenantCaps,
        tenantWeights: o.tenantWeights,
        state: () => (ready ? 'ready' : 'warming'),
        tasks: Object.fromEntries([...tasks.values()].map((t) => [t.name, t.codeHash])),
        busy: () => Math.min(p.inFlight, o.concurrency),
        itemsDone: () => worker?.itemsDone ?? 0,
        coordinating: () => [...(jobs?.active.keys() ?? [])],
        tally: () => jobs?.tally ?? emptyTally(),
        scheduler: () => scheduler?.active ?? false,
      },
      log,
      signer,
    );
    for (const f of await warmed) log.warn(`a worker thread could not import ${f.moduleUrl}: ${f.error}`);
    log.info(
      `${o.concurrency} thread(s) imported ${modules.length} task module(s) in ${((Date.now() - warmStart) / 1000).toFixed(1)} s`,
    );
    const runner = new MessageRunner(pool, store, o.inlineLimit, log, o.itemConcurrency);
    worker = new AmqpWorker({
      name: o.name,
      log,
      tasks,
      pool,
      store,
      url,
      concurrency: o.concurrency,
      queue: o.queue,
      queueType: o.queueType,
      maxMessageBytes: o.maxMessageBytes,
      shutdownTimeoutMs: o.shutdownTimeoutMs,
      runner,
      signer,
    });
    await worker.start(conn);
    // Detached jobs (`fj submit`) are coordinated here too, on a connection of their own, unless --no-coordinate.
    const parts = poolParts(o, { log, tasks, store, url, signer });
    jobs = o.maxJobs > 0 ? jobConsumer(o, parts) : undefined;
    if (jobs) await jobs.start((jobsConn = await connect(url, `worker ${o.name} jobs`)));
    // Every worker of a pool stands by as its scheduler; one at a time is.
    const sched = (scheduler = new Scheduler(parts));
    await sched.start();
    ready = true;
    heartbeat.beat();
    const beating = heartbeat;
    const stopBeat = () => beating.stop();
    log.info(
      `serving ${[...tasks.keys()].join(', ')} from ${o.queue} (concurrency ${o.concurrency}, ${jobs ? `coordinating up to ${o.maxJobs} job(s)` : 'not coordinating jobs'}, store ${store.url}, RabbitMQ at ${brokerNode(conn) ?? 'its node'})`,
    );
    let stopping: Promise<void> | undefined;
    const stop = () =>
      (stopping ??= (async () => {
        // At once and side by side, so the whole stop fits in --shutdown-timeout: the jobs coordinated here go back to the
        // queue (another worker resumes them), the heartbeat ends, the items in hand finish.
        await Promise.all([sched.stop(), jobs?.stop(), stopBeat(), worker.stop()]);
      })());
    void worker.stopped.then(() => Promise.all([sched.stop(), jobs?.stop()])).then(stopBeat);
    return { name: worker.name, stopped: worker.stopped, stop };
  } catch (err) {
    await scheduler?.stop();
    await heartbeat?.stop();
    await conn.close().catch(() => {});
    await jobsConn?.close().catch(() => {});
    await pool?.terminate();
    await store?.close();
    throw err;
  }
}

/** What the job consumer and the scheduler are built from: the worker's options and what it opened. */
function poolParts(
  o: NormalizedWorkerOptions,
  opened: Pick<PoolParts, 'log' | 'tasks' | 'store' | 'url' | 'signer'>,
): PoolParts {
  return {
    ...opened,
    name: o.name,
    storeUrl: o.store,
    broker: o.broker,
    queue: o.queue,
    queueType: o.queueType,
    signingKey: o.signingKey,
  };
}

/** The consumer of the pool's detached jobs (`fj submit`), which a worker coordinates too. */
function jobConsumer(o: NormalizedWorkerOptions, parts: PoolParts): JobConsumer {
  const { maxJobs, logLevel, logFormat, tenantWeights } = o;
  return new JobConsumer({ ...parts, maxJobs, leaseRenewMs: leaseRenewMs(), logLevel, logFormat, tenantWeights });
}

/**
 * The worker's first connection: at once (`waitForBrokerMs` 0), or retried
 * with backoff for that long, each failed attempt logged, stopped by
 * `signal` (SIGTERM while waiting); then the last error (exit 3).
 */
function firstConnection(url: string, o: NormalizedWorkerOptions, log: Logger) {
  const name = `worker ${o.name}`;
  if (o.waitForBrokerMs === 0) return connect(url, name);
  return reconnect(url, name, {
    giveUpMs: o.waitForBrokerMs,
    signal: o.signal,
    onAttempt: (n, err, waitMs) =>
      log.warn(
        `waiting for the broker (attempt ${n}, next in ${(waitMs / 1000).toFixed(1)} s, giving up after ${Math.round(o.waitForBrokerMs / 1000)} s): ${err.message}`,
      ),
  });
}
