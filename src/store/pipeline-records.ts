/**
 * What a detached pipeline keeps in the store: its plan, in its own
 * manifest (the pipeline is a job of its own that runs no items: its
 * records are where `fj status`, `fj result` and `fj cancel` find it), and
 * the link each stage's job carries back to it. Data only, read back
 * checked like every record: a worker continues a pipeline from these,
 * running only task code of its own.
 */
import type { JobPhase } from '../core/job-options.js';
import type { JobState } from './job-index.js';
import type { JobSettings, TaskRef } from './job-parts.js';

/** One planned stage: its task (named, fingerprinted) and where and how its job runs. */
export interface PlannedStage {
  /** The stage's name (messages, the on-error stage's input). */
  name: string;
  /** Its task as a job manifest names one; a worker runs its own code for it, checked by hash. */
  task: TaskRef;
  /** The pool its job goes to. */
  queue: string;
  /** Its job's settings. */
  options: JobSettings;
}

/** A detached pipeline's plan: in its own manifest (`Manifest.plan`), signed with it. */
export interface PipelinePlan {
  /** The pipeline's name. */
  name: string;
  stages: PlannedStage[];
  onError?: PlannedStage;
  /**
   * A re-run of another pipeline (`rerunPipeline`): this one starts at
   * stage `stage`, and its stages before it are `pipeline`'s jobs.
   */
  from?: { pipeline: string; stage: number };
}

/** What a stage's job manifest says of its pipeline (`Manifest.pipeline`). */
export interface PipelineLink {
  /** The pipeline's id: the job id of its own records. */
  id: string;
  /** The stage this job runs: its number (1 for the first), or 0 for the on-error stage. */
  stage: number;
  /** What its input is called in errors: `the output of stage 1 (fetch), as the input of stage 2 (align)`. */
  source?: string;
}

/** The job id of stage `stage` (0: the on-error stage) of pipeline `id`: fixed, so continuing twice queues it once. */
export function stageJobId(id: string, stage: number): string {
  return stage === 0 ? `${id}.on-error` : `${id}.${stage}`;
}

/** The longest pipeline id: its stage job ids (`<id>.on-error`) must be job ids too. */
export const MAX_PIPELINE_ID = 91;

const str = (v: unknown): v is string => typeof v === 'string';
const obj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function stageProblem(s: unknown, where: string): string | undefined {
  if (!obj(s)) return `${where} is not an object`;
  const t = s.task;
  if (!str(s.name) || !str(s.queue) || !obj(s.options)) return `${where}: name, queue or options`;
  if (!obj(t) || !str(t.name) || !str(t.className) || !str(t.codeHash)) return `${where}: task`;
  return undefined;
}

/** What is wrong with a manifest's `plan` (a pipeline's), or undefined when it is well formed. */
export function planProblem(p: unknown): string | undefined {
  if (!obj(p) || !str(p.name) || !Array.isArray(p.stages) || p.stages.length === 0) return 'plan';
  for (const [i, s] of p.stages.entries()) {
    const problem = stageProblem(s, `plan stage ${i + 1}`);
    if (problem) return problem;
  }
  const from = p.from;
  if (
    from !== undefined &&
    (!obj(from) || !str(from.pipeline) || !Number.isSafeInteger(from.stage) || (from.stage as number) < 1)
  )
    return 'plan from';
  return p.onError === undefined ? undefined : stageProblem(p.onError, 'plan on-error stage');
}

/** What is wrong with a manifest's `pipeline` link (a stage job's), or undefined when it is well formed. */
export function linkProblem(l: unknown): string | undefined {
  if (!obj(l) || !str(l.id) || !Number.isSafeInteger(l.stage) || (l.stage as number) < 0) return 'pipeline';
  return l.source === undefined || str(l.source) ? undefined : 'pipeline source';
}

/**
 * One stage of a submitted pipeline as `fj status`, `status()` and the
 * dashboard show it: its job (`<id>.<number>`, `<id>.on-error`) and that
 * job's state and figures. `pending`: not queued yet; `not run`: the
 * pipeline ended without it (an earlier stage failed, or nothing failed for
 * the on-error stage).
 */
export interface StageView {
  /** 1 for the first stage; 0 for the on-error stage. */
  number: number;
  name: string;
  /** The stage's job id. */
  job: string;
  state: JobState | 'pending' | 'not run';
  /** Its job's items done, failed, and in all (null until known). */
  done: number;
  failed: number;
  total: number | null;
  /** While its job runs: `setup`, `items` or `join`. */
  phase?: JobPhase;
  /** The stage the pipeline is at: its job queued or running. */
  current: boolean;
}
