/** `fj run`: argv options -> RunOptions -> startJob() (the input read while the executor starts, no copy); output JSON on stdout or --out. */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { CancelledError, UsageError } from '../core/errors.js';
import { startJob, type JobResult, type LoadedInput } from '../job/lifecycle.js';
import { loadTask } from '../task/registry.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { loadPipeline, runPipeline, type PipelineResult } from '../pipeline/run-pipeline.js';
import type { CodeChangePolicy, ExecutorName, FailurePolicy, JobStats, RunOptions } from '../core/job-options.js';
import { createLogger, jobLogStyle, type LogFormat } from '../core/log.js';
import type { QueueType } from '../core/location.js';
import type { Logger } from '../task/types.js';
import { readJsonInput } from './input.js';
import { checkOutputTarget, writeOutputFile } from './output-file.js';
import { progressBar } from './progress.js';
import type { Streams } from './streams.js';

/** Options of `fj run`, as commander parses them. */
export interface RunFlags {
  executor: ExecutorName;
  concurrency?: number;
  out?: string;
  stats?: string;
  services?: string;
  progress: boolean;
  verbose?: boolean;
  broker?: string;
  store?: string;
  queue?: string;
  queueType?: QueueType;
  jobId?: string;
  keep?: boolean;
  inlineLimit?: number;
  retries?: number;
  retryDelay?: number;
  onFailure?: FailurePolicy;
  onCodeChange?: CodeChangePolicy;
  maxFailures?: string;
  maxResults?: number;
  itemTimeout?: number;
  rateLimit?: number;
  itemConcurrency?: number;
  logFormat?: LogFormat;
  weight?: number;
  priority?: number;
  tenant?: string;
}

/** The job options shared by `fj run` and `fj resume`, from their flags. */
export function jobOptions(flags: Partial<RunFlags>): RunOptions {
  return {
    concurrency: flags.concurrency,
    services: flags.services,
    logLevel: flags.verbose ? 'debug' : 'warn',
    logFormat: flags.logFormat,
    broker: flags.broker,
    store: flags.store,
    queueType: flags.queueType,
    keep: flags.keep,
    retries: flags.retries,
    retryDelayMs: flags.retryDelay,
    onFailure: flags.onFailure,
    onCodeChange: flags.onCodeChange,
    maxFailures: flags.maxFailures as RunOptions['maxFailures'],
    maxResults: flags.maxResults,
    itemTimeoutMs: flags.itemTimeout === undefined ? undefined : Math.round(flags.itemTimeout * 1000),
    rateLimit: flags.rateLimit,
    itemConcurrency: flags.itemConcurrency,
    weight: flags.weight,
    priority: flags.priority,
    tenant: flags.tenant,
  };
}

/**
 * A detached job's own settings from its flags (`fj submit`, `fj schedule
 * add`: the failure, timeout and rate options, and `--inline-limit`), given
 * its {@link jobOptions}.
 */
export function ownSettings(flags: Partial<RunFlags>, o: RunOptions) {
  return {
    inlineLimit: flags.inlineLimit,
    retries: o.retries,
    retryDelayMs: o.retryDelayMs,
    onFailure: o.onFailure,
    onCodeChange: o.onCodeChange,
    maxFailures: o.maxFailures,
    maxResults: o.maxResults,
    itemTimeoutMs: o.itemTimeoutMs,
    rateLimit: o.rateLimit,
  };
}

/**
 * Runs a job with Ctrl-C and SIGTERM wired to cancel it (the job stops on
 * every worker, exit 130; a second one exits at once), then writes its output, stats
 * and failures. `--out` and `--stats` are checked before the job starts
 * (UsageError); if writing them still fails at the end, the text is saved
 * elsewhere and the UsageError says where (see ./output-file.ts).
 */
