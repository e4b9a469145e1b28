/** `fj worker`: argv options -> startWorker() (queue and broker URL checked first); warm shutdown on SIGTERM/SIGINT. */
import type { LogLevel } from '../log.js';
import { DEFAULT_BROKER } from '../options.js';
import { checkBrokerUrl, checkQueueName } from '../address.js';
import { DEFAULT_QUEUE } from '../transport/amqp.js';
import { startWorker, type WorkerHandle, type WorkerOptions } from '../worker/process.js';

/** How long `fj worker` waits for a broker that does not answer at start, unless `--wait-broker` or `--no-wait-broker` says otherwise. */
export const DEFAULT_WAIT_BROKER_SECONDS = 300;

/** Options of `fj worker`, as commander parses them: the worker's options plus the log switches. */
export type WorkerFlags = Omit<WorkerOptions, 'logLevel' | 'shutdownTimeoutMs' | 'waitForBrokerMs' | 'signal'> & {
  verbose?: boolean;
  quiet?: boolean;
  shutdownTimeout?: number;
  /** Seconds to keep trying to reach the broker at start; false (`--no-wait-broker`): fail at once. */
  waitBroker?: number | false;
  /** false (`--no-coordinate`): coordinate no detached jobs. */
  coordinate?: boolean;
};

export async function workerCommand(flags: WorkerFlags): Promise<void> {
  const logLevel: LogLevel = flags.verbose ? 'debug' : flags.quiet ? 'warn' : 'info';
  const { shutdownTimeout, waitBroker = DEFAULT_WAIT_BROKER_SECONDS, verbose: _, quiet: __, coordinate, ...options } = flags;
  if (coordinate === false) options.maxJobs = 0;
  const shutdownTimeoutMs = shutdownTimeout === undefined ? undefined : Math.max(1, Math.round(shutdownTimeout * 1000));
  // Checked before anything connects: a bad name must not leave queues (or a retrying loop) behind.
  const queue = checkQueueName(options.queue ?? process.env.FJ_QUEUE ?? DEFAULT_QUEUE, options.queue === undefined ? '$FJ_QUEUE' : '--queue');
  const broker = checkBrokerUrl(options.broker ?? process.env.FJ_BROKER_URL ?? DEFAULT_BROKER, options.broker === undefined ? '$FJ_BROKER_URL' : '--broker');
  let signals = 0;
  let worker: WorkerHandle | undefined;
  // Signals are handled from the start: a worker still waiting for its broker stops on SIGTERM too.
  const waiting = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      process.stderr.write(`fj worker: second ${signal}: exiting now; unacked messages return to the queue\n`);
      process.exit(130);
    }
    if (worker) void worker.stop();
    else waiting.abort(new Error(signal));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const waitForBrokerMs = waitBroker === false ? 0 : Math.round(waitBroker * 1000);
    try {
      worker = await startWorker({ ...options, queue, broker, logLevel, shutdownTimeoutMs, waitForBrokerMs, signal: waiting.signal });
    } catch (err) {
      if (!waiting.signal.aborted) throw err;
      process.stderr.write(`fj worker: ${String((waiting.signal.reason as Error).message)} while waiting for the broker: stopped\n`);
      return;
    }
    await worker.stopped;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  // stopped without stop(): the connection was lost.
  if (signals === 0) process.exitCode = 3;
}
