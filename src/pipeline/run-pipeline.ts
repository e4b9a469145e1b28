/**
 * Running a pipeline attached: each stage is a job of its own, started
 * through the one job lifecycle (`startJob`) with the pipeline's options and
 * the stage's settings, on the stage's executor and pool. A stage starts when
 * the previous one's join has returned; its input (the previous output) is
 * validated against its schema before any of its items run. When a stage
 * fails or the pipeline is cancelled, no later stage starts, the on-error
 * stage runs once, and a {@link PipelineError} names the stage.
 */
import { pathToFileURL } from 'node:url';
import { CancelledError, FjError, isInstance, PipelineError, type ItemFailure } from '../core/errors.js';
import type { JobStats, Progress, RunOptions } from '../core/job-options.js';
import { startJob } from '../job/lifecycle.js';
import { describeTask, loadTask, taskFile, type TaskInfo } from '../task/registry.js';
import { importModule } from '../task/module-loader.js';
import { unknownTask } from '../task/task-lookup.js';
import { UsageError } from '../core/errors.js';
import { isPipeline, type Pipeline, type PipelineFailure, type StageSettings, type StageSpec } from './pipeline.js';
import { StageStream } from './stage-stream.js';
import type { ItemGate } from '../dispatch/item-stream.js';
import type { Executor } from '../executors/executor.js';
import { normalizeOptions } from '../core/job-options.js';

/** One stage of a pipeline that ran: its name, task and figures. */
export interface StageResult {
  stage: string;
  task: string;
  stats: JobStats;
}

/** What a pipeline produced: the last stage's output and each stage's figures. */
export interface PipelineResult<Output> {
  output: Output;
  stages: StageResult[];
  /** The whole pipeline's wall time, in ms. */
  wallMs: number;
}

/** A stage resolved to its task, with the name messages use for it. */
export interface ResolvedStage {
  number: number;
  name: string;
  info: TaskInfo;
  settings: Readonly<StageSettings>;
}

/**
 * Runs a pipeline and resolves to its last stage's output and each stage's
 * figures. `options` apply to every stage (a stage's own settings win);
 * `options.signal` cancels the stage running and then runs the on-error
 * stage. Every stage's task is resolved before the first one starts, so a
 * misnamed stage fails the pipeline before any work.
 *
 * `source` names the input in error messages (a file name).
 *
 * Rejects with {@link PipelineError} (its `cause` the stage's error, its
 * exit code that error's) or UsageError (a stage's task is unknown).
 */
export async function runPipeline<In, Out>(
  p: Pipeline<In, Out>,
  input: unknown extends In ? unknown : Partial<In>,
  options: RunOptions = {},
  source?: string,
): Promise<PipelineResult<Out>> {
  if (!isPipeline(p)) throw new UsageError('runPipeline: expected a pipeline built with pipeline()');
  const started = Date.now();
  const { stages, errorStage, name } = await resolvePipeline(p);
  const finished: { stage: string; output: unknown }[] = [];
  const results: StageResult[] = [];
  let value: unknown = input;
  const pools = new SharedPools();
  try {
    for (let i = 0; i < stages.length;) {
      // A segment: a stage and the stages after it that stream from it, one after another; they run at once.
      let j = i;
      while (j + 1 < stages.length && stages[j + 1].settings.stream) j++;
      const segment = stages.slice(i, j + 1);
      const prev = stages[i - 1];
      const named = i === 0 ? source : `the output of stage ${label(prev)}, as the input of stage ${label(stages[i])}`;
      const ran = await runSegment(segment, value, named, options, stages.length, pools);
      for (const r of ran.results) results.push(r);
      if ('failure' in ran) {
        const { stage, error, stats } = ran.failure;
        await pools.dispose(); // a failed stage's threads may still hold work: stopped before the on-error stage runs
        throw await failed(name, stage, error, stats?.failures ?? [], finished, errorStage, options);
      }
      value = ran.output;
      finished.push({ stage: segment[segment.length - 1].name, output: value });
      i = j + 1;
    }
  } finally {
    await pools.dispose();
  }
  return { output: value as Out, stages: results, wallMs: Date.now() - started };
}

/**
 * The thread pools a pipeline's local stages share: consecutive stages
 * that run on `local` with the same threads (their count, services and
 * logging) run on one pool, started with the first, its threads kept
 * between stages (a stage transition then costs no thread start-up).
 * Stages that stream run at once, each on a pool of its own.
 */
class SharedPools {
  private readonly pools = new Map<string, Executor>();

  /** The pool for a stage running with `options`, when it runs on `local`; undefined otherwise. */
  async for(options: RunOptions): Promise<Executor | undefined> {
    const o = normalizeOptions(options);
    if (o.executor !== 'local') return undefined;
    const key = JSON.stringify([o.concurrency, o.services, o.logLevel, o.logFormat]);
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new (await import('../executors/local.js')).LocalExecutor();
      this.pools.set(key, pool);
    }
    return pool;
  }

  async dispose(): Promise<void> {
    await Promise.all([...this.pools.values()].map(async (p) => p.dispose?.()));
    this.pools.clear();
  }
}

