/** `fj submit`, `fj rerun`, `fj result`, `fj jobs`, `fj workers`, `fj forget`: detached jobs and the cluster, from argv to the public API. */
import { CancelledError, UsageError } from '../core/errors.js';
import { JobHandle } from '../detached/handle.js';
import type { JobView } from '../detached/job-view.js';
import { forget, listJobs, listPoolJobs, listWorkers } from '../detached/queries.js';
import { poolFairness, tenantWeightsByPool } from '../broker/job-beacon.js';
import { rerunFailed } from '../detached/rerun.js';
import { submit, type SubmitOptions } from '../detached/submit.js';
import { loadPipeline } from '../pipeline/run-pipeline.js';
import { submitPipeline } from '../pipeline/submit-pipeline.js';
import { rerunPipeline } from '../pipeline/rerun-pipeline.js';
import { checkJobId } from '../core/job-id.js';
import { locate } from '../core/location.js';
import { readManifest, type JobLocation, type JobOutcome, type Manifest } from '../store/job-records.js';
import { taskToLoad } from '../job/resumable.js';
import { signerFrom } from '../core/signing.js';
import { openStore } from '../store/open.js';
import { JOB_STATES, type JobState } from '../store/job-index.js';
import { loadTask } from '../task/registry.js';
import { builtinPipelineNames } from '../task/task-lookup.js';
import { createLogger } from '../core/log.js';
import { printable } from '../core/printable.js';
import { readJsonInput } from './input.js';
import { checkOutputTarget, writeOutputFile } from './output-file.js';
import { failureLine } from './job-control.js';
import { progressBar } from './progress.js';
import { jobOptions, ownSettings, type RunFlags } from './run.js';
import type { Streams } from './streams.js';

/** Options of `fj submit`. */
export interface SubmitFlags extends Partial<RunFlags> {
  label?: string;
  resultTtl?: number;
  wait?: boolean;
  /** `--at`: an ISO time to start the job at. */
  at?: string;
  /** `--in`: seconds from now to start the job in. */
  in?: number;
}

/** Validates and queues a job; prints its id on stdout (with `--wait`, waits and prints its output like `fj run`). */
export async function submitCommand(task: string, inputPath: string, flags: SubmitFlags, io: Streams): Promise<void> {
  const p = await loadPipeline(task);
  const info = p ? undefined : await loadTask(task);
  if (flags.wait && flags.out) checkOutputTarget(flags.out, 'output');
  const { value, source } = await readJsonInput(inputPath);
  const o = jobOptions(flags);
  const options: SubmitOptions = {
    source,
    broker: o.broker,
    store: o.store,
    queue: flags.queue,
    queueType: o.queueType,
    jobId: flags.jobId,
    ...ownSettings(flags, o),
    weight: o.weight,
    priority: o.priority,
    tenant: o.tenant,
    label: flags.label,
    resultTtlMs: flags.resultTtl === undefined ? undefined : Math.round(flags.resultTtl * 1000),
    at: flags.at,
    delayMs: flags.in === undefined ? undefined : Math.round(flags.in * 1000),
  };
  const asked = Date.now();
  const handle = p ? await submitPipeline(p, value, options) : await submit(info!.cls, value, options);
  if (options.at !== undefined || options.delayMs !== undefined)
    io.stderr.write(
      `fj: ${p ? 'pipeline' : 'job'} ${handle.id} scheduled for ${new Date(flags.at !== undefined ? Date.parse(flags.at) : asked + options.delayMs!).toISOString()}; a worker of its pool starts it then ('fj cancel ${handle.id}' cancels it)\n`,
    );
  if (!flags.wait) return void io.stdout.write(`${handle.id}\n`);
  io.stderr.write(
    `fj: ${p ? 'pipeline' : 'job'} ${handle.id} submitted; waiting (Ctrl-C stops waiting, the ${p ? 'pipeline' : 'job'} goes on)\n`,
  );
  await printResult(handle, { ...flags, wait: true }, io, p ? (p.name ?? 'pipeline') : info!.name);
}

