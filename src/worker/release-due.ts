/**
 * The scheduler's release of delayed jobs that are due (detached/delay.ts
 * holds them): each one's status becomes `queued` and its message goes on
 * its pool's jobs queue. A delayed pipeline's first stage is such a job:
 * once it is released, the pipeline shows it running.
 */
import type { ChannelModel } from 'amqplib';
import type { Signer } from '../core/signing.js';
import { readManifest, readOutcome, readStatus } from '../store/job-records.js';
import type { PayloadStore } from '../store/store.js';
import type { Logger } from '../task/types.js';
import { LATE_MS, type DueNote } from '../detached/delay.js';
import { releaseHeldJob } from '../detached/queue-job.js';
import { setPipelineStatus } from '../pipeline/stage-jobs.js';

/** What the scheduler needs to release held jobs. */
export interface ReleaseParts {
  store: PayloadStore;
  conn: ChannelModel;
  signer: Signer | undefined;
  /** The pool whose jobs are released: others are left to their own pool's scheduler. */
  queue: string;
  log: Logger;
  now?: number;
}

/**
 * Releases the held jobs of `queue` that are due: each one's status becomes
 * `queued` and its message goes on the pool's jobs queue; a job that ended
 * meanwhile (cancelled) is dropped. Its `due` beacon goes last, so a
 * scheduler that dies half way leaves it for the next one (which may send
 * its message twice: the job consumer runs a job once whatever the number
 * of its messages). Resolves to the ids released.
 */
export async function releaseDue(p: ReleaseParts): Promise<string[]> {
  const now = p.now ?? Date.now();
  const released: string[] = [];
  for (const { name: jobId, text } of await p.store.listBeacons('due')) {
    const note = readNote(text);
    if (!note || note.queue !== p.queue || note.due > now) continue;
    try {
      if (await releaseOne(p, jobId, now)) released.push(jobId);
      await p.store.putBeacon('due', jobId, '', 1); // gone at once: a beacon has no delete
    } catch (err) {
      p.log.warn(`delayed job ${jobId}: not released yet (tried again shortly): ${(err as Error).message}`);
    }
  }
  return released;
}

async function releaseOne(p: ReleaseParts, jobId: string, now: number): Promise<boolean> {
  const { store, signer, log } = p;
  // The signed manifest decides, not the beacon (which is not signed): when it is due, and on which pool.
  const manifest = await readManifest(store, jobId, signer).catch(() => undefined);
  const due = manifest?.detached?.due;
  if (!manifest || due === undefined) return false;
  if (due > now || manifest.queue !== p.queue) return false;
  if (await readOutcome(store, jobId, signer)) return false; // cancelled (or ended) while held
  const status = await readStatus(store, jobId, signer).catch(() => undefined);
  // Still `scheduled`: this is the first release (a later one, after a scheduler died half way, only sends the message again).
  const fresh = status?.state === 'scheduled';
  await releaseHeldJob(store, p.conn, jobId, manifest, signer, fresh);
  if (fresh && manifest.pipeline?.stage === 1) await pipelineStarted(store, manifest.pipeline.id, signer);
  const late = now - due;
  if (late >= LATE_MS)
    log.warn(
      `delayed job ${jobId} released ${(late / 1000).toFixed(1)} s late (due ${new Date(due).toISOString()}: no worker of pool ${p.queue} was up to release it then)`,
    );
  else log.info(`delayed job ${jobId} released (due ${new Date(due).toISOString()})`);
  return true;
}

/** A delayed pipeline's first stage was released: the pipeline is `running` at it (unless it ended meanwhile: cancelled). */
async function pipelineStarted(store: PayloadStore, id: string, signer: Signer | undefined): Promise<void> {
  const [own, over] = await Promise.all([
    readManifest(store, id, signer).catch(() => undefined),
    readOutcome(store, id, signer),
  ]);
  const first = own?.plan?.stages[0];
  if (!own || !first || over) return;
  await setPipelineStatus(store, id, own, signer, `1/${own.plan!.stages.length} ${first.name}`);
}

function readNote(text: string): DueNote | undefined {
  try {
    const n = JSON.parse(text) as Partial<DueNote>;
    return typeof n.queue === 'string' && typeof n.due === 'number' ? (n as DueNote) : undefined;
  } catch {
    return undefined;
  }
}
