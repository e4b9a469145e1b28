/**
 * Poison items: a message whose worker process died holding it comes back
 * redelivered. `fj worker` then runs each of its items alone, and counts the
 * item's starts in a store record per job and item, cleared when the item
 * answers; an item started {@link MAX_CRASHES} times without an answer fails
 * for good, so an item that kills its worker every time cannot take the pool
 * down forever.
 *
 * Why 3 and not 2: a death from outside (`kill -9`, the kernel's OOM killer
 * choosing the process for another's memory) that lands while an item runs
 * alone looks exactly like a death the item caused. With 2, two such
 * coincidences failed a good item: a chaos test (4 kills in 3 s on 3
 * workers, hundreds of suspect items after a killed fold batch) did so about
 * once in 20 runs. Each extra start multiplies that chance by the share of
 * time one item runs on the killed worker (a few percent there); a real
 * poison item costs one more worker restart. Sidekiq Pro's super_fetch draws
 * the same line at 3 recoveries, and also clears its count on success.
 */
import { openRecord, sealRecord, type Signer } from '../core/signing.js';
import type { PayloadStore } from '../store/store.js';

/** Starts of an isolated item whose worker process died, after which it fails for good. */
export const MAX_CRASHES = 3;

/**
 * Counts a start of an item that may have crashed a worker before (a record
 * in the store, per job and item, signed when the pool signs); returns why to
 * fail it instead once it has been started {@link MAX_CRASHES} times without
 * an answer, else this start's number (1 for the first).
 */
export async function countStart(
  store: PayloadStore,
  job: string,
  index: number,
  signer?: Signer,
): Promise<string | number> {
  const name = `crash-${index}`;
  const raw = await store.getMeta(job, name).catch(() => undefined);
  let before = 0;
  try {
    before = raw ? Number(openRecord(signer, name, job, raw)) || 0 : 0;
  } catch {
    before = MAX_CRASHES; // a record not signed with the key: someone else wrote it; do not run the suspect item on its word
  }
  if (before >= MAX_CRASHES) {
    return `was started ${before} times and never answered: its worker process died each time (or RabbitMQ took its message back, as it does when an item runs past consumer_timeout)`;
  }
  await store.setMeta(job, name, sealRecord(signer, name, job, String(before + 1))).catch(() => {});
  return before + 1;
}

/**
 * Clears the starts counted for an item once it answered: a later copy of it
 * (a duplicate delivery, a re-split message) starts from 0, so "started N
 * times and never answered" stays true.
 */
export async function clearStarts(store: PayloadStore, job: string, index: number, signer?: Signer): Promise<void> {
  const name = `crash-${index}`;
  await store.setMeta(job, name, sealRecord(signer, name, job, '0')).catch(() => {});
}
