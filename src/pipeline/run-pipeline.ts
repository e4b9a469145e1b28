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
  for (const stage of stages) {
    const prev = stages[stage.number - 2];
    const named =
      stage.number === 1 ? source : `the output of stage ${label(prev)}, as the input of stage ${label(stage)}`;
    let stats: JobStats | undefined;
    try {
      if (options.signal?.aborted) throw cancelledBy(options.signal.reason);
      const result = await startJob(
        stage.info.cls,
        { value, source: named, origin: { onEnd: (end) => (stats = end.stats) } },
        stageOptions(options, stage, stages.length),
      );
      stats = result.stats;
      value = result.output;
      finished.push({ stage: stage.name, output: value });
      results.push({ stage: stage.name, task: stage.info.name, stats });
    } catch (err) {
      if (stats) results.push({ stage: stage.name, task: stage.info.name, stats });
      throw await failed(name, stage, err, stats?.failures ?? [], finished, errorStage, options);
    }
  }
  return { output: value as Out, stages: results, wallMs: Date.now() - started };
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
  const { name: _name, ...settings } = stage.settings;
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
