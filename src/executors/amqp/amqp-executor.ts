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

export class AmqpExecutor implements Executor {
  /** The store and broker connection opened by `prepare`, while the job validates its input. */
  private early: { store: Promise<PayloadStore>; conn: Promise<ChannelModel> } | undefined;
  /** The jobs whose `map` returned and whose end is not written yet (`finish`): their coordinator and open store. */
  private readonly ending = new Map<JobPlan, { coordinator: Coordinator; store: PayloadStore }>();

  /**
   * Opens the store and connects to RabbitMQ now, so the handshakes overlap
   * validation and setup. Their errors surface from `map`, after the input's.
   */
  prepare(options: NormalizedOptions): void {
    let url: string;
    try {
      url = withHeartbeat(options.broker);
    } catch {
      return; // a bad URL: map() reports it
    }
    const store = openStore(options.store || undefined);
    const conn = connect(url, `coordinator ${options.jobId ?? ''}`.trim());
    store.catch(() => {});
    conn.catch(() => {});
    this.early = { store, conn };
  }

  async dispose(): Promise<void> {
    const early = this.early;
    this.early = undefined;
    await closeEarly(early);
    const left = [...this.ending.values()];
    this.ending.clear();
    await Promise.all(left.map(({ store }) => store.close()));
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
    await coordinator.run();
  }
}

async function closeEarly(
  early: { store: Promise<PayloadStore>; conn: Promise<ChannelModel> } | undefined,
): Promise<void> {
  if (!early) return;
  await Promise.all([
    early.conn.then((c) => c.close()).catch(() => {}),
    early.store.then((s) => s.close()).catch(() => {}),
  ]);
}
