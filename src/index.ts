/**
 * fj's public surface. Everything a program or a task needs is named here;
 * anything not exported from this file is internal.
 */
export {
  ForkJoinTask,
  type TaskClass,
  type InputOf,
  type OutputOf,
  type ItemOf,
  type PartialOf,
} from './task/fork-join-task.js';
export { FoldTask } from './task/fold-task.js';
export { CommandTask } from './task/command-task.js';
export {
  runCommand,
  DEFAULT_MAX_STDOUT_BYTES,
  type Command,
  type CommandOutput,
  type RunCommandOptions,
} from './task/command.js';
export type {
  CombineContext,
  ItemSource,
  JoinContext,
  Logger,
  MaybePromise,
  ProcessContext,
  SeedContext,
  ServicesFactory,
  SetupContext,
} from './task/types.js';
export { run, runJob, validate, type JobResult } from './job/lifecycle.js';
export {
  pipeline,
  isPipeline,
  Pipeline,
  type PipelineFailure,
  type StageMismatch,
  type StageSettings,
  type StageSpec,
  type StageTask,
} from './pipeline/pipeline.js';
export { runPipeline, type PipelineResult, type StageResult } from './pipeline/run-pipeline.js';
export { rerunPipeline, submitPipeline } from './pipeline/pipeline-api.js';
export {
  status,
  cancel,
  resume,
  submit,
  rerunFailed,
  attach,
  listJobs,
  listWorkers,
  listPoolJobs,
  forget,
  addSchedule,
  listSchedules,
  pauseSchedule,
  resumeSchedule,
  removeSchedule,
  JobHandle,
  type DelayOptions,
  type ScheduleJobOptions,
  type ScheduleOptions,
  type ScheduleRun,
  type ScheduleView,
  type JobLocation,
  type JobReport,
  type CancelReport,
  type PoolState,
  type ResumeOptions,
  type SubmitOptions,
  type JobView,
  type ResultOptions,
  type ListJobsOptions,
  type WorkerView,
  type PoolJobView,
} from './detached/detached-api.js';
export type { JobState } from './store/job-index.js';
export type { JobStatus } from './store/job-records.js';
export { loadTask, resolveTask, builtinTaskNames, type TaskInfo } from './task/registry.js';
export {
  normalizeOptions,
  OptionError,
  DEFAULT_BROKER,
  EXECUTORS,
  type ExecutorName,
  type CodeChangePolicy,
  type FailurePolicy,
  type JobStats,
  type LawCheckOptions,
  type Progress,
  type RunOptions,
} from './core/job-options.js';
export {
  FjError,
  UsageError,
  InputError,
  CodecError,
  TaskError,
  TransportError,
  NotFoundError,
  WorkerRefusedError,
  InternalError,
  UnrecoverableError,
  FailuresError,
  CancelledError,
  PipelineError,
  LawsError,
  LimitError,
  JobEndedError,
  isRetryable,
  type HookName,
  type ItemFailure,
  type Where,
} from './core/errors.js';
export type { LogLevel } from './core/log.js';
export type { QueueType } from './core/location.js';
