/**
 * The one rule for job ids. A job id names a results queue, a directory in a
 * file store (`rm -r DIR/<jobId>`) and a Redis key part, and is read from
 * broker headers a stranger may have written: it must be safe as all three.
 */
import { UsageError } from './errors.js';

/** 1-100 of A-Z a-z 0-9 . _ -, not starting with "." (and, checked apart, without ".."). */
const JOB_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$/;

/** The rule, as error messages state it. */
export const JOB_ID_RULE = '1-100 letters, digits, ".", "_" or "-", not starting with "." and without ".."';

/** Whether `jobId` is a well-formed job id. */
export function isJobId(jobId: unknown): jobId is string {
  return typeof jobId === 'string' && JOB_ID.test(jobId) && !jobId.includes('..');
}

/** Returns `jobId` when well formed; UsageError naming the rule otherwise. */
export function checkJobId(jobId: string): string {
  if (!isJobId(jobId)) throw new UsageError(`invalid job id ${JSON.stringify(jobId)}: use ${JOB_ID_RULE}`);
  return jobId;
}
