/**
 * Poison jobs: a detached job whose coordination kills its worker (out of
 * memory in `setup` or `join`, a native crash) would otherwise go from
 * worker to worker, killing each: its message is unacknowledged while it
 * runs, so the broker hands it to the next one. Items have their own
 * counting (crash-count.ts); this is the job's.
 *
 * Each start of a job's coordination in a worker is counted in a store
 * record of the job (`takeovers`, signed when the pool signs), naming the
 * worker; a coordination that stops cleanly (the job ended, the worker shut
 * down, the broker or store lost, another coordinator attached) takes its
 * count back. What is left counted is coordinators that died holding the
 * job; once there are {@link MAX_JOB_DEATHS}, the next worker to take the
 * job fails it instead, naming the count and the last worker.
 */
import { openRecord, sealRecord, type Signer } from '../core/signing.js';
import type { PayloadStore } from '../store/store.js';

/** Coordinators that may die holding a job before the next one fails it instead of taking it. */
export const MAX_JOB_DEATHS = 3;

const RECORD = 'takeovers';

/** What the record keeps: coordinations started and not stopped cleanly, and the last worker that started one. */
interface Takeovers {
  deaths: number;
  last: string;
}

async function read(store: PayloadStore, jobId: string, signer: Signer | undefined): Promise<Takeovers> {
  const raw = await store.getMeta(jobId, RECORD);
  if (!raw || raw.length === 0) return { deaths: 0, last: '' };
  try {
    const t = JSON.parse(openRecord(signer, RECORD, jobId, raw)) as Partial<Takeovers>;
    const deaths = Number.isSafeInteger(t.deaths) && t.deaths! >= 0 ? t.deaths! : 0;
    return { deaths, last: typeof t.last === 'string' ? t.last.slice(0, 300) : '' };
  } catch {
    // Not signed with the pool's key, or not ours: counted as nothing (a store writer could delete it as well; raising it must take the key).
    return { deaths: 0, last: '' };
  }
}

async function write(store: PayloadStore, jobId: string, t: Takeovers, signer: Signer | undefined): Promise<void> {
  await store.setMeta(jobId, RECORD, sealRecord(signer, RECORD, jobId, JSON.stringify(t)));
}

/**
 * Counts a start of job `jobId`'s coordination by worker `by`. Resolves to
 * why to fail the job instead (nothing is counted then) once
 * {@link MAX_JOB_DEATHS} coordinators died holding it, else to undefined and
 * a function that takes the count back (call it when the coordination stops
 * cleanly).
 */
export async function countTakeover(
  store: PayloadStore,
  jobId: string,
  by: string,
  signer: Signer | undefined,
): Promise<{ poisoned: string } | { release: () => Promise<void> }> {
  const before = await read(store, jobId, signer);
  if (before.deaths >= MAX_JOB_DEATHS)
    return {
      poisoned: `its coordinator died ${before.deaths} times while coordinating it (last on worker ${before.last || 'unknown'}): a job whose coordination kills its worker (out of memory, a crash in setup or join) is not taken again after ${MAX_JOB_DEATHS} deaths; see that worker's log, fix the task or its input, and submit it again`,
    };
  await write(store, jobId, { deaths: before.deaths + 1, last: by }, signer);
  return {
    release: async () => {
      const now = await read(store, jobId, signer);
      await write(store, jobId, { deaths: Math.max(0, now.deaths - 1), last: now.last }, signer);
    },
  };
}
