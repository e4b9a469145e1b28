/** `fj worker`: argv options -> startWorker() (queue and broker URL checked first); warm shutdown on SIGTERM/SIGINT. */
import type { LogLevel } from '../log.js';
import { DEFAULT_BROKER } from '../options.js';
import { checkBrokerUrl, checkQueueName } from '../address.js';
import { DEFAULT_QUEUE } from '../transport/amqp.js';
import { startWorker, type WorkerOptions } from '../worker/process.js';

/** Options of `fj worker`, as commander parses them: the worker's options plus the log switches. */
export type WorkerFlags = Omit<WorkerOptions, 'logLevel' | 'shutdownTimeoutMs'> & { verbose?: boolean; quiet?: boolean; shutdownTimeout?: number };

export async function workerCommand(flags: WorkerFlags): Promise<void> {
  const logLevel: LogLevel = flags.verbose ? 'debug' : flags.quiet ? 'warn' : 'info';
  const { shutdownTimeout, verbose: _, quiet: __, ...options } = flags;
  const shutdownTimeoutMs = shutdownTimeout === undefined ? undefined : Math.max(1, Math.round(shutdownTimeout * 1000));
  // Checked before anything connects: a bad name must not leave queues (or a retrying loop) behind.
  const queue = checkQueueName(options.queue ?? process.env.FJ_QUEUE ?? DEFAULT_QUEUE, options.queue === undefined ? '$FJ_QUEUE' : '--queue');
  const broker = checkBrokerUrl(options.broker ?? process.env.FJ_BROKER_URL ?? DEFAULT_BROKER, options.broker === undefined ? '$FJ_BROKER_URL' : '--broker');
  const worker = await startWorker({ ...options, queue, broker, logLevel, shutdownTimeoutMs });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      process.stderr.write(`fj worker: second ${signal}: exiting now; unacked messages return to the queue\n`);
      process.exit(130);
    }
    void worker.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  await worker.stopped;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  // stopped without stop(): the connection was lost.
  if (signals === 0) process.exitCode = 3;
}
