/**
 * Queue types (classic, quorum) on the wire: the arguments a quorum queue of
 * a pool is declared with (its delivery limit and at-least-once
 * dead-lettering, fitted to fj's own retry rules), and the broker's refusal
 * of a declaration that differs from the queue it has, turned into a usage
 * error naming the queue and both types.
 */
import type { Options } from 'amqplib';
import { UsageError } from '../core/errors.js';
import type { QueueType } from '../core/location.js';

/** A 406 "inequivalent arg" refusal of `spec`'s declaration, as a UsageError saying what differs; else undefined. */
export function inequivalent(err: unknown, spec: { options?: Options.AssertQueue }): UsageError | undefined {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  if (e?.code !== 406 || typeof e.message !== 'string') return undefined;
  const m =
    /inequivalent arg '([^']+)' for queue '([^']*)'.*?received (?:the value )?'?([^' ]*)'?.*?but current is (?:the value )?'?([^' ]*)'?/.exec(
      e.message,
    );
  if (!m) return undefined;
  const [, arg, queue] = m;
  if (arg === 'x-queue-type') {
    const asked = queueTypeOfArgs(spec.options?.arguments);
    const current = asked === 'quorum' ? 'classic' : 'quorum';
    return new UsageError(
      `queue '${queue}' exists on the broker as a ${current} queue, and this client declares it as a ${asked} queue ` +
        `(--queue-type, $FJ_QUEUE_TYPE or the queueType option): every client of a pool must use the pool's queue type. ` +
        `Use --queue-type ${current}, or, to change the pool's type, stop its clients and delete its queues once they are empty`,
      { cause: err },
    );
  }
  return new UsageError(
    `queue '${queue}' exists on the broker with another '${arg}' than this fj declares (${e.message.replace(/^.*PRECONDITION_FAILED - /, '')}): ` +
      'it was declared by another version of fj, or by hand. Delete it once it is empty, or declare it as it is',
    { cause: err },
  );
}

function queueTypeOfArgs(args: unknown): QueueType {
  return (args as Record<string, unknown> | undefined)?.['x-queue-type'] === 'quorum' ? 'quorum' : 'classic';
}

/**
 * Redeliveries after which a quorum work or code queue dead-letters a
 * message to the pool's dead-letter queue (RabbitMQ's `x-delivery-limit`).
 * fj's own rule fails an item started 3 times without an answer
 * (`MAX_CRASHES`, src/worker/crash-count.ts); a message of many items may come back once
 * per suspect item and once per lost connection, so the broker's limit sits
 * far above that: it only stops a message that fj itself cannot stop, and
 * what it stops is dead-lettered at least once (`fj dead` shows it), never
 * dropped.
 */
export const WORK_DELIVERY_LIMIT = 50;

/**
 * The jobs queue's delivery limit: a detached job's message stays
 * unacknowledged while its coordinator runs it, and RabbitMQ puts it back
 * after each consumer_timeout or lost connection; a limit must never drop
 * or dead-letter a job that merely runs long (RabbitMQ 4 sets 20 by
 * default), so it is set out of reach (a redelivery every 5 s for 58 days).
 */
export const JOBS_DELIVERY_LIMIT = 1_000_000;

/**
 * The arguments a queue of type `type` adds: none for classic; for quorum
 * its type, and with `deadLetterTo` a delivery limit dead-lettering at
 * least once (RabbitMQ keeps the message until the dead-letter queue has
 * confirmed it, which needs `x-overflow: reject-publish`).
 */
export function queueTypeArgs(type: QueueType, deadLetterTo?: string, deliveryLimit = WORK_DELIVERY_LIMIT) {
  if (type === 'classic') return {};
  return {
    'x-queue-type': 'quorum',
    ...(deadLetterTo === undefined
      ? {}
      : {
          'x-delivery-limit': deliveryLimit,
          'x-dead-letter-strategy': 'at-least-once',
          'x-overflow': 'reject-publish',
        }),
  };
}

/**
 * The prefetch of a coordinator's consumer on a quorum results queue. A
 * coordinator holds every result unacknowledged until its job ends (they are
 * the job's durable record), and asks for no prefetch limit on a classic
 * queue; a quorum queue reads "no limit" as 2,000 deliveries (RabbitMQ
 * 3.10), after which a job of more result messages would wait forever. This
 * is the most AMQP allows (a 16-bit count): a job on a quorum pool can hold
 * this many result messages, and fails with a LimitError past it.
 */
export const QUORUM_RESULTS_PREFETCH = 65_535;
