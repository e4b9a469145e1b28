/**
 * The amqp executor: each job's items run on `fj worker` processes through
 * RabbitMQ. The work is the coordinator's (coordinator.ts): this executor
 * opens the store and the broker connection early, while the input
 * validates, and hands them to a coordinator per job.
 */
import { randomUUID } from 'node:crypto';
import type { ChannelModel } from 'amqplib';
import { Coordinator } from './coordinator.js';
import { checkJobId } from '../../core/job-id.js';
import type { NormalizedOptions } from '../../core/job-options.js';
import { openStore } from '../../store/open.js';
import type { PayloadStore } from '../../store/store.js';
import { connect, DEFAULT_QUEUE, withHeartbeat } from '../../broker/amqp.js';
import type { Executor, JobEnd, JobPlan } from '../executor.js';

/** A job's store and broker connection, opened ahead of its `map` so the handshakes overlap other work. */
export interface EarlyOpen {
  store: Promise<PayloadStore>;
  conn: Promise<ChannelModel>;
}

/**
 * Opens a job's store and connects to RabbitMQ (or takes `conn`, a
 * connection the caller opened), without waiting: errors surface where the
 * promises are awaited. Undefined for a broker URL that does not parse (the
 * job's `map` reports it).
 */
export function openEarly(
  broker: string,
  store: string | undefined,
  jobId?: string,
  conn?: Promise<ChannelModel>,
): EarlyOpen | undefined {
  let url: string;
  try {
    url = withHeartbeat(broker);
  } catch {
    return undefined;
  }
  const early = {
    store: openStore(store || undefined),
    conn: conn ?? connect(url, `coordinator ${jobId ?? ''}`.trim()),
  };
  early.store.catch(() => {});
  early.conn.catch(() => {});
  return early;
}

/** Closes what {@link openEarly} opened, when no job took it; never rejects. */
export async function closeEarly(early: EarlyOpen | undefined): Promise<void> {
  if (!early) return;
  await Promise.all([
    early.conn.then((c) => c.close()).catch(() => {}),
    early.store.then((s) => s.close()).catch(() => {}),
  ]);
}

export class AmqpExecutor implements Executor {
  /** The jobs whose `map` returned and whose end is not written yet (`finish`): their coordinator and open store. */
  private readonly ending = new Map<JobPlan, { coordinator: Coordinator; store: PayloadStore }>();
  /** The broker connections of jobs that ran here, closing behind their ends: `dispose` waits for them. */
  private readonly closing: Promise<void>[] = [];

  /**
   * @param early the store and connection for the next job `map` runs,
   * opened by the caller ahead of time (a worker opens them while it reads a
   * detached job's records); the job owns them from then on. Without it,
   * `prepare` opens them.
   */
  constructor(private early?: EarlyOpen) {}

  /**
   * Opens the store and connects to RabbitMQ now, unless the caller did
   * (the constructor), so the handshakes overlap validation and setup. Their
   * errors surface from `map`, after the input's.
   */
  prepare(options: NormalizedOptions): void {
    this.early ??= openEarly(options.broker, options.store, options.jobId);
  }

  async dispose(): Promise<void> {
    const early = this.early;
    this.early = undefined;
    await closeEarly(early);
    const left = [...this.ending.values()];
    this.ending.clear();
    await Promise.all([...left.map(({ store }) => store.close()), ...this.closing.splice(0)]);
  }

  /** Writes an attached job's end (Coordinator.finish), then closes its store. */
  async finish(plan: JobPlan, end: JobEnd): Promise<void> {
    const job = this.ending.get(plan);
    if (!job) return;
    this.ending.delete(plan);
    try {
      await job.coordinator.finish(end);
    } finally {
      await job.store.close();
    }
  }

  async map(plan: JobPlan): Promise<void> {
    const { options, task } = plan;
    const early = this.early;
    this.early = undefined;
    let store: PayloadStore;
    let jobId: string;
    try {
      jobId = checkJobId(options.jobId ?? randomUUID());
      store = await (early?.store ?? openStore(options.store || undefined));
    } catch (err) {
      await closeEarly(early);
      throw err;
    }
    const coordinator = new Coordinator(plan, store, jobId, options.queue ?? task.queue ?? DEFAULT_QUEUE, early?.conn);
    // The store stays open for the job's end (`finish`, after `join`).
    this.ending.set(plan, { coordinator, store });
    try {
      await coordinator.run();
    } finally {
      this.closing.push(coordinator.connectionClosed);
    }
  }
}
