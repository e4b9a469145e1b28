/**
 * `fj worker`'s entry: loads the tasks it serves, connects, starts the
 * thread pool and the store, and hands them to an {@link AmqpWorker}. Small
 * and separate from the CLI and from the coordinator.
 */
import { createLogger } from '../log.js';
import { signerFrom } from '../signing.js';
import { openStore } from '../store/open.js';
import type { PayloadStore } from '../store/store.js';
import { builtinTaskNames, loadAllTasks, type TaskInfo } from '../task/registry.js';
import { connect, withHeartbeat } from '../transport/amqp.js';
import { AmqpWorker, type WorkerHandle } from './amqp-worker.js';
import { MessageRunner } from './message-runner.js';
import { ThreadPool } from './pool.js';
import { normalizeWorkerOptions, type WorkerOptions } from './worker-options.js';

export type { WorkerHandle, WorkerOptions };
export { MAX_CRASHES } from './crash-count.js';

/** Connects, declares the pool's queues and starts consuming. */
export async function startWorker(options: WorkerOptions = {}): Promise<WorkerHandle> {
  const o = normalizeWorkerOptions(options);
  const logStyle = { format: o.logFormat, timestamps: true }; // a worker's log is read later: every line says when
  const log = createLogger(o.name, o.logLevel, undefined, logStyle);
  const signer = signerFrom(o.signingKey); // a bad key is a usage error before anything connects
  const tasks = new Map<string, TaskInfo>();
  for (const spec of [...builtinTaskNames(), ...o.tasks]) {
    for (const info of await loadAllTasks(spec)) {
      void info.codeHash; // fingerprinted now, as loaded: what this process runs is what it hashed
      tasks.set(info.name, info);
    }
  }
  const url = withHeartbeat(o.broker);
  const conn = await connect(url, `worker ${o.name}`); // the first connection fails fast: a wrong URL is a usage problem
  let pool: ThreadPool | undefined;
  let store: PayloadStore | undefined;
  try {
    pool = await ThreadPool.start({ size: o.concurrency, services: o.services, logLevel: o.logLevel, logStyle, idPrefix: o.name });
    store = await openStore(o.store || undefined);
    const runner = new MessageRunner(pool, store, o.inlineLimit, log, o.itemConcurrency);
    const worker = new AmqpWorker({ name: o.name, log, tasks, pool, store, url, concurrency: o.concurrency, queue: o.queue, maxMessageBytes: o.maxMessageBytes, shutdownTimeoutMs: o.shutdownTimeoutMs, runner, signer });
    await worker.start(conn);
    log.info(`serving ${[...tasks.keys()].join(', ')} from ${o.queue} (concurrency ${o.concurrency}, store ${store.url})`);
    return worker;
  } catch (err) {
    await conn.close().catch(() => {});
    await pool?.terminate();
    await store?.close();
    throw err;
  }
}
