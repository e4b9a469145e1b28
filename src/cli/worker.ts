/** `fj worker`: argv options -> startWorker() (queue and broker URL checked first); warm shutdown on SIGTERM/SIGINT. */
import type { LogLevel } from '../core/log.js';
import { DEFAULT_QUEUE, locate, originName } from '../core/location.js';
import { checkBrokerUrl, checkQueueName } from '../core/address.js';
import { startWorker, type WorkerHandle, type WorkerOptions } from '../worker/start-worker.js';
import { DEFAULT_SHUTDOWN_TIMEOUT_MS } from '../worker/worker-options.js';

/** How long `fj worker` waits for a broker that does not answer at start, unless `--wait-broker` or `--no-wait-broker` says otherwise. */
export const DEFAULT_WAIT_BROKER_SECONDS = 300;

/**
 * How long past `--shutdown-timeout` a stopping worker may take to close its
 * connections and store before it exits anyway (a broker that stopped
 * answering never confirms a close).
 */
export const SHUTDOWN_GRACE_MS = 5000;

/** Options of `fj worker`, as commander parses them: the worker's options plus the log switches. */
export type WorkerFlags = Omit<WorkerOptions, 'logLevel' | 'shutdownTimeoutMs' | 'waitForBrokerMs' | 'signal'> & {
  verbose?: boolean;
  quiet?: boolean;
  shutdownTimeout?: number;
  /** Seconds to keep trying to reach the broker at start; false (`--no-wait-broker`): fail at once. */
  waitBroker?: number | false;
  /** false (`--no-coordinate`): coordinate no detached jobs. */
  coordinate?: boolean;
  /** `--tenant-cap`s, gathered: `tenantCaps`. */
  tenantCap?: Record<string, number>;
  /** `--tenant-weight`s, gathered: `tenantWeights`. */
  tenantWeight?: Record<string, number>;
};

export async function workerCommand(flags: WorkerFlags): Promise<void> {
  const logLevel: LogLevel = flags.verbose ? 'debug' : flags.quiet ? 'warn' : 'info';
  const {
    shutdownTimeout,
    waitBroker = DEFAULT_WAIT_BROKER_SECONDS,
    verbose: _,
    quiet: __,
    coordinate,
    tenantCap,
    tenantWeight,
    ...options
  } = flags;
  if (coordinate === false) options.maxJobs = 0;
  if (tenantCap) options.tenantCaps = tenantCap;
  if (tenantWeight) options.tenantWeights = tenantWeight;
  const shutdownTimeoutMs = shutdownTimeout === undefined ? undefined : Math.max(1, Math.round(shutdownTimeout * 1000));
  const timeoutMs = shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
  // Checked before anything connects: a bad name must not leave queues (or a retrying loop) behind.
  const where = locate(options);
  const queue = checkQueueName(where.queue ?? DEFAULT_QUEUE, originName('queue', where.from.queue));
  const broker = checkBrokerUrl(where.broker, originName('broker', where.from.broker));
  let signals = 0;
  let worker: WorkerHandle | undefined;
  // Signals are handled from the start: a worker still waiting for its broker stops on SIGTERM too.
  const waiting = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      process.stderr.write(`fj worker: second ${signal}: exiting now; unacked messages return to the queue\n`);
      process.exit(130);
    }
    // Whatever the broker does, the process ends: the stop has --shutdown-timeout, and this grace past it.
    setTimeout(() => {
      process.stderr.write(
        `fj worker: the shutdown did not end within ${(timeoutMs + SHUTDOWN_GRACE_MS) / 1000} s of ${signal} (the broker or store stopped answering): exiting now; unacked messages return to the queue\n`,
      );
      process.exit(0);
    }, timeoutMs + SHUTDOWN_GRACE_MS).unref();
    if (worker) void worker.stop();
    else waiting.abort(new Error(signal));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const waitForBrokerMs = waitBroker === false ? 0 : Math.round(waitBroker * 1000);
    try {
      worker = await startWorker({
        ...options,
        queue,
        broker,
        logLevel,
        shutdownTimeoutMs,
        waitForBrokerMs,
        signal: waiting.signal,
      });
      // A signal that came while the threads were warming (the worker was not there to stop yet) stops it now.
      if (waiting.signal.aborted) void worker.stop();
    } catch (err) {
      if (!waiting.signal.aborted) throw err;
      process.stderr.write(
        `fj worker: ${String((waiting.signal.reason as Error).message)} while waiting for the broker: stopped\n`,
      );
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
