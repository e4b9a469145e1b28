/**
 * An on-error stage for any pipeline: writes the pipeline's failure (its
 * `PipelineFailure`, with the time) as one JSON file, a record that a person
 * or a script picks up later, and logs where it went. The record is written
 * once, by `join`, in the process that runs the pipeline; a record is never
 * half-written (it is written beside its place, then renamed).
 *
 * Where: the folder `$FJ_FAILURE_DIR`, else `fj-failures` in the working
 * directory, created if missing. The file is named after the pipeline and
 * the time, `align-campaign-2026-12-06T20-15-03-123Z-5f3a9c.json`.
 *
 * ```ts
 * pipeline(Prepare).pipe(Align).onError(FailureRecord, { executor: 'eager' });
 * ```
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join as joinPath, resolve } from 'node:path';
import { ForkJoinTask, type JoinContext, type PipelineFailure } from '../src/index.js';

/** The folder records go to when `$FJ_FAILURE_DIR` is not set, relative to the working directory. */
export const DEFAULT_FAILURE_DIR = 'fj-failures';

/** What a record holds: the failure, and when it was recorded. */
export interface FailureRecordFile extends PipelineFailure {
  /** ISO 8601 time the record was written. */
  recordedAt: string;
}

export interface FailureRecordOutput {
  /** The record's absolute path. */
  file: string;
}

export default class FailureRecord extends ForkJoinTask<
  PipelineFailure,
  never,
  never,
  FailureRecordOutput,
  { failure: PipelineFailure }
> {
  static override description = "Write a pipeline's failure as a JSON record in $FJ_FAILURE_DIR (an on-error stage)";
  static override schema = 'pipeline-failure';
  static override module = import.meta.url;

  override params(failure: PipelineFailure): { failure: PipelineFailure } {
    return { failure };
  }

  /** No items: the record is one write, done by `join`, which runs once. */
  setup(): never[] {
    return [];
  }

  process(): never {
    throw new Error('failure-record has no items');
  }

  join(_results: never[], { failure }: { failure: PipelineFailure }, ctx: JoinContext): FailureRecordOutput {
    const file = writeFailureRecord(failure);
    ctx.log.warn(`failure record of pipeline ${failure.pipeline}: ${file}`);
    return { file };
  }
}

/** Writes `failure` as a record in `dir` (default: `$FJ_FAILURE_DIR`, else ./fj-failures) and returns its path. */
export function writeFailureRecord(
  failure: PipelineFailure,
  dir = resolve(process.env.FJ_FAILURE_DIR || DEFAULT_FAILURE_DIR),
): string {
  const recordedAt = new Date();
  const record: FailureRecordFile = { recordedAt: recordedAt.toISOString(), ...failure };
  const name = `${failure.pipeline.replace(/[^\w.-]+/g, '_')}-${recordedAt.toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`;
  try {
    mkdirSync(dir, { recursive: true });
    const file = joinPath(dir, `${name}.json`);
    const partial = joinPath(dir, `.${name}.json.partial`);
    writeFileSync(partial, `${JSON.stringify(record, null, 2)}\n`, { flag: 'wx' });
    renameSync(partial, file);
    return file;
  } catch (err) {
    throw new Error(
      `cannot write the failure record in ${dir}: ${(err as Error).message} (set FJ_FAILURE_DIR to a folder this process can write)`,
      { cause: err },
    );
  }
}