/** How a segment of stages went: its last stage's output, or the stage that failed first (the others stopped because of it). */
type SegmentRun =
  | { results: StageResult[]; output: unknown }
  | { results: StageResult[]; failure: { stage: ResolvedStage; error: unknown; stats: JobStats | undefined } };

/**
 * Runs a segment: one stage, or a stage and those that stream from it
 * (./stage-stream.ts), all at once, each a job through `startJob`. A
 * streaming stage's input is the segment's input (validated against its
 * own schema: its params come from it) and its items are the previous
 * stage's results; a stage that streams into the next passes its results
 * on and runs no join. The first stage to fail stops the others.
 */
async function runSegment(
  segment: ResolvedStage[],
  value: unknown,
  source: string | undefined,
  options: RunOptions,
  count: number,
  pools: SharedPools,
): Promise<SegmentRun> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const links = segment.slice(1).map((s) => new StageStream(s.settings.buffer));
  const stats: (JobStats | undefined)[] = segment.map(() => undefined);
  let first: { stage: ResolvedStage; error: unknown } | undefined;
  let output: unknown;
  try {
    await Promise.all(
      segment.map(async (stage, k) => {
        const down = links[k]; // this stage streams into the next
        const up = links[k - 1]; // this stage streams from the previous
        const opts = stageOptions({ ...options, signal: controller.signal }, stage, count);
        const progress = opts.onProgress;
        try {
          if (controller.signal.aborted) throw cancelledBy(controller.signal.reason);
          // A stage on its own (no streaming) runs on the pipeline's shared pool, when it runs on local.
          const pool = segment.length === 1 ? await pools.for(opts) : undefined;
          const result = await startJob(
            stage.info.cls,
            {
              value,
              source:
                k === 0
                  ? source
                  : `the input of stage ${label(segment[0])}, as the input of stage ${label(stage)} (it streams from stage ${label(segment[k - 1])})`,
              origin: {
                onEnd: (end) => (stats[k] = end.stats),
                ...(up ? { items: up.items() } : {}),
                ...(down ? { onLedger: down.onLedger, passOn: true } : {}),
                ...(up || down ? { gate: bothGates(up?.downstream, down?.upstream) } : {}),
              },
            },
            down ? { ...opts, onProgress: (p) => (down.poke(), progress?.(p)) } : opts,
            pool,
            pool !== undefined,
          );
          stats[k] = result.stats;
          down?.close({ total: result.stats.total });
          if (k === segment.length - 1) output = result.output;
        } catch (err) {
          first ??= { stage, error: err };
          down?.close({ error: err });
          for (const l of links) l.stop();
          controller.abort(new CancelledError(`stage ${label(first.stage)} failed`));
        }
      }),
    );
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  const results = segment.flatMap((s, k) => (stats[k] ? [{ stage: s.name, task: s.info.name, stats: stats[k] }] : []));
  if (first) return { results, failure: { ...first, stats: stats[segment.indexOf(first.stage)] } };
  return { results, output };
}

/** One gate of two (a stage that streams from one stage and into another): the room of the tighter, either one's change. */
function bothGates(a: ItemGate | undefined, b: ItemGate | undefined): ItemGate {
  if (!a || !b) return (a ?? b)!;
  return {
    room: (taken) => Math.min(a.room(taken), b.room(taken)),
    wait: () => Promise.race([a.wait(), b.wait()]),
    get stopped() {
      return a.stopped || b.stopped;
    },
  };
}

/** The error a cancel before a stage starts gives: the signal's reason when it is a CancelledError (Ctrl-C's says so). */
function cancelledBy(reason: unknown): CancelledError {
  return isInstance(reason, CancelledError) ? reason : new CancelledError('pipeline cancelled', { cause: reason });
}

/** `2 (align)`. */
function label(stage: ResolvedStage): string {
  return `${stage.number} (${stage.name})`;
}

/** The options a stage runs with: the pipeline's, the stage's settings over them, its progress labelled. */
function stageOptions(options: RunOptions, stage: ResolvedStage, count: number): RunOptions {
  const { name: _name, stream: _stream, buffer: _buffer, ...settings } = stage.settings;
  const defined = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
  const onProgress = options.onProgress;
  return {
    ...options,
    ...defined,
    jobId: undefined, // every stage is a job of its own
    onStats: undefined,
    onProgress: onProgress && ((p: Progress) => onProgress({ ...p, stage: `${stage.number}/${count} ${stage.name}` })),
  };
}

/**
 * The pipeline's end after `stage` failed: the on-error stage runs (once,
 * not cancellable by the signal that may have cancelled the stage: it is
 * what marks the work failed), then the error that names the stage.
 */
