/**
 * fj's public surface. Everything a program or a task needs is named here;
 * anything not exported from this file is internal.
 */
export { ForkJoinTask, type TaskClass, type InputOf, type OutputOf } from './task/fork-join-task.js';
export { FoldTask } from './task/fold-task.js';
export type { CombineContext, ItemSource, JoinContext, Logger, MaybePromise, ProcessContext, SeedContext, ServicesFactory, SetupContext } from './task/types.js';
export { run, runJob, validate, resolveTask, resume, type JobResult, type ResumeOptions } from './run.js';
export { status, cancel, submit, rerunFailed, attach, listJobs, listWorkers, forget, JobHandle, type JobLocation, type JobReport, type SubmitOptions, type JobView, type ResultOptions, type ListJobsOptions, type WorkerView } from './jobs.js';
export type { JobState } from './store/job-index.js';
export type { JobStatus } from './job-records.js';
export { loadTask, builtinTaskNames, type TaskInfo } from './task/registry.js';
export { normalizeOptions, OptionError, DEFAULT_BROKER, EXECUTORS, type ExecutorName, type FailurePolicy, type JobStats, type LawCheckOptions, type Progress, type RunOptions } from './options.js';
export { FjError, UsageError, InputError, CodecError, TaskError, TransportError, NotFoundError, WorkerRefusedError, InternalError, UnrecoverableError, FailuresError, CancelledError, LawsError, isRetryable, type HookName, type ItemFailure, type Where } from './errors.js';
export type { LogLevel } from './log.js';
