/**
 * Work message ids: `<job>:<run>:<seq>`, where `run` is the coordinator
 * run's tag (24 hex digits, unguessable) and `seq` counts its messages. The
 * coordinator counts only answers to ids it issued; a worker reads the run
 * from the id to tell a live coordinator's message from a stranger's, and a
 * cancelled run's messages from a later run of the same job id.
 */

/** A run's tag: 12 random bytes, in hex. */
const RUN = /^[0-9a-f]{24}$/;
const SEQ = /^(?:0|[1-9][0-9]{0,15})$/;

/** The id of message `seq` of run `run` of job `job`. */
export function messageId(job: string, run: string, seq: number): string {
  return `${job}:${run}:${seq}`;
}

/** Whether `run` has the shape of a run tag. */
export function isRunTag(run: unknown): run is string {
  return typeof run === 'string' && RUN.test(run);
}

/** The run and sequence number of a message id of job `job`; undefined when `id` is not one. */
export function parseMessageId(id: unknown, job: string): { run: string; seq: number } | undefined {
  if (typeof id !== 'string' || !id.startsWith(`${job}:`)) return undefined;
  const [run, seq, ...rest] = id.slice(job.length + 1).split(':');
  if (rest.length || !isRunTag(run) || !SEQ.test(seq ?? '')) return undefined;
  return { run, seq: Number(seq) };
}
