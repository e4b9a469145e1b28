/**
 * Hands a detached job to its pool: its records, then its message on the
 * pool's jobs queue. `submit()` and a pipeline going on to its next stage
 * (pipeline/continue-pipeline.ts) queue jobs alike.
 */
import type { ChannelModel } from 'amqplib';
import { sealRecord, SIGNATURE_HEADER, type Signer } from '../core/signing.js';
import { writeManifest, type JobStatus, type Manifest } from '../store/job-records.js';
import type { PayloadStore } from '../store/store.js';
import type { QueueType } from '../core/location.js';
import { assertResultsQueue, declareQueue, jobsQueueSpec, Publisher } from '../broker/amqp.js';
import { JOB_MESSAGE } from '../broker/messages.js';
import { announceTenant, tenantJobsQueueSpec } from '../broker/tenant-queues.js';
import { entryFor } from './entries.js';

/**
 * Hands a detached job whose input is stored to its pool: writes its
 * manifest, a `queued` status record and its index entry, then puts its
 * message on the pool's jobs queue (confirmed). `manifest.detached` must be
 * set. `beforePublish` runs between the records and the message (a
 * pipeline's stage checks for a cancel there). A job that names a tenant
 * goes to its tenant's jobs queue (broker/tenant-queues.ts).
 *
 * The job's results queue is declared beside the records, so the
 * coordinator that takes the job finds it there: creating a durable queue
 * takes RabbitMQ 4-10 ms, a tenth of a pipeline's stage transition when the
 * coordinator did it. Whoever ends the job deletes it (unused, it expires a
 * day after it was last declared).
 */
export async function queueJob(
  store: PayloadStore,
  conn: ChannelModel,
  jobId: string,
  manifest: Manifest,
  signer: Signer | undefined,
  beforePublish?: () => Promise<void>,
): Promise<void> {
  await Promise.all([
    writeManifest(store, jobId, manifest, signer),
    writeFreshStatus(store, jobId, manifest, signer, 'queued', { updated: manifest.created }),
    jobPublisher(conn).then((p) => assertResultsQueue(p.channel, jobId, queueTypeOf(manifest))),
  ]);
  await beforePublish?.();
  await publishJob(conn, manifest.queue, jobId, signer, jobTarget(store, manifest));
}

/**
 * Per connection, one confirm channel for job messages, opened on first use
 * and kept while it is open: a worker taking a pipeline from stage to stage
 * publishes a job message at each, and opening a channel for each was a
 * tenth of a stage transition. A channel that closes (a refused declare, the
 * connection gone) is forgotten, and the next message opens another.
 */
const jobChannels = new WeakMap<ChannelModel, Promise<Publisher>>();

function jobPublisher(conn: ChannelModel): Promise<Publisher> {
  let open = jobChannels.get(conn);
  if (!open) {
    const opening = conn.createConfirmChannel().then((ch) => {
      ch.on('error', () => {});
      ch.on('close', () => {
        if (jobChannels.get(conn) === opening) jobChannels.delete(conn);
      });
      return new Publisher(ch);
    });
    opening.catch(() => jobChannels.delete(conn));
    jobChannels.set(conn, (open = opening));
  }
  return open;
}

/** The queue type a job's records name for its pool (records older than queue types: classic). */
export function queueTypeOf(manifest: Pick<Manifest, 'options'>): QueueType {
  return manifest.options.queueType === 'quorum' ? 'quorum' : 'classic';
}

/** Which of a pool's jobs queues a job's message goes to. */
export interface JobTarget {
  /** The pool's queue type. Default: classic. */
  type?: QueueType;
  /** The job's tenant: its message goes to the tenant's jobs queue, and the tenant is announced in `store`. Default: none (the pool's jobs queue). */
  tenant?: { name: string; store: PayloadStore };
}

/** The jobs queue a job's records say its message goes to: its pool's type, and its tenant's queue when it names one. */
export function jobTarget(store: PayloadStore, manifest: Pick<Manifest, 'options'>): JobTarget {
  const name = manifest.options.tenant;
  return { type: queueTypeOf(manifest), ...(name === undefined ? {} : { tenant: { name, store } }) };
}

/**
 * Puts job `jobId`'s message on a jobs queue of pool `queue` (declared
 * first): the pool's, or its tenant's (`target`, announced to the pool's
 * workers first); signed with a key; waits for the broker's confirm.
 */
export async function publishJob(
  conn: ChannelModel,
  queue: string,
  jobId: string,
  signer: Signer | undefined,
  target: JobTarget = {},
): Promise<void> {
  const { type = 'classic', tenant } = target;
  const publisher = await jobPublisher(conn);
  // Declared every time: a jobs queue deleted meanwhile would drop the message unseen.
  const spec = tenant ? tenantJobsQueueSpec(queue, tenant.name, type) : jobsQueueSpec(queue, type);
  await Promise.all([
    declareQueue(publisher.channel, spec),
    tenant && announceTenant(tenant.store, queue, tenant.name),
  ]);
  const headers = signer ? { [SIGNATURE_HEADER]: signer.sign('job', jobId) } : {};
  const { confirmed } = await publisher.send(spec.name, Buffer.from(JSON.stringify({ job: jobId })), {
    messageId: jobId,
    type: JOB_MESSAGE,
    headers,
  });
  await confirmed;
}

/**
 * Hands a delayed job that is due to its pool (detached/delay.ts): when
 * `fresh` (it is still `scheduled`), its status and index entry become
 * `queued` (kept from now on, not from when it was submitted); its results
 * queue is declared and its message published (confirmed).
 */
export async function releaseHeldJob(
  store: PayloadStore,
  conn: ChannelModel,
  jobId: string,
  manifest: Manifest,
  signer: Signer | undefined,
  fresh: boolean,
): Promise<void> {
  await Promise.all([
    fresh ? writeFreshStatus(store, jobId, manifest, signer, 'queued') : undefined,
    jobPublisher(conn).then((p) => assertResultsQueue(p.channel, jobId, queueTypeOf(manifest))),
  ]);
  await publishJob(conn, manifest.queue, jobId, signer, jobTarget(store, manifest));
}

/**
 * A detached job's status record and index entry before any coordinator
 * writes them: `scheduled` (a delayed job, held until `manifest.detached.due`),
 * `queued` (no item seen), or `running` for a pipeline at a stage
 * (`extra.stage`); figures zero.
 */
export async function writeFreshStatus(
  store: PayloadStore,
  jobId: string,
  manifest: Manifest,
  signer: Signer | undefined,
  state: 'scheduled' | 'queued' | 'running',
  extra: Partial<JobStatus> = {},
): Promise<void> {
  const d = manifest.detached!;
  const status: JobStatus = {
    state,
    task: manifest.task.name,
    total: null,
    done: 0,
    failed: 0,
    retried: 0,
    inFlightMessages: 0,
    coordinator: '',
    updated: new Date().toISOString(),
    ...extra,
  };
  await Promise.all([
    store.setMeta(jobId, 'status', sealRecord(signer, 'status', jobId, JSON.stringify(status))),
    store.indexJob(entryFor(jobId, manifest.task.name, d, state, indexedFrom(state, d))),
  ]);
}

/**
 * When a fresh index entry's retention counts from: a held job's, from its due time (so it outlives its
 * wait); a queued job's, from its submission, or from now once released; a running stage's, from now.
 */
function indexedFrom(
  state: 'scheduled' | 'queued' | 'running',
  d: NonNullable<Manifest['detached']>,
): number | undefined {
  if (state === 'scheduled') return d.due;
  return state === 'queued' && d.due === undefined ? d.submitted : undefined;
}