/** Options of `fj rerun`. */
export interface RerunFlags extends JobLocation {
  task?: string;
  label?: string;
  queue?: string;
  wait?: boolean;
  out?: string;
  progress?: boolean;
}

/**
 * Submits a new job that runs only the items job `jobId` left without a
 * result (`rerunFailed`); prints its id (with `--wait`, waits and prints its
 * output like `fj run`). The task is `--task`, else the job's task when it
 * is a built-in one.
 */
export async function rerunCommand(jobId: string, flags: RerunFlags, io: Streams): Promise<void> {
  if (flags.wait && flags.out) checkOutputTarget(flags.out, 'output');
  const manifest = await readManifestAt(jobId, flags);
  if (manifest.plan) return rerunPipelineCommand(jobId, manifest.plan.name, flags, io);
  const spec = flags.task ?? taskToLoad(jobId, manifest, 'rerun', 're-run its failed items');
  const info = await loadTask(spec);
  const handle = await rerunFailed(info.cls, jobId, {
    broker: flags.broker,
    store: flags.store,
    signingKey: flags.signingKey,
    queue: flags.queue,
    label: flags.label,
  });
  if (!flags.wait) return void io.stdout.write(`${handle.id}\n`);
  io.stderr.write(
    `fj: job ${handle.id} submitted (the failed items of ${jobId}); waiting (Ctrl-C stops waiting, the job goes on)\n`,
  );
  await printResult(handle, { ...flags, wait: true }, io, info.name);
}

/**
 * `fj rerun` of a pipeline: a new pipeline from the stage that did not
 * succeed (`rerunPipeline`). The pipeline is `--task`, else the built-in
 * pipeline of its name: fj never loads code a store record names.
 */
async function rerunPipelineCommand(id: string, name: string, flags: RerunFlags, io: Streams): Promise<void> {
  const spec = flags.task ?? (builtinPipelineNames().includes(name) ? name : undefined);
  if (!spec)
    throw new UsageError(
      `${id} is a pipeline (${JSON.stringify(name)}) of a module of its own; name that module to re-run it: fj rerun ${id} --task MODULE (fj never loads code that a store record names)`,
    );
  const p = await loadPipeline(spec);
  if (!p) throw new UsageError(`--task ${spec}: its default export is not a pipeline, and ${id} is one`);
  const handle = await rerunPipeline(p, id, {
    broker: flags.broker,
    store: flags.store,
    signingKey: flags.signingKey,
    label: flags.label,
  });
  if (!flags.wait) return void io.stdout.write(`${handle.id}\n`);
  io.stderr.write(
    `fj: pipeline ${handle.id} submitted (${id} again, from the stage that did not succeed); waiting (Ctrl-C stops waiting, the pipeline goes on)\n`,
  );
  await printResult(handle, { ...flags, wait: true }, io, p.name ?? 'pipeline');
}

/** Job `jobId`'s manifest, from the store `where` names. */
async function readManifestAt(jobId: string, where: JobLocation): Promise<Manifest> {
  checkJobId(jobId);
  const store = await openStore(locate(where).store);
  try {
    return await readManifest(store, jobId, signerFrom(where.signingKey));
  } finally {
    await store.close();
  }
}

/** Options of `fj result`. */
export interface ResultFlags extends JobLocation {
  wait?: boolean;
  timeout?: number;
  out?: string;
  progress?: boolean;
}

/** Prints a detached job's output (exit 0), or the error it ended with (its exit code: 1 failed, 130 cancelled). */
export async function resultCommand(jobId: string, flags: ResultFlags, io: Streams): Promise<void> {
  if (flags.out) checkOutputTarget(flags.out, 'output');
  await printResult(new JobHandle(jobId, flags), flags, io, `job ${jobId.slice(0, 8)}`, true);
}