export async function runWithSignals(
  name: string,
  flags: Partial<RunFlags>,
  io: Streams,
  start: (options: RunOptions) => Promise<JobResult<unknown> & { statsDocument?: unknown }>,
): Promise<void> {
  // A job can run for hours: a target it could not write is reported before it starts.
  if (flags.out) checkOutputTarget(flags.out, 'output');
  if (flags.stats) checkOutputTarget(flags.stats, 'stats');
  // The bar draws on process.stderr itself: only when that is where our errors go, and a terminal
  // (and not between JSON log lines, which a log collector reads).
  const json = flags.logFormat === 'json';
  const bar =
    !json && flags.progress !== false && io.stderr === process.stderr && process.stderr.isTTY
      ? progressBar(name)
      : undefined;
  const controller = new AbortController();
  // SIGTERM (a supervisor, `kill`) cancels as Ctrl-C does: a coordinator that simply died would leave a stale running job.
  const onInterrupt = () => controller.abort(new CancelledError('interrupted (Ctrl-C): job cancelled'));
  const onTerminate = () => controller.abort(new CancelledError('terminated (SIGTERM): job cancelled'));
  process.once('SIGINT', onInterrupt);
  process.once('SIGTERM', onTerminate);
  let result: (JobResult<unknown> & { statsDocument?: unknown }) | undefined;
  try {
    result = await start({ ...jobOptions(flags), onProgress: bar?.onProgress, signal: controller.signal });
  } finally {
    bar?.stop(result?.stats); // a finished job leaves one summary line where the bar was
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onTerminate);
  }
  const { failures } = result.stats;
  if (failures.length && json) {
    const log = cliLogger(io);
    for (const f of failures.slice(0, 20))
      log.error(`item ${f.index} failed and was left out of the join: ${f.error.message}`);
    if (failures.length > 20) log.error(`... and ${failures.length - 20} more failed items (see --stats)`);
  } else if (failures.length) {
    io.stderr.write(`fj: ${failures.length} item(s) failed and were left out of the join:\n`);
    for (const f of failures.slice(0, 20)) io.stderr.write(`  item ${f.index}: ${f.error.message}\n`); // the message says "(after N attempts)" when there were more than one
    if (failures.length > 20) io.stderr.write(`  ... and ${failures.length - 20} more (see --stats)\n`);
  }
  const output = `${JSON.stringify(result.output, null, 2)}\n`;
  // The work is done: a write failing now saves the text elsewhere rather than lose it, then fails the command.
  const problems: string[] = [];
  if (flags.out) problems.push((await writeOutputFile(flags.out, output, 'output', io.stdout)) ?? '');
  else io.stdout.write(output);
  if (flags.stats)
    problems.push(
      (await writeOutputFile(
        flags.stats,
        `${JSON.stringify(result.statsDocument ?? result.stats, null, 2)}\n`,
        'stats',
        io.stdout,
      )) ?? '',
    );
  const failed = problems.filter(Boolean);
  if (failed.length) throw new UsageError(failed.join('\nfj: '));
}

/** Runs `task` on the input at `inputPath`; the output JSON goes to `--out` or `io.stdout`. */
export async function runCommand(task: string, inputPath: string, flags: RunFlags, io: Streams): Promise<void> {
  const amqp = flags.executor === 'amqp';
  if (!amqp) warnIgnored(flags, io);
  const early = new AbortController();
  // amqp: the manifest names the input file and its hash, which `fj resume` checks
  const read = () => readJsonInput(inputPath, { sha256: amqp && inputPath !== '-', signal: early.signal });
  // A file is read at once, while the task's module and the executor load (the main thread mostly
  // waits on their files then); standard input, which may never end, only once the task is known.
  const reading = inputPath === '-' ? undefined : read();
  reading?.catch(() => {}); // reported when the job asks for its input
  try {
    // The executor starts (threads, connections) while the input is read and parsed.
    const load = async (signal?: AbortSignal): Promise<LoadedInput> => {
      const input = reading ?? read();
      const stop = () => inputPath === '-' && process.stdin.destroy(); // an open stdin would keep the process alive
      const { value, source, sha256 } = signal ? await untilAborted(input, signal, stop) : await input;
      return { value, source, origin: { inputFile: sha256 ? { file: resolve(inputPath), sha256 } : undefined } };
    };
    // An unknown task is reported first, whatever the input holds.
    const p = await loadPipeline(task);
    if (p) return await runPipelineCommand(p, load, flags, io);
    const info = await loadTask(task);
    const jobId = amqp ? (flags.jobId ?? randomUUID()) : flags.jobId;
    await runWithSignals(info.name, flags, io, (options) =>
      startJob(
        info.cls,
        { load },
        {
          ...options,
          executor: flags.executor,
          queue: flags.queue,
          jobId,
          inlineLimit: flags.inlineLimit,
          // Printed once the job exists (a broker that cannot be reached leaves no job to look at).
          onAttached: amqp ? () => printJobLine(jobId!, flags, io) : undefined,
        },
      ),
    );
  } finally {
    early.abort(); // a command that failed before its job read the input (an unknown task, a bad --out) does not parse it for nothing
  }
}

