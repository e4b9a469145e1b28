/** `fj resume`, `fj status`, `fj cancel`: amqp jobs seen from outside their coordinator. */
import { cancel, status, type JobLocation } from '../jobs.js';
import { resume } from '../run.js';
import type { Streams } from './streams.js';
import { runWithSignals, type RunFlags } from './run.js';

/** Re-attaches to a job whose coordinator died; prints its output like `fj run`. */
export async function resumeCommand(jobId: string, flags: Partial<RunFlags> & { task?: string }, io: Streams): Promise<void> {
  await runWithSignals(jobId, flags, io, (options) => resume(jobId, { ...options, task: flags.task }));
}

/** Prints a job's progress: done, failed, in flight, and whether a coordinator is attached. */
export async function statusCommand(jobId: string, flags: JobLocation & { json?: boolean }, io: Streams): Promise<void> {
  const report = await status(jobId, flags);
  if (flags.json) return void io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  const s = report.status;
  const q = report.resultsQueue;
  const lines = [`job ${jobId}`];
  if (s) {
    // A record still saying "running" with no coordinator attached is what its coordinator last wrote before it stopped (or lost its store).
    const stale = s.state === 'running' && (q?.coordinators ?? 0) === 0 ? ` (stale: no coordinator is attached; last written ${s.updated})` : '';
    lines.push(`  state:      ${s.state}${s.error ? ` (${s.error})` : ''}${stale}`);
    lines.push(`  task:       ${s.task}`);
    lines.push(`  items:      ${s.done} done, ${s.failed} failed, ${s.total ?? 'unknown'} in all (${s.retried} retried)`);
    lines.push(`  in flight:  ${s.inFlightMessages} message(s)`);
    lines.push(`  updated:    ${s.updated} by ${s.coordinator}`);
  } else lines.push('  no status record yet');
  if (q) lines.push(`  coordinator: ${q.coordinators > 0 ? 'attached' : `none (resume with 'fj resume ${jobId}')`}; ${q.messages} result message(s) waiting`);
  else lines.push('  results queue: gone (the job ended)');
  io.stdout.write(`${lines.join('\n')}\n`);
}

/** Cancels a job everywhere; cleans up itself when no coordinator is attached. */
export async function cancelCommand(jobId: string, flags: JobLocation, io: Streams): Promise<void> {
  const { coordinator, pending, detached } = await cancel(jobId, flags);
  if (detached) return void io.stderr.write(`fj: job ${jobId} cancelled before any coordinator attached ('fj result ${jobId}' gives 130 until it expires)\n`);
  if (pending) {
    io.stderr.write(`fj: no job ${jobId} has attached yet; its cancel is recorded in the store, and a job with this id stops before running any item\n`);
    return;
  }
  io.stderr.write(`fj: job ${jobId} cancelled${coordinator ? '' : ' (no coordinator was attached: its queue and store data are deleted)'}\n`);
}
