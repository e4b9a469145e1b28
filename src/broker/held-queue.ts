/**
 * A worker's held-jobs queue: where a detached job's message waits while a
 * worker coordinates or watches the job (the coordinator's lease, see
 * worker/job-holds.ts).
 *
 * Each `fj worker` process declares one, named after the pool, the worker
 * and a random part (`<pool>.jobs.held.<worker>.<id>`), and is its only
 * consumer. A message in it is held unacknowledged by that consumer, and
 * renewed (a fresh copy published, the old one acknowledged) well inside
 * RabbitMQ's `consumer_timeout`, so no delivery outlives it. The queue's
 * message TTL is short and it dead-letters into the pool's jobs queue: when
 * the holder dies, the broker puts its deliveries back in this queue, where
 * they have outlived their TTL, and hands them on to the jobs queue, where
 * another worker takes the job over. A message is never put back into the
 * jobs queue while its holder lives, so no delivery limit counts against it.
 *
 * The queue itself goes (`x-expires`) long after its worker, once every
 * message in it has dead-lettered: a queue with no consumer keeps nothing
 * past its TTL.
 */
import { createHash } from 'node:crypto';
import type { QueueType } from '../core/location.js';
import type { QueueSpec } from './amqp.js';
import { jobsQueue } from './amqp.js';
import { JOBS_DELIVERY_LIMIT, queueTypeArgs } from './queue-type.js';

/** How long a message waits in a held queue with nobody holding it before it goes back to the jobs queue, ms. */
export const HELD_TTL_MS = 10_000;

/** A held queue with no consumer for this long is deleted by the broker (long after its TTL emptied it), ms. */
export const HELD_EXPIRES_MS = 15 * 60_000;

/** The header a held copy of a job message carries: the holder's name (for `fj dead` and the logs), never trusted. */
export const HELD_BY = 'fj-held-by';

/** The name of a worker process's held queue (`id` makes it this process's own); hashed down past RabbitMQ's 255 bytes. */
export function heldQueue(pool: string, worker: string, id: string): string {
  const name = `${jobsQueue(pool)}.held.${worker}.${id}`;
  if (Buffer.byteLength(name) <= 255) return name;
  return `fj.jobs.held.${createHash('sha256').update(`${pool}\0${worker}`).digest('hex').slice(0, 32)}.${id}`;
}

/** A held queue's declaration: dead-letters into the pool's jobs queue (at least once on a quorum pool). */
export function heldQueueSpec(name: string, pool: string, type: QueueType = 'classic'): QueueSpec {
  return {
    name,
    options: {
      durable: true,
      arguments: {
        'x-message-ttl': HELD_TTL_MS,
        'x-expires': HELD_EXPIRES_MS,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': jobsQueue(pool),
        ...queueTypeArgs(type, jobsQueue(pool), JOBS_DELIVERY_LIMIT),
      },
    },
  };
}
