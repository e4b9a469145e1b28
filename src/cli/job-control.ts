/** `fj resume`, `fj status`, `fj cancel`: amqp jobs seen from outside their coordinator. */
import { cancel, resume, status } from '../detached/control.js';
import type { ItemFailure } from '../core/errors.js';
import type { JobLocation, JobStatus } from '../store/job-records.js';
import type { StageView } from '../store/pipeline-records.js';
import type { Streams } from './streams.js';
import { printable } from '../core/printable.js';
import { runWithSignals, type RunFlags } from './run.js';

/** Re-attaches to a job whose coordinator died; prints its output like `fj run`. */
export async function resumeCommand(
  jobId: string,
  flags: Partial<RunFlags> & { task?: string },
  io: Streams,
): Promise<void> {
  await runWithSignals(jobId, flags, io, (options) => resume(jobId, { ...options, task: flags.task }));
}

/** Prints a job's progress: done, failed, in flight, and whether a coordinator is attached. */
export async function statusCommand(
  jobId: string,
  flags: JobLocation & { json?: boolean },
  io: Streams,
): Promise<void> {
  const report = await status(jobId, flags);
  if (flags.json) return void io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  const s = report.status;
  const q = report.resultsQueue;
  const lines = [`${report.stages ? 'pipeline' : 'job'} ${jobId}`];
  if (s) {
    // A record still saying "running" with no coordinator attached is what its coordinator last wrote before it stopped (or lost its store).
    // A pipeline has no coordinator of its own: its stages' jobs have (`stage` names the one it is at).
    const stale =
      s.state === 'running' && !s.stage && (q?.coordinators ?? 0) === 0
        ? ` (stale: no coordinator is attached; last written ${s.updated})`
        : '';
    lines.push(`  state:      ${s.state}${s.error ? ` (${printable(s.error)})` : ''}${printable(stale)}`);
    lines.push(...dueLine(s));
    if (s.state === 'running' && s.phase) lines.push(`  phase:      ${s.phase}`);
    if (s.state === 'running' && s.stage) lines.push(`  stage:      ${printable(s.stage)}`);
    lines.push(`  task:       ${printable(s.task)}`);
    if (!report.stages)
      lines.push(
        `  items:      ${s.done} done, ${s.failed} failed, ${s.total ?? 'unknown'} in all (${s.retried} retried)`,
      );
    for (const f of (report.failures ?? []).slice(0, 20)) lines.push(`  failed:     ${failureLine(f)}`);
    if (s.state === 'running' && !report.stages) lines.push(`  in flight:  ${s.inFlightMessages} message(s)`);
    if (s.started) lines.push(`  started:    ${new Date(s.started).toISOString()}`);
    lines.push(
      `  updated:    ${printable(s.updated)}${s.coordinator ? ` by ${printable(s.coordinator)}` : ''}${s.coordinatorHost && s.coordinatorHost !== s.coordinator ? ` (${printable(s.coordinatorHost)})` : ''}`,
    );
  } else lines.push('  no status record yet');
  if (report.stages) {
    // A pipeline runs no items and has no results queue or pool of its own: its stages' jobs have.
    lines.push('  stages:', ...stageLines(report.stages));
    return void io.stdout.write(`${lines.join('\n')}\n`);
  }
  if (q)
    lines.push(
      `  coordinator: ${q.coordinators > 0 ? 'attached' : `none (resume with 'fj resume ${jobId}')`}; ${q.messages} result message(s) waiting`,
    );
  else if (s?.state !== 'scheduled') lines.push('  results queue: gone (the job ended)');
  const p = report.pool;
  if (p) lines.push(`  pool:       ${p.name}: ${p.messages} message(s) queued, ${p.workers} worker(s)`);
  io.stdout.write(`${lines.join('\n')}\n`);
}

/** A pipeline's stages, one line each and aligned: number, name, job id, state (phase), items; the current one marked. */
function stageLines(stages: StageView[]): string[] {
  const rows = stages.map((t) =>
    [
      t.number === 0 ? 'on-error' : String(t.number),
      t.name,
      t.job,
      t.phase && t.state === 'running' ? `${t.state} (${t.phase})` : t.state,
      t.state === 'pending' || t.state === 'not run'
        ? '-'
        : `${t.done}${t.failed ? `+${t.failed} failed` : ''}/${t.total ?? '?'}`,
      t.current ? '<- current' : '',
    ].map(printable),
  );
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => `    ${r.map((c, i) => c.padEnd(widths[i])).join('  ')}`.trimEnd());
}

/**
 * `item 3 on worker-a: boom (after 2 attempts)`: a failed item as `fj status` and `fj result` print it,
 * control characters escaped (see printable).
 */
export function failureLine(f: ItemFailure): string {
  // The message says "(after N attempts)" when there were more than one (see Ledger.fail).
  return printable(`item ${f.index}${f.worker ? ` on ${f.worker}` : ''}: ${f.error.message}`);
}

/** Cancels a job everywhere; cleans up itself when no coordinator is attached. */
export async function cancelCommand(jobId: string, flags: JobLocation, io: Streams): Promise<void> {
  const { coordinator, pending, detached, pool, pipeline } = await cancel(jobId, flags, 'cli');
  if (pipeline)
    return void io.stderr.write(
      `fj: pipeline ${jobId} cancelled${pipeline.stages.length ? ` (its stage job ${pipeline.stages.join(', ')} stops)` : ''}; its on-error stage runs, if it has one ('fj result ${jobId} --wait' waits for its end)\n`,
    );
  if (detached)
    return void io.stderr.write(
      `fj: job ${jobId} cancelled before any coordinator attached ('fj result ${jobId}' gives 130 until it expires)\n`,
    );
  if (pending) {
    io.stderr.write(
      `fj: no job ${jobId} has attached yet; its cancel is recorded in the store, and a job with this id stops before running any item\n`,
    );
    return;
  }
  const left = pool?.messages
    ? `; pool ${pool.name} still holds ${pool.messages} queued message(s), this job's among them: its workers drop this job's as they take them`
    : '';
  io.stderr.write(
    `fj: job ${jobId} cancelled${coordinator ? '' : ` (no coordinator was attached: its results queue and store data are deleted${left})`}\n`,
  );
}

/** A delayed job's due time, while it waits for it. */
function dueLine(s: JobStatus): string[] {
  return s.state === 'scheduled' && s.due !== undefined
    ? [`  due:        ${new Date(s.due).toISOString()} (a worker of its pool starts it then)`]
    : [];
}
