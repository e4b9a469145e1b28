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
import type { RunOptions } from '../../src/index.js';

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
