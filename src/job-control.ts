/**
 * The implementation of `status()` and `cancel()` (see jobs.ts, which loads
 * this module, and with it amqplib, only when one is called).
 */
import type { Channel, ChannelModel } from 'amqplib';
import { hostname } from 'node:os';
import { writeEnding } from './detached/entries.js';
import { CancelledError, UsageError } from './errors.js';
import { checkJobId } from './job-id.js';
import { CANCEL_RECORD, readManifest, readStatus, type JobLocation, type JobReport } from './job-records.js';
import { normalizeOptions } from './options.js';
import { sealRecord, SIGNATURE_HEADER, signerFrom, type Signer } from './signing.js';
import { openStore } from './store/open.js';
import type { PayloadStore } from './store/store.js';
import { assertControlExchange, connect, publishCancel, resultsQueue, resultsQueueState, withHeartbeat } from './transport/amqp.js';
import { isRunTag } from './transport/message-id.js';

/** See {@link import('./jobs.js').status}. */
export async function status(jobId: string, where: JobLocation = {}): Promise<JobReport> {
  checkJobId(jobId);
  return withBrokerAndStore(where, async (conn, store) => {
    const report: JobReport = {
      jobId,
      status: await readStatus(store, jobId, signerFrom(where.signingKey)),
      resultsQueue: await resultsQueueState(conn, jobId),
    };
    if (!report.status && !report.resultsQueue && !(await store.getMeta(jobId, 'manifest'))) throw unknownJob(jobId, store);
    return report;
  });
}

/** See {@link import('./jobs.js').cancel}. */
export async function cancel(jobId: string, where: JobLocation = {}): Promise<{ coordinator: boolean; pending?: boolean; detached?: boolean }> {
  checkJobId(jobId);
  return withBrokerAndStore(where, async (conn, store) => {
    const signer = signerFrom(where.signingKey);
    let queue = await resultsQueueState(conn, jobId);
    if (!queue && !(await store.getMeta(jobId, 'manifest'))) {
      // Not attached yet (its setup may still be running): leave the cancel where its coordinator looks before publishing anything.
      await store.setMeta(jobId, CANCEL_RECORD, sealRecord(signer, CANCEL_RECORD, jobId, new Date().toISOString()));
      // Then look once more: a coordinator that attached meanwhile may have checked before the record was there.
      queue = await resultsQueueState(conn, jobId);
      if (!queue) return { coordinator: false, pending: true };
    }
    // A detached job no coordinator has attached to (queued, or its setup running in a worker): it ends cancelled now, its records kept
    // for `fj result`; a coordinator that attaches later sees the cancel record and stops before publishing anything.
    const manifest = await readManifest(store, jobId, signer).catch(() => undefined);
    if (manifest?.detached && !((queue?.coordinators ?? 0) > 0)) {
      await store.setMeta(jobId, CANCEL_RECORD, sealRecord(signer, CANCEL_RECORD, jobId, new Date().toISOString()));
      await writeEnding(store, jobId, manifest, { state: 'cancelled', error: new CancelledError(`job ${jobId} cancelled by 'fj cancel'`) }, `fj cancel on ${hostname()}`, signer);
      return { coordinator: false, detached: true };
    }
    const ch = await channel(conn);
    await assertControlExchange(ch);
    // Name the job's runs, so that only their messages are dropped and the id can be used again.
    const runs = await runsOf(store, jobId, signer);
    publishCancel(ch, jobId, runs, signer);
    const coordinator = (queue?.coordinators ?? 0) > 0;
    if (coordinator) {
      // The coordinator heeds a cancel naming its run, so a stranger's is ignored. The run attached last
      // is named last in the manifest (written as it attached, before its first status record).
      const run = runs.at(-1) ?? (await readStatus(store, jobId, signer))?.run ?? '';
      const headers = signer ? { [SIGNATURE_HEADER]: signer.sign('cancel', run, jobId) } : undefined;
      ch.sendToQueue(resultsQueue(jobId), Buffer.alloc(0), { type: 'fj.cancel', correlationId: run, headers });
      // The coordinator deletes its results queue as it stops.
      for (let i = 0; i < 100 && (await resultsQueueState(conn, jobId)); i++) await new Promise((r) => setTimeout(r, 100));
    } else {
      if (queue) await ch.deleteQueue(resultsQueue(jobId));
      await store.deleteJob(jobId);
    }
    await ch.close().catch(() => {});
    return { coordinator };
  });
}

/** The coordinator runs a job's records name (manifest, status); empty when it has none. */
async function runsOf(store: PayloadStore, jobId: string, signer: Signer | undefined): Promise<string[]> {
  const runs = new Set<string>();
  try {
    for (const run of (await readManifest(store, jobId, signer)).runs ?? []) runs.add(run);
  } catch {
    // no manifest, or an unreadable one: the status record may still name the run
  }
  const run = (await readStatus(store, jobId, signer).catch(() => undefined))?.run;
  if (run) runs.add(run);
  return [...runs].filter(isRunTag);
}

async function withBrokerAndStore<T>(where: JobLocation, fn: (conn: ChannelModel, store: PayloadStore) => Promise<T>): Promise<T> {
  const opts = normalizeOptions({ executor: 'amqp', broker: where.broker, store: where.store });
  const store = await openStore(opts.store || undefined);
  let conn: ChannelModel | undefined;
  try {
    conn = await connect(withHeartbeat(opts.broker), 'fj job control');
    return await fn(conn, store);
  } finally {
    await conn?.close().catch(() => {});
    await store.close();
  }
}

async function channel(conn: ChannelModel): Promise<Channel> {
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  return ch;
}

function unknownJob(jobId: string, store: PayloadStore): UsageError {
  return new UsageError(`no job '${jobId}' on the broker or in the store ${store.url}: it finished, was cancelled, or never started (pass the --broker and --store it ran with)`);
}
