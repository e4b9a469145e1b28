/**
 * A cancel and who asked for it: `fj cancel`, the dashboard (its Cancel
 * button or `POST /api/jobs/:id/cancel`), or a program through the API's
 * `cancel()`. The source travels with the cancel (in the record left for a
 * job not attached yet, and in the message to its coordinator), and the
 * job's error says it: "cancelled from the dashboard".
 *
 * A source is data from the store or the broker: only one of
 * {@link CANCEL_SOURCES} is believed, anything else reads as unknown ("job X
 * cancelled"), and with a signing key it is covered by the record's or the
 * message's signature, so no stranger can put words in it.
 */
import { openRecord, sealRecord, type Signer } from '../core/signing.js';
import type { PayloadStore } from './store.js';

/** Who can cancel a job (see the module comment). */
export const CANCEL_SOURCES = ['cli', 'dashboard', 'api'] as const;

/** Who cancelled a job: `cli` (`fj cancel`), `dashboard`, or `api` (a program's `cancel()`). */
export type CancelSource = (typeof CANCEL_SOURCES)[number];

/** Whether `v` (read from a record or a message) is a {@link CancelSource}. */
export function isCancelSource(v: unknown): v is CancelSource {
  return typeof v === 'string' && (CANCEL_SOURCES as readonly string[]).includes(v);
}

const SAID: Record<CancelSource, string> = {
  cli: "by 'fj cancel'",
  dashboard: 'from the dashboard',
  api: 'through the API',
};

/**
 * The error of a job cancelled by `by`: `job X cancelled by 'fj cancel'`,
 * `… from the dashboard`, `… through the API`, or `job X cancelled` when
 * the source is unknown (a cancel from an fj before sources were kept);
 * `before it started` appended for a cancel its coordinator found on
 * attaching.
 */
export function cancelledMessage(jobId: string, by: CancelSource | undefined, beforeStart = false): string {
  return `job ${jobId} cancelled${by ? ` ${SAID[by]}` : ''}${beforeStart ? ' before it started' : ''}`;
}

/** Who a job's end names as having written it when a cancel ends it with no coordinator (`fj cancel on HOST`). */
export function cancelActor(by: CancelSource): string {
  return by === 'cli' ? 'fj cancel' : by === 'dashboard' ? 'the dashboard' : 'cancel()';
}

/** The record a cancel leaves for a job not attached yet: its coordinator stops before publishing anything. */
export const CANCEL_RECORD = 'cancel';

/** What a cancel record says (JSON, signed with the record when there is a signer). */
interface CancelRecordText {
  at: string;
  by: CancelSource;
}

/** Leaves a cancel record for job `jobId`, naming who cancelled it. */
export async function writeCancel(
  store: PayloadStore,
  jobId: string,
  by: CancelSource,
  signer: Signer | undefined,
): Promise<void> {
  const text: CancelRecordText = { at: new Date().toISOString(), by };
  await store.setMeta(jobId, CANCEL_RECORD, sealRecord(signer, CANCEL_RECORD, jobId, JSON.stringify(text)));
}

/**
 * The cancel left for job `jobId`, if any: `{ by }`, `by` undefined when the
 * record names no source fj knows (an older fj's record is a bare date).
 * Undefined when there is none, or, with a signer, when it is not signed
 * with the key (such a record does not count).
 */
export async function readCancel(
  store: PayloadStore,
  jobId: string,
  signer?: Signer,
): Promise<{ by: CancelSource | undefined } | undefined> {
  const raw = await store.getMeta(jobId, CANCEL_RECORD);
  if (!raw) return undefined;
  let text: string;
  try {
    text = openRecord(signer, CANCEL_RECORD, jobId, raw);
  } catch {
    return undefined;
  }
  let by: unknown;
  try {
    by = (JSON.parse(text) as Partial<CancelRecordText> | null)?.by;
  } catch {
    by = undefined; // a bare date
  }
  return { by: isCancelSource(by) ? by : undefined };
}

/** Whether a cancel was left for the job before it attached (see {@link readCancel}). */
export async function cancelRecorded(store: PayloadStore, jobId: string, signer?: Signer): Promise<boolean> {
  return (await readCancel(store, jobId, signer)) !== undefined;
}