/** `sayWaiting`: a line on stderr when the job has not ended and the wait begins (`fj submit --wait` says it already). */
async function printResult(
  handle: JobHandle,
  flags: ResultFlags,
  io: Streams,
  label: string,
  sayWaiting = false,
): Promise<void> {
  const bar =
    flags.wait && flags.progress !== false && io.stderr === process.stderr && process.stderr.isTTY
      ? progressBar(label)
      : undefined;
  const controller = new AbortController();
  const onSignal = () =>
    controller.abort(
      new CancelledError(
        `stopped waiting (Ctrl-C); job ${handle.id} goes on: 'fj result ${handle.id} --wait' waits again`,
      ),
    );
  process.once('SIGINT', onSignal);
  let outcome: JobOutcome;
  try {
    outcome = await handle.wait({
      timeoutMs: flags.wait ? (flags.timeout === undefined ? undefined : flags.timeout * 1000) : 0,
      signal: controller.signal,
      onProgress: bar?.onProgress,
      onWaiting: sayWaiting
        ? (kind) =>
            io.stderr.write(
              `fj: ${kind} ${handle.id} has not ended yet; waiting (Ctrl-C stops waiting, the ${kind} goes on)\n`,
            )
        : undefined,
    });
  } finally {
    bar?.stop();
    process.off('SIGINT', onSignal);
  }
  const failures = outcome.stats?.failures ?? [];
  if (outcome.state === 'succeeded' && failures.length) {
    io.stderr.write(`fj: ${outcome.stats!.failed} item(s) failed and were left out of the join:\n`);
    for (const f of failures.slice(0, 20)) io.stderr.write(`  ${failureLine(f)}\n`);
  }
  const output = await handle.settle(outcome); // throws the job's own error when it did not succeed
  const json = `${JSON.stringify(output, null, 2)}\n`;
  if (!flags.out) return void io.stdout.write(json);
  const problem = await writeOutputFile(flags.out, json, 'output', io.stdout);
  if (problem) throw new UsageError(problem);
}

/** Options of `fj jobs`. */
export interface JobsFlags extends JobLocation {
  state?: string;
  task?: string;
  limit?: number;
  json?: boolean;
}

/** Lists the recent jobs, newest first. */
export async function jobsCommand(flags: JobsFlags, io: Streams): Promise<void> {
  if (flags.state !== undefined && !(JOB_STATES as readonly string[]).includes(flags.state))
    throw new UsageError(`--state must be one of ${JOB_STATES.join(', ')}, got '${flags.state}'`);
  const { jobs, more } = await listJobs({ ...flags, state: flags.state as JobState | undefined });
  if (flags.json) return void io.stdout.write(`${JSON.stringify({ jobs, more }, null, 2)}\n`);
  if (jobs.length === 0) return void io.stdout.write('no jobs\n');
  // How the jobs share their pool, in columns of their own only when one of those listed sets it.
  const sharing = (
    [
      ['TENANT', 'tenant', '-'],
      ['PRIORITY', 'priority', '0'],
      ['WEIGHT', 'weight', '1'],
    ] as const
  )
    .filter(([, key]) => jobs.some((j) => j[key] !== undefined))
    .map(([head, key, unset]) => ({ head, cell: (j: JobView) => (j[key] === undefined ? unset : String(j[key])) }));
  const rows = groupStages(jobs).map((j) =>
    [
      j.pipeline ? `└ ${j.id}` : j.id,
      j.phase ? `${j.state} (${j.phase})` : j.due !== undefined ? `${j.state} (due ${when(j.due)})` : j.state,
      j.task,
      progress(j),
      when(j.submitted),
      j.started ? when(j.started) : '-',
      j.finished ? when(j.finished) : '-',
      j.coordinator || '-',
      ...sharing.map((c) => c.cell(j)),
      j.label,
    ].map(printable),
  );
  const heads = ['ID', 'STATE', 'TASK', 'ITEMS', 'SUBMITTED', 'STARTED', 'FINISHED', 'COORDINATOR'];
  io.stdout.write(table([...heads, ...sharing.map((c) => c.head), 'LABEL'], rows));
  if (more) io.stdout.write(`(more jobs match: --limit ${(flags.limit ?? 20) * 2} shows more)\n`);
}

