/**
 * The parts of a job's manifest (./job-records.ts) that a submitted
 * pipeline's plan (./pipeline-records.ts) holds for each stage too: the task
 * the job names and the job's settings.
 */

/**
 * The task a job names. On resume, only names the task for messages and
 * checks (its code hash): the code that runs is the code the resuming user
 * (or a worker) brings, never a module path read from the store.
 */
export interface TaskRef {
  name: string;
  module: string | undefined;
  className: string;
  codeHash: string;
}

/** A job's settings, as its manifest keeps them. */
export interface JobSettings {
  retries?: number;
  retryDelayMs: number;
  onFailure: string;
  maxFailures?: number | string;
  /** `maxResults` (absent in records written before it existed: the default). */
  maxResults?: number;
  itemTimeoutMs?: number;
  /** `rateLimit` (items a second), when the job had one of its own. */
  rateLimit?: number;
  inlineLimit: number;
  /** `onCodeChange` (absent in records written before it existed: `fail`). */
  onCodeChange?: string;
  /** `weight` on its pool (absent: 1). */
  weight?: number;
  /** `priority` on its pool (absent: 0). */
  priority?: number;
  /** `tenant` (absent: none). */
  tenant?: string;
  /** The pool's queue type, `classic` or `quorum` (absent in records written before it existed: the coordinator's own, by default classic). */
  queueType?: string;
}
