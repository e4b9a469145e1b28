/**
 * Job messages a worker must not act on: a signature not made with the
 * pool's key, or (a worker without a key) a job whose records are signed.
 * Such a message is dead-lettered with the reason, never run and never
 * dropped silently.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import { deadLetterQueue, deadLetterQueueSpec, declareQueue } from '../broker/amqp.js';
import { REFUSED_BY } from '../broker/dead-letters.js';
import { JOB_MESSAGE } from '../broker/messages.js';
import { isSealed, SIGNATURE_HEADER } from '../core/signing.js';
import { writeRefusal } from '../store/job-records.js';
import type { PoolParts } from './worker-options.js';
import { DECLINED } from './job-declines.js';
import { HELD_BY } from '../broker/held-queue.js';

/** What the checks need of the worker. */
export type TrustParts = Pick<PoolParts, 'name' | 'log' | 'store' | 'queue' | 'queueType' | 'signer'>;

/**
 * Why this worker must not act on a job message it cannot trust, if so: a
 * signature not made with the pool's key, or (a worker without a key) a
 * job whose records are signed. Undefined when the message is fine.
 */
export async function distrust(p: TrustParts, msg: ConsumeMessage, jobId: string): Promise<string | undefined> {
  const { signer, store } = p;
  if (signer) {
    if (signer.verify(msg.properties.headers?.[SIGNATURE_HEADER], 'job', jobId)) return undefined;
    return "not signed with the pool's signing key (it was submitted with another key, or none)";
  }
  const raw = await store.getMeta(jobId, 'manifest');
  return raw && isSealed(raw)
    ? 'the job is signed (its records are sealed with a key) and this worker has no signing key'
    : undefined;
}

/**
 * A job message this worker cannot trust goes to the pool's dead-letter
 * queue (where `fj dead` shows it with `reason`, and `fj dead requeue`
 * sends it back to the jobs queue), never dropped silently; a job of this
 * store gets a note saying so, which ends its waits (see `writeRefusal`).
 */
export async function refuseJobMessage(
  p: TrustParts,
  msg: ConsumeMessage,
  ch: Channel,
  jobId: string,
  reason: string,
): Promise<void> {
  const { queue, name, log, store } = p;
  const dead = deadLetterQueue(queue);
  await declareQueue(ch, deadLetterQueueSpec(queue, p.queueType));
  const headers = Object.fromEntries(
    Object.entries((msg.properties.headers ?? {}) as Record<string, unknown>).filter(
      ([k]) => k !== DECLINED && k !== HELD_BY,
    ),
  );
  ch.sendToQueue(dead, msg.content, {
    persistent: true,
    messageId: msg.properties.messageId as string | undefined,
    type: JOB_MESSAGE,
    headers: { ...headers, [REFUSED_BY]: `${name}: ${reason}` },
  });
  ch.ack(msg);
  // Only for a job this store knows: a forged id must not make the store write anything.
  const known = await store.getMeta(jobId, 'manifest').catch(() => undefined);
  if (known) await writeRefusal(store, jobId, { by: name, reason, pool: queue, at: Date.now() }).catch(() => {});
  log.warn(`job ${jobId}: its message is ${reason}: dead-lettered to ${dead} unrun`);
}
