/** `fj schedule add|pause|resume|remove`, `fj schedules`: periodic jobs, from argv to the public API. */
import {
  addSchedule,
  listSchedules,
  pauseSchedule,
  removeSchedule,
  resumeSchedule,
  type ScheduleView,
} from '../detached/schedules.js';
import type { JobLocation } from '../store/job-records.js';
import { printable } from '../core/printable.js';
import { loadTask } from '../task/registry.js';
import { readJsonInput } from './input.js';
import { jobOptions, ownSettings, type RunFlags } from './run.js';
import type { Streams } from './streams.js';

/** Options of `fj schedule add`. */
export interface ScheduleAddFlags extends Partial<RunFlags> {
  cron: string;
  tz?: string;
  paused?: boolean;
  label?: string;
  resultTtl?: number;
  queue?: string;
}

/** Validates the input and adds the schedule; prints its next tick on stderr. */
export async function scheduleAddCommand(
  name: string,
  task: string,
  inputPath: string,
  flags: ScheduleAddFlags,
  io: Streams,
): Promise<void> {
  const info = await loadTask(task);
  const { value, source } = await readJsonInput(inputPath);
  const o = jobOptions(flags);
  const s = await addSchedule(name, info.cls, value, {
    cron: flags.cron,
    timezone: flags.tz,
    paused: flags.paused,
    source,
    store: flags.store,
    queue: flags.queue,
    label: flags.label,
    resultTtlMs: flags.resultTtl === undefined ? undefined : Math.round(flags.resultTtl * 1000),
    ...ownSettings(flags, o),
    weight: o.weight,
    priority: o.priority,
    tenant: o.tenant,
  });
  io.stderr.write(
    `fj: schedule ${s.name} added (${s.task} on pool ${s.queue}); ${s.paused ? 'paused' : `next tick ${s.next ?? 'none'}`}\n`,
  );
}

/** `fj schedule pause|resume|remove NAME`. */
export async function scheduleChangeCommand(
  verb: 'pause' | 'resume' | 'remove',
  name: string,
  flags: JobLocation,
  io: Streams,
): Promise<void> {
  if (verb === 'remove') {
    await removeSchedule(name, flags);
    return void io.stderr.write(`fj: schedule ${name} removed\n`);
  }
  const s = await (verb === 'pause' ? pauseSchedule : resumeSchedule)(name, flags);
  io.stderr.write(`fj: schedule ${name} ${s.paused ? 'paused' : `runs; next tick ${s.next ?? 'none'}`}\n`);
}

/** Lists the schedules. */
export async function schedulesCommand(flags: JobLocation & { json?: boolean }, io: Streams): Promise<void> {
  const schedules = await listSchedules(flags);
  if (flags.json) return void io.stdout.write(`${JSON.stringify(schedules, null, 2)}\n`);
  if (schedules.length === 0) return void io.stdout.write('no schedules\n');
  const head = ['NAME', 'TASK', 'CRON', 'TZ', 'POOL', 'NEXT', 'LAST RUN', 'JOB', 'PAUSED'];
  const rows = schedules.map((s: ScheduleView) =>
    [
      s.name,
      s.task,
      s.cron,
      s.timezone ?? 'UTC',
      s.queue,
      s.next ? when(s.next) : '-',
      s.last ? when(s.last.tick) : '-',
      s.last ? s.last.job || `not run: ${s.last.error ?? '?'}` : '-',
      s.paused ? 'yes' : 'no',
    ].map(printable),
  );
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  io.stdout.write(`${[line(head), ...rows.map(line)].join('\n')}\n`);
}

function when(iso: string): string {
  return iso.replace('T', ' ').slice(0, 19);
}
