/**
 * Declines of a job message: a worker that cannot coordinate a detached job
 * (it lacks the task, or runs other code for it) passes the message on with
 * its decline added in the {@link DECLINED} header; once every worker of the
 * pool has declined, the job fails. The header travels through the broker,
 * where anyone who can publish can write it, so a decline counts only when:
 *
 * - it names a live worker of the pool (a heartbeat in the store, sent within
 *   three heartbeats) whose heartbeat says it does not run the job's task
 *   with the job's code: a decline in the name of a ghost, or of a worker
 *   that serves the task, is ignored;
 * - with a signing key, it carries the decliner's signature over the job id,
 *   its name and its reason: a broker user without the key cannot decline in
 *   a live worker's name either.
 *
 * A decline that does not count is dropped from the header the message is
 * passed on with, so it cannot ride along.
 */
import { isQuiet, readBeacons } from '../broker/beacon.js';
import type { Signer } from '../core/signing.js';
import type { PayloadStore } from '../store/store.js';

/** Header of a job message: the declines so far, an array of `{by, why, sig}` tables. */
export const DECLINED = 'fj-declined-by';
/** Most declines read from one message (a pool has fewer workers). */
const MAX_DECLINES = 256;
/** Longest worker name or reason read from a decline. */
const MAX_TEXT = 300;

/** A name read from a header, fit for a log line: at most 60 characters, control characters shown as `?`. */
export function shownName(name: string): string {
  return name.slice(0, 60).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
}

/** One worker's decline: who, why, and (with a key) its signature. */
export interface Decline {
  by: string;
  why: string;
  sig?: string;
}

/** The decline of worker `by` for `why`, signed when there is a signer. */
export function makeDecline(signer: Signer | undefined, jobId: string, by: string, why: string): Decline {
  return signer ? { by, why, sig: signer.sign('decline', jobId, by, why) } : { by, why };
}

/**
 * The well-formed declines of a header value (tables of strings, bounded;
 * with a signer, only those signed with its key), the last of each worker;
 * and the names in the others (`dropped`, for the log). Anything else is
 * left out: the header is data anyone could have written.
 */
export function readDeclines(
  header: unknown,
  jobId: string,
  signer: Signer | undefined,
): { declines: Map<string, Decline>; dropped: string[] } {
  const declines = new Map<string, Decline>();
  const dropped: string[] = [];
  if (!Array.isArray(header)) return { declines, dropped };
  for (const d of header.slice(0, MAX_DECLINES) as unknown[]) {
    const named = typeof d === 'string' ? d.split(' ')[0] : undefined;
    if (d === null || typeof d !== 'object') {
      dropped.push(named ? shownName(named) : '?');
      continue;
    }
    const { by, why, sig } = d as Record<string, unknown>;
    const ok =
      typeof by === 'string' &&
      typeof why === 'string' &&
      by.length <= MAX_TEXT &&
      why.length <= MAX_TEXT &&
      (!signer || signer.verify(sig, 'decline', jobId, by, why));
    if (!ok) {
      dropped.push(typeof by === 'string' ? shownName(by) : '?');
      continue;
    }
    declines.set(by, typeof sig === 'string' ? { by, why, sig } : { by, why });
  }
  return { declines, dropped };
}

/**
 * The live workers of `pool` (heartbeat sent within three heartbeats of
 * now, either way): `decliners`, the names of those whose heartbeat says
 * they do not run task `task` with code `codeHash` (the only workers whose
 * decline counts), and `coordinators`, how many coordinate jobs at all
 * (`maxJobs` above 0: whether or not they have room now; a worker with
 * every slot taken does not consume the jobs queue, so the queue's
 * consumers undercount them).
 */
export async function liveDecliners(
  store: PayloadStore,
  pool: string,
  task: string,
  codeHash: string,
  signer: Signer | undefined,
  now = Date.now(),
): Promise<{ decliners: Set<string>; coordinators: number }> {
  const decliners = new Set<string>();
  let coordinators = 0;
  // The one reader of heartbeats: malformed ones, and with a key unsigned ones, count for nothing.
  for (const b of (await readBeacons(store, signer, undefined, now)).beats) {
    if (b.pool !== pool || isQuiet(b, now)) continue;
    if (b.maxJobs > 0) coordinators++;
    if (b.tasks[task] === codeHash) continue; // it serves the task with the job's code
    decliners.add(b.name);
  }
  return { decliners, coordinators };
}