async function failed(
  pipeline: string,
  stage: ResolvedStage,
  err: unknown,
  failures: ItemFailure[],
  finished: { stage: string; output: unknown }[],
  errorStage: ResolvedStage | undefined,
  options: RunOptions,
): Promise<PipelineError> {
  const cancelled = isInstance(err, CancelledError) || options.signal?.aborted === true;
  const code = isInstance(err, FjError) ? err.code : 'FJ_INTERNAL';
  const message = err instanceof Error ? err.message : String(err);
  const where = { number: stage.number, name: stage.name, task: stage.info.name };
  let onErrorFailure: unknown;
  if (errorStage) {
    const failure: PipelineFailure = {
      pipeline,
      stage: where,
      cancelled,
      error: { code, message },
      failures: [...failures],
      finished,
    };
    try {
      await startJob(
        errorStage.info.cls,
        { value: failure, owned: true, source: `the on-error stage ${errorStage.name}'s input` },
        { ...stageOptions(options, errorStage, 0), signal: undefined, onProgress: undefined },
      );
    } catch (e) {
      onErrorFailure = e;
    }
  }
  const how = cancelled ? 'was cancelled' : 'failed';
  const after = !errorStage
    ? ''
    : onErrorFailure === undefined
      ? `\n(the on-error stage ${errorStage.name} ran)`
      : `\nthe on-error stage ${errorStage.name} failed too: ${onErrorFailure instanceof Error ? onErrorFailure.message : String(onErrorFailure)}`;
  const exitCode = isInstance(err, FjError) ? err.exitCode : 1;
  return new PipelineError(
    `pipeline ${pipeline}: stage ${label(stage)} ${how}: ${message}${after}`,
    exitCode,
    { pipeline, stage: where, onErrorFailure },
    { cause: err },
  );
}

/** The pipeline's stages and on-error stage, each resolved to its task (an unknown one fails here, before any work). */
export async function resolvePipeline(
  p: Pipeline,
): Promise<{ name: string; stages: ResolvedStage[]; errorStage: ResolvedStage | undefined }> {
  const module = modules.get(p);
  const stages: ResolvedStage[] = [];
  for (const [i, spec] of p.stages.entries()) stages.push(await resolveStage(spec, i + 1, module));
  if (!stages.length) throw new UsageError('a pipeline needs at least one stage');
  const errorStage = p.errorStage ? await resolveStage(p.errorStage, 0, module) : undefined;
  sameNames([...stages, ...(errorStage ? [errorStage] : [])]);
  for (const [k, s] of stages.entries())
    if (stages[k + 1]?.settings.stream && s.info.combines)
      throw new UsageError(
        `stage ${label(stages[k + 1])} streams from stage ${label(s)}, which ${s.info.folds ? 'folds' : 'combines'} its results: a stage that streams into the next hands on each item's own result`,
      );
  return { name: p.name ?? stages[0].name, stages, errorStage };
}

/**
 * Refuses two stages whose different task classes have one task name: on
 * workers a task name routes messages and finds the code, so one of them
 * would run the other's items. Classes without a `taskName` exported by one
 * module are all named after its file.
 */
function sameNames(stages: ResolvedStage[]): void {
  const seen = new Map<string, ResolvedStage>();
  for (const s of stages) {
    const other = seen.get(s.info.name);
    if (other && other.info.cls !== s.info.cls)
      throw new UsageError(
        `stages ${other.number || 'on-error'} and ${s.number || 'on-error'} run two task classes named '${s.info.name}' (${other.info.cls.name} and ${s.info.cls.name}; a class without a static taskName is named after its module's file): give each a static taskName`,
      );
    seen.set(s.info.name, s);
  }
}

/** Where each pipeline loaded from a file came from: its stage classes exported there are loaded from there by threads and workers. */
const modules = new WeakMap<Pipeline, { url: string; exports: Record<string, unknown> }>();

async function resolveStage(
  spec: StageSpec,
  number: number,
  module: { url: string; exports: Record<string, unknown> } | undefined,
): Promise<ResolvedStage> {
  let info: TaskInfo;
  if (typeof spec.task === 'string') info = await loadTask(spec.task);
  else {
    const exported = module && Object.values(module.exports).includes(spec.task);
    info = describeTask(spec.task, exported ? module.url : spec.task.module);
  }
  return { number, name: spec.settings.name ?? info.name, info, settings: spec.settings };
}

/**
 * Loads what `fj run SPEC` names when it is a pipeline: a module (a path, or
 * `NAME` for `./tasks/NAME`) whose default export is a {@link Pipeline}.
 * Resolves to undefined when the module's default export is not a pipeline
 * (then it is a task, loaded as one). The pipeline's name defaults to the
 * module's file name.
 */
export async function loadPipeline(spec: string, cwd = process.cwd()): Promise<Pipeline | undefined> {
  const file = taskFile(spec, cwd);
  if (!file) throw unknownTask(spec, cwd);
  const url = pathToFileURL(file).href;
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(url);
  } catch (err) {
    throw new UsageError(`cannot load module ${file}: ${(err as Error).message}`, { cause: err });
  }
  const p = mod.default;
  if (!isPipeline(p)) return undefined;
  const named = p.name ? p : p.named(file.replace(/^.*[\\/]/, '').replace(/\.[^.]+$/, ''));
  modules.set(named, { url, exports: mod });
  return named;
}