/** Lists the workers that sent a heartbeat lately, warming or ready; quiet ones and stale code marked. */
export async function workersCommand(flags: JobLocation & { json?: boolean }, io: Streams): Promise<void> {
  const workers = await listWorkers(
    flags,
    createLogger('workers', 'warn', (line) => io.stderr.write(line)),
  );
  if (flags.json) return void io.stdout.write(`${JSON.stringify(workers, null, 2)}\n`);
  if (workers.length === 0) return void io.stdout.write('no workers have sent a heartbeat to this store lately\n');
  const now = Date.now();
  const rows = workers.map((w) =>
    [
      w.name,
      w.pool,
      w.state,
      `${w.busy}/${w.concurrency}`,
      String(w.itemsDone),
      `${w.coordinating.length}/${w.maxJobs}`,
      `${Math.round((now - w.sent) / 1000)} s ago${w.quiet ? ' (quiet)' : ''}`,
      // Each task's code, by the first 8 digits of its fingerprint (`--json` has them whole).
      Object.entries(w.tasks)
        .map(([task, hash]) => `${task}@${hash.slice(0, 8)}`)
        .join(' '),
      [
        w.scheduler ? 'scheduler' : '',
        w.mixedTasks.length ? `pool runs 2+ versions of ${w.mixedTasks.join(', ')}` : '',
        w.staleTasks.length ? `stale code: ${w.staleTasks.join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('; '),
    ].map(printable),
  );
  io.stdout.write(table(['NAME', 'POOL', 'STATE', 'BUSY', 'ITEMS', 'JOBS', 'HEARD', 'CODE', ''], rows));
  // Who holds the slots: the jobs running on the pools now (their coordinators' beacons), best effort.
  const jobs = await listPoolJobs(flags).catch(() => []);
  if (jobs.length === 0) return;
  io.stdout.write('\njobs running on the pools now (slots go in proportion to IN FLIGHT):\n');
  for (const [pool, f] of poolFairness(jobs, tenantWeightsByPool(workers.filter((w) => !w.quiet))))
    if (f.jobs > 1)
      io.stdout.write(`${printable(pool)}: Jain's index ${f.index.toFixed(3)} over ${f.jobs} jobs sharing it\n`);
  io.stdout.write(
    table(
      ['JOB', 'POOL', 'PRIORITY', 'WEIGHT', 'TENANT', 'IN FLIGHT'],
      jobs.map((j) =>
        [j.job, j.pool, String(j.priority), String(j.weight), j.tenant ?? '-', String(j.inFlight)].map(printable),
      ),
    ),
  );
}

/** Removes an ended job's output and records now. */
export async function forgetCommand(jobId: string, flags: JobLocation, io: Streams): Promise<void> {
  await forget(jobId, flags);
  io.stderr.write(`fj: job ${jobId} forgotten\n`);
}

/**
 * The listing in the order `fj jobs` prints it: newest first, but the stage
 * jobs of a pipeline listed too each right under it, in stage order (the
 * on-error stage last). A stage whose pipeline is not listed stays where it is.
 */
export function groupStages(jobs: JobView[]): JobView[] {
  const listed = new Set(jobs.map((j) => j.id));
  const under = new Map<string, JobView[]>();
  for (const j of jobs)
    if (j.pipeline && listed.has(j.pipeline.id)) under.set(j.pipeline.id, [...(under.get(j.pipeline.id) ?? []), j]);
  const order = (n: number) => (n === 0 ? Infinity : n);
  return jobs.flatMap((j) =>
    j.pipeline && listed.has(j.pipeline.id)
      ? []
      : [j, ...(under.get(j.id) ?? []).sort((a, b) => order(a.pipeline!.stage) - order(b.pipeline!.stage))],
  );
}

function progress(j: JobView): string {
  return `${j.done}${j.failed ? `+${j.failed} failed` : ''}/${j.total ?? '?'}`;
}

function when(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return `${[line(head), ...rows.map(line)].join('\n')}\n`;
}
