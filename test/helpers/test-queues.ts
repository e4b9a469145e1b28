/**
 * The RabbitMQ queues a test run leaves behind, and their removal.
 *
 * A test's pool declares more queues than the test names: its jobs queue
 * (durable, never expiring: it is the pool's), a code queue per task its
 * workers serve (a week), a held queue per worker (15 minutes) and a
 * scheduler queue (an hour). Test files delete their work and dead-letter
 * queues; the rest would pile up on the broker, run after run (about 600 per
 * full run). So global setup lists the broker's queues before the run, and
 * its teardown deletes the queues that appeared during the run, are named
 * like a test's ({@link TEST_QUEUE_PREFIXES}) and have no consumer.
 *
 * Nothing else is touched: a queue that was there before the run, a job's
 * results queue (`fj.results.<job>`: it may be a live job's) and a queue
 * someone still consumes (reported: a worker a test did not stop) stay.
 * Listing needs `rabbitmqctl` and a broker on this host; without them the
 * cleanup says why and does nothing (the queues expire or stay, as before).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { BROKER_URL, rabbitmqctlPath } from './broker.js';
import { tcpAnswers } from './services.js';

/** How test files name their pools: every queue a test's pool declares starts with one of these. */
export const TEST_QUEUE_PREFIXES = [
  'fj.test.',
  'fj.reliability.',
  'fj.trust.',
  'fj.qtype.',
  'fj.transports.',
  'fj.conformance.',
  'fj.jobmsg.',
  'fj.signing.',
];

/**
 * The broker's queues and how many consumers each has, or why they cannot be
 * listed (no rabbitmqctl, a broker on another host, rabbitmqctl failing).
 */
export async function listQueues(): Promise<Map<string, number> | string> {
  const { hostname: host, port } = new URL(BROKER_URL);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) return `the broker is on ${host}, not this host`;
  const ctl = rabbitmqctlPath();
  if (!ctl) return 'rabbitmqctl is not installed';
  if (!(await tcpAnswers(host.replace(/^\[|\]$/g, ''), Number(port || 5672)))) return 'no broker answers';
  try {
    const { stdout } = await promisify(execFile)(
      ctl,
      ['-q', '-t', '20', 'list_queues', '--no-table-headers', 'name', 'consumers'],
      { timeout: 30_000 },
    );
    const queues = new Map<string, number>();
    for (const line of stdout.split('\n')) {
      const [name, consumers] = line.split('\t');
      if (name && consumers !== undefined) queues.set(name, Number(consumers));
    }
    return queues;
  } catch (err) {
    return `rabbitmqctl list_queues failed: ${(err as Error).message.split('\n')[0]}`;
  }
}

/** The queues to delete: new since `before`, named like a test's, with no consumer; and the new ones still consumed. */
export function leftBehind(
  before: ReadonlyMap<string, number>,
  after: ReadonlyMap<string, number>,
): { idle: string[]; consumed: string[] } {
  const idle: string[] = [];
  const consumed: string[] = [];
  for (const [name, consumers] of after) {
    if (before.has(name) || !TEST_QUEUE_PREFIXES.some((p) => name.startsWith(p))) continue;
    (consumers === 0 ? idle : consumed).push(name);
  }
  return { idle, consumed };
}

/**
 * Deletes what the run left behind since `before` was listed; returns a line
 * saying what it did (or why it did nothing).
 */
export async function deleteLeftBehind(before: Map<string, number> | string): Promise<string> {
  if (typeof before === 'string') return `test queues not cleaned up: ${before}`;
  const after = await listQueues();
  if (typeof after === 'string') return `test queues not cleaned up: ${after}`;
  const { idle, consumed } = leftBehind(before, after);
  let deleted = 0;
  if (idle.length > 0) {
    const conn = await amqp.connect(BROKER_URL);
    try {
      for (const name of idle) {
        const ch = await conn.createChannel();
        ch.on('error', () => {}); // a queue gone meanwhile closes only its channel
        if (
          await ch.deleteQueue(name).then(
            () => true,
            () => false,
          )
        )
          deleted++;
        await ch.close().catch(() => {});
      }
    } finally {
      await conn.close().catch(() => {});
    }
  }
  const still = consumed.length
    ? `; ${consumed.length} still consumed (a worker not stopped?): ${consumed.slice(0, 5).join(', ')}`
    : '';
  return `deleted ${deleted} queue(s) the tests left behind${still}`;
}