/**
 * `fj run PIPELINE`: the pipeline's stages one after another (./pipeline),
 * with the flags as every stage's options (a stage's own settings win), one
 * progress bar naming the stage, and `--stats` giving each stage's figures.
 */
async function runPipelineCommand(
  p: Pipeline,
  load: (signal?: AbortSignal) => Promise<LoadedInput>,
  flags: RunFlags,
  io: Streams,
): Promise<void> {
  if (flags.jobId) throw new UsageError('--job-id names one job; a pipeline runs a job for each of its stages');
  const amqp = flags.executor === 'amqp';
  await runWithSignals(p.name ?? 'pipeline', flags, io, async (options) => {
    const { value, source } = await load(options.signal);
    const result = await runPipeline(
      p,
      value,
      {
        ...options,
        executor: flags.executor,
        queue: flags.queue,
        inlineLimit: flags.inlineLimit,
        onAttached: amqp ? ({ jobId }) => printJobLine(jobId, flags, io) : undefined,
      },
      source,
    );
    return {
      output: result.output,
      stats: summed(result),
      statsDocument: { stages: result.stages, wallMs: result.wallMs },
    };
  });
}

/** A pipeline's figures as one job's (the bar's summary line, the failed items printed): its stages' summed, failures named by stage. */
function summed(result: PipelineResult<unknown>): JobStats {
  const sum = (key: 'items' | 'total' | 'succeeded' | 'messages' | 'bytesPublished' | 'bytesStored' | 'retried') =>
    result.stages.reduce((n, s) => n + s.stats[key], 0);
  const failures = result.stages.flatMap(({ stage, stats }) =>
    stats.failures.map((f) => ({ ...f, error: { ...f.error, message: `stage ${stage}: ${f.error.message}` } })),
  );
  return {
    items: sum('items'),
    total: sum('total'),
    succeeded: sum('succeeded'),
    messages: sum('messages'),
    bytesPublished: sum('bytesPublished'),
    bytesStored: sum('bytesStored'),
    retried: sum('retried'),
    failed: failures.length,
    failures,
    wallMs: result.wallMs,
  };
}

/** The line naming an amqp job and the commands that look after it. */
function printJobLine(jobId: string, flags: RunFlags, io: Streams): void {
  // One id, not three: with a UUID the line is 111 columns, within a 120-column terminal.
  if (flags.logFormat === 'json') cliLogger(io).info(`job ${jobId}`);
  else io.stderr.write(`fj: job ${jobId} (fj status | cancel | resume ${jobId})\n`);
}

/** The `amqp:` flags of `fj run`, which a run on this host (`-e local`, `-e eager`) has no use for. */
const AMQP_ONLY: readonly [keyof RunFlags, string][] = [
  ['broker', '--broker'],
  ['store', '--store'],
  ['queue', '--queue'],
  ['keep', '--keep'],
  ['inlineLimit', '--inline-limit'],
];

/** Says which amqp-only flags a local run was given: a `--broker` dropped without a word looks like a run on the cluster. */
function warnIgnored(flags: RunFlags, io: Streams): void {
  const given = AMQP_ONLY.filter(([key]) => flags[key] !== undefined).map(([, flag]) => flag);
  if (!given.length) return;
  const line = `${given.join(', ')} ${given.length === 1 ? 'is' : 'are'} ignored: -e ${flags.executor} runs on this host without a broker (-e amqp runs on the workers)`;
  if (flags.logFormat === 'json') cliLogger(io).warn(line);
  else io.stderr.write(`fj: ${line}\n`);
}

/** The command line's own lines as JSON log lines on stderr (`--log-format json`), scope `fj`. */
export function cliLogger(io: Streams): Logger {
  return createLogger('fj', 'info', (line) => void io.stderr.write(line), jobLogStyle('json'));
}

/** `p`, or the signal's reason once it aborts first (Ctrl-C while stdin is still open); `stop` then ends the reading. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal, stop: () => void): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      stop();
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
