/**
 * The executors the conformance suite (executors.test.ts) runs against. Every
 * executor must give the same output, the same errors and the same item
 * order for the same task and input; only where `process` runs differs.
 *
 * To add an executor, append a case. `options()` is called once per job, so a
 * case can give every job its own queue or job id; `start`/`stop` bring up and
 * tear down what the executor needs for the whole suite, e.g. for amqp:
 *
 * ```ts
 * {
 *   name: 'amqp',
 *   sameThread: false,
 *   start: async () => { ...spawn `fj worker` processes on a unique queue... },
 *   stop: async () => { ...stop them, delete the queue... },
 *   options: () => ({ executor: 'amqp', broker: BROKER, queue: QUEUE, jobId: `conf-${randomUUID()}` }),
 * }
 * ```
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RunOptions } from '../../src/index.js';
import {
  BROKER_URL,
  brokerAvailable,
  deleteQueues,
  startWorkerProc,
  stopWorkerProc,
  type WorkerProc,
} from '../helpers/broker.js';

export interface ExecutorCase {
  /** Names the describe block: `'eager'`, `'local'`, ... */
  readonly name: string;
  /**
   * True when hooks run in the test's own thread: a hook's error is then the
   * very object thrown, not one rebuilt from the wire.
   */
  readonly sameThread: boolean;
  /** The executor's options for one job (`executor` included). */
  options(): RunOptions | Promise<RunOptions>;
  /** Runs once before the executor's tests. */
  start?(): Promise<void>;
  /** Runs once after them, even when they fail. */
  stop?(): Promise<void>;
}

export const executorCases: ExecutorCase[] = [
  { name: 'eager', sameThread: true, options: () => ({ executor: 'eager' }) },
  // Two threads: enough for items to finish out of order, and fits a 2-core machine.
  { name: 'local', sameThread: false, options: () => ({ executor: 'local', concurrency: 2 }) },
];

/** amqp: two `fj worker` processes serving every fixture task, on a queue of their own. */
function amqpCase(): ExecutorCase {
  const queue = `fj.conformance.${randomUUID()}`;
  const fixtures = join(import.meta.dirname, '..', 'fixtures');
  const modules = readdirSync(fixtures)
    .filter((f) => f.endsWith('.ts') && f !== 'services.ts')
    .map((f) => join(fixtures, f));
  // A store of the case's own (job data, the workers' heartbeat beacons), removed at the end.
  let dir = '';
  let store = '';
  let workers: WorkerProc[] = [];
  return {
    name: 'amqp',
    sameThread: false,
    async start() {
      dir = mkdtempSync(join(tmpdir(), 'fj-conformance-'));
      store = pathToFileURL(join(dir, 'store')).href;
      workers = await Promise.all(
        [1, 2].map(() =>
          startWorkerProc(['--queue', queue, '--store', store, '--concurrency', '1', '--tasks', ...modules]),
        ),
      );
    },
    async stop() {
      await Promise.all(workers.map(stopWorkerProc));
      await deleteQueues(queue);
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
    options: () => ({ executor: 'amqp', broker: BROKER_URL, queue, store }),
  };
}

// Under CI the broker must answer (brokerAvailable throws otherwise); elsewhere the amqp case is skipped with a warning.
if (await brokerAvailable()) executorCases.push(amqpCase());
