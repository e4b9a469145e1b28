/**
 * Periodic jobs: schedules (`fj schedule add`, `addSchedule()`), kept in the
 * store and run by the pool's workers (worker/scheduler.ts), not by a
 * process of their own.
 *
 * A schedule is two records, so that no writer overwrites another's change:
 * its definition (`schedules` beacon: task, input, cron, time zone, job
 * settings, paused), written only by the commands here, and its last run
 * (`schedule-runs` beacon: the tick, the job id, which worker), written only
 * by the scheduler. Both are sealed with the signing key when there is one;
 * a definition that is not signed with the pool's key is never run.
 *
 * Each tick's job has a deterministic id, `<name>.<tick>` (tick as
 * `20261207T020000Z`): a tick submitted twice (two schedulers racing as the
 * lease moves) is one job, and `fj jobs` shows which tick a job ran for.
 */
import { Cron } from 'croner';
import { UsageError } from '../core/errors.js';
import { ITEM_POLICY_KEYS, normalizeOptions } from '../core/job-options.js';
import { DEFAULT_QUEUE, locate } from '../core/location.js';
import { openRecord, sealRecord, signerFrom, type Signer } from '../core/signing.js';
import type { JobLocation } from '../store/job-records.js';
import { openStore } from '../store/open.js';
import type { PayloadStore } from '../store/store.js';
import type { TaskClass } from '../task/fork-join-task.js';
import { resolveTask } from '../task/registry.js';
import { resultTtl, type SubmitOptions } from './submit.js';

/** A schedule's name: 1-64 letters, digits, `_` or `-` (it starts each of its job ids). */
const NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** Definitions live this long unless written again (nothing in a store lives forever): 10 years. */
const KEEP_MS = 10 * 365 * 24 * 3600 * 1000;
/** A schedule's input is kept in its record: at most this many bytes of JSON. */
export const MAX_SCHEDULE_INPUT = 256 * 1024;

/** The settings of {@link SubmitOptions} a schedule keeps and passes to each of its jobs. */
const SCHEDULE_JOB_KEYS = [
  'label',
  'resultTtlMs',
  ...ITEM_POLICY_KEYS,
  'inlineLimit',
  'onCodeChange',
  'weight',
  'priority',
  'tenant',
] as const satisfies readonly (keyof SubmitOptions)[];

/** The job settings a schedule passes to each of its jobs (as {@link SubmitOptions}). */
export type ScheduleJobOptions = Pick<SubmitOptions, (typeof SCHEDULE_JOB_KEYS)[number]>;

/** Options of {@link addSchedule}. */
export interface ScheduleOptions extends ScheduleJobOptions, Pick<JobLocation, 'store' | 'signingKey'> {
  /** When to run: a cron expression, 5 fields (minute hour day month weekday) or 6 (seconds first). Required. */
  cron: string;
  /** The IANA time zone the cron expression is read in (`Europe/Berlin`). Default: UTC. */
  timezone?: string;
  /** The pool whose workers run it. Default: the task's `queue`, `FJ_QUEUE`, else `fj.default`. */
  queue?: string;
  /** Added paused: it runs once resumed. Default false. */
  paused?: boolean;
  /** What to call the input in error messages (a file name). Default `input`. */
  source?: string;
}

/** A schedule's definition, as the store keeps it. */
export interface ScheduleRecord {
  version: 1;
  name: string;
  /** The task's name: the pool's workers must serve it. */
  task: string;
  cron: string;
  /** IANA time zone; absent: UTC. */
  timezone?: string;
  queue: string;
  /** The input, validated when the schedule was added (and again as each job is submitted). */
  input: unknown;
  job: ScheduleJobOptions;
  /** When it was added (ms since the epoch). */
  created: number;
  /** Ticks after this time run (ms since the epoch): when it was added, or last resumed. */
  since: number;
  paused: boolean;
}

/** A schedule's last run, as the scheduler records it. */
export interface ScheduleRun {
  /** The tick it ran for (ISO time). */
  tick: string;
  /** The tick's job id. */
  job: string;
  /** When the job was submitted (ms since the epoch). */
  at: number;
  /** The worker whose scheduler submitted it. */
  by: string;
  /** Why the tick did not run (its input no longer valid, its task unknown to that worker); `job` is empty then. */
  error?: string;
}

/** A schedule as {@link listSchedules} shows it. */
export interface ScheduleView extends ScheduleRecord {
  /** Its next tick (ISO time), or null when paused or none is left. */
  next: string | null;
  /** Its last run, if any. */
  last?: ScheduleRun;
}

/** Throws UsageError unless `name` is a well-formed schedule name. */
export function checkScheduleName(name: string): string {
  if (typeof name !== 'string' || !NAME.test(name))
    throw new UsageError(`invalid schedule name ${JSON.stringify(name)}: use 1-64 letters, digits, "_" or "-"`);
  return name;
}

/**
 * The cron expression read in its time zone; UsageError naming the one that
 * is wrong (a bad field, an unknown zone).
 */
export function parseCron(cron: string, timezone: string | undefined): Cron {
  if (typeof cron !== 'string' || cron.trim() === '')
    throw new UsageError('a schedule needs a cron expression (--cron "0 2 * * *")');
  let c: Cron;
  try {
    c = new Cron(cron, { paused: true, ...(timezone ? { timezone } : {}) });
  } catch (err) {
    throw new UsageError(`--cron ${JSON.stringify(cron)}: ${(err as Error).message.replace(/^CronPattern: /, '')}`);
  }
  if (timezone !== undefined) {
    // croner checks the zone only when it computes a time.
    try {
      new Intl.DateTimeFormat('en', { timeZone: timezone });
      c.nextRun();
    } catch {
      throw new UsageError(`--tz ${JSON.stringify(timezone)} is not an IANA time zone (like Europe/Berlin, UTC)`);
    }
  }
  return c;
}

/**
 * Adds a schedule: `task` runs with `input` at every tick of `options.cron`
 * on the pool's workers, each tick as a detached job `<name>.<tick>`. The
 * input is validated now (an invalid one adds nothing). UsageError for a bad
 * name, cron expression or time zone, or a name in use; InputError for an
 * invalid input.
 */
export async function addSchedule(
  name: string,
  task: TaskClass | string,
  input: unknown,
  options: ScheduleOptions,
): Promise<ScheduleView> {
  checkScheduleName(name);
  const cron = parseCron(options.cron, options.timezone);
  const info = await resolveTask(task);
  const job = jobOptionsOf(options);
  normalizeOptions({ ...job, executor: 'amqp' }); // OptionError naming a bad setting, now rather than at each tick
  if (job.resultTtlMs !== undefined) resultTtl(job.resultTtlMs);
  const valid = structuredClone(input);
  await info.validate(valid, options.source);
  if (JSON.stringify(valid).length > MAX_SCHEDULE_INPUT)
    throw new UsageError(
      `${options.source ?? 'input'}: a schedule's input is kept in its record, at most ${MAX_SCHEDULE_INPUT} bytes of JSON: put large data in a file the task reads`,
    );
  const queue = normalizeOptions({ queue: options.queue, executor: 'amqp' }).queue ?? info.queue ?? DEFAULT_QUEUE;
  const now = Date.now();
  const record: ScheduleRecord = {
    version: 1,
    name,
    task: info.name,
    cron: options.cron,
    ...(options.timezone ? { timezone: options.timezone } : {}),
    queue,
    input: valid,
    job,
    created: now,
    since: now,
    paused: options.paused ?? false,
  };
  return withSchedules(options, async (store, signer) => {
    if (await readDefinition(store, name, signer).catch(() => true))
      throw new UsageError(`schedule ${name} exists: 'fj schedule remove ${name}' first, or pick another name`);
    await writeDefinition(store, record, signer);
    return viewOf(record, undefined, cron);
  });
}

/** The schedules in the store, by name; with a signer, only those signed with its key. */
export async function listSchedules(where: JobLocation = {}): Promise<ScheduleView[]> {
  return withSchedules(where, scheduleViews);
}

/** The schedules in an open store, by name, with their next tick and last run (`fj schedules`, the dashboard). */
export async function scheduleViews(store: PayloadStore, signer: Signer | undefined): Promise<ScheduleView[]> {
  const [schedules, runs] = await Promise.all([readSchedules(store, signer), readRuns(store, signer)]);
  return schedules.map((r) => viewOf(r, runs.get(r.name))).sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Pauses a schedule: no tick runs until it is resumed. UsageError when there is no such schedule. */
export function pauseSchedule(name: string, where: JobLocation = {}): Promise<ScheduleView> {
  return changeSchedule(name, where, (r) => ({ ...r, paused: true }));
}

/** Resumes a paused schedule: ticks after now run (those missed while paused do not). */
export function resumeSchedule(name: string, where: JobLocation = {}): Promise<ScheduleView> {
  return changeSchedule(name, where, (r) => (r.paused ? { ...r, paused: false, since: Date.now() } : r));
}

/** Removes a schedule (the jobs it ran stay, with their records). UsageError when there is no such schedule. */
export async function removeSchedule(name: string, where: JobLocation = {}): Promise<void> {
  checkScheduleName(name);
  await withSchedules(where, async (store, signer) => {
    if (!(await readDefinition(store, name, signer))) throw noSchedule(name, store);
    await Promise.all([store.putBeacon('schedules', name, '', 1), store.putBeacon('schedule-runs', name, '', 1)]);
  });
}

async function changeSchedule(
  name: string,
  where: JobLocation,
  change: (r: ScheduleRecord) => ScheduleRecord,
): Promise<ScheduleView> {
  checkScheduleName(name);
  return withSchedules(where, async (store, signer) => {
    const r = await readDefinition(store, name, signer);
    if (!r) throw noSchedule(name, store);
    const next = change(r);
    await writeDefinition(store, next, signer);
    return viewOf(next, (await readRuns(store, signer)).get(name));
  });
}

function noSchedule(name: string, store: PayloadStore): UsageError {
  return new UsageError(`no schedule ${name} in store ${store.url} ('fj schedules' lists them)`);
}

async function withSchedules<T>(
  where: JobLocation,
  fn: (store: PayloadStore, signer: Signer | undefined) => Promise<T>,
): Promise<T> {
  const signer = signerFrom(where.signingKey);
  const store = await openStore(locate(where).store);
  try {
    return await fn(store, signer);
  } finally {
    await store.close();
  }
}

function jobOptionsOf(o: ScheduleOptions): ScheduleJobOptions {
  return Object.fromEntries(SCHEDULE_JOB_KEYS.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}

function viewOf(r: ScheduleRecord, last: ScheduleRun | undefined, cron = parseCron(r.cron, r.timezone)): ScheduleView {
  const next = r.paused ? null : cron.nextRun(new Date(Math.max(Date.now(), r.since)));
  return { ...r, next: next ? next.toISOString() : null, ...(last ? { last } : {}) };
}

/** The id of a schedule's job for a tick: `<name>.<tick as 20261207T020000Z>`. */
export function tickJobId(name: string, tick: Date): string {
  return `${name}.${tick.toISOString().replace(/[-:]|\.\d+/g, '')}`;
}

/** Writes a schedule's definition, sealed when there is a signer. */
async function writeDefinition(store: PayloadStore, r: ScheduleRecord, signer: Signer | undefined): Promise<void> {
  const sealed = sealRecord(signer, 'schedule', r.name, JSON.stringify(r));
  await store.putBeacon('schedules', r.name, Buffer.from(sealed).toString('utf8'), KEEP_MS);
}

async function readDefinition(
  store: PayloadStore,
  name: string,
  signer: Signer | undefined,
): Promise<ScheduleRecord | undefined> {
  const b = (await store.listBeacons('schedules')).find((x) => x.name === name && x.text !== '');
  return b ? definitionOf(b.name, b.text, signer) : undefined;
}

/** A definition from its beacon, its seal checked; TransportError when it is unsigned (with a signer) or malformed. */
function definitionOf(name: string, text: string, signer: Signer | undefined): ScheduleRecord {
  const r = JSON.parse(openRecord(signer, 'schedule', name, Buffer.from(text))) as ScheduleRecord;
  if (r?.version !== 1 || r.name !== name || typeof r.cron !== 'string' || typeof r.task !== 'string')
    throw new UsageError(`schedule ${name}: its record in the store is malformed: not used`);
  return r;
}

/**
 * Every schedule in the store that can be used: with a signer, one not
 * signed with its key is left out (and `onBad` told why).
 */
export async function readSchedules(
  store: PayloadStore,
  signer: Signer | undefined,
  onBad: (name: string, why: string) => void = () => {},
): Promise<ScheduleRecord[]> {
  const out: ScheduleRecord[] = [];
  for (const b of await store.listBeacons('schedules')) {
    if (b.text === '') continue;
    try {
      out.push(definitionOf(b.name, b.text, signer));
    } catch (err) {
      onBad(b.name, (err as Error).message);
    }
  }
  return out;
}

/** The last run of every schedule that has run, by name (sealed records checked; bad ones left out). */
export async function readRuns(store: PayloadStore, signer: Signer | undefined): Promise<Map<string, ScheduleRun>> {
  const runs = new Map<string, ScheduleRun>();
  for (const b of await store.listBeacons('schedule-runs')) {
    if (b.text === '') continue;
    try {
      runs.set(b.name, JSON.parse(openRecord(signer, 'schedule-run', b.name, Buffer.from(b.text))) as ScheduleRun);
    } catch {
      // unsigned or malformed: as if it never ran (its tick's job id, if submitted, stops a second run)
    }
  }
  return runs;
}

/** Records a schedule's last run (the scheduler's only write). */
export async function writeRun(
  store: PayloadStore,
  name: string,
  run: ScheduleRun,
  signer: Signer | undefined,
): Promise<void> {
  const sealed = sealRecord(signer, 'schedule-run', name, JSON.stringify(run));
  await store.putBeacon('schedule-runs', name, Buffer.from(sealed).toString('utf8'), KEEP_MS);
}

/** The tick a schedule should run now, if any: the latest one due, and how many earlier ones were missed. */
export interface DueTick {
  tick: Date;
  /** Earlier ticks since the last run that will not run (no scheduler was up): counted up to 1000. */
  missed: number;
}

/**
 * The latest tick of `r` at or before `now` that is after both the time it
 * was added or resumed and its last run; undefined when none is (or it is
 * paused). Missed ticks are not all run: only the latest.
 */
export function dueTick(r: ScheduleRecord, last: ScheduleRun | undefined, now: number): DueTick | undefined {
  if (r.paused) return undefined;
  const cron = parseCron(r.cron, r.timezone);
  const lastTick = last ? Date.parse(last.tick) : NaN;
  const from = Math.max(r.since, Number.isFinite(lastTick) ? lastTick : 0);
  const first = cron.nextRun(new Date(from));
  if (!first || first.getTime() > now) return undefined;
  const latest = cron.previousRuns(1, new Date(now + 1))[0] ?? first;
  let missed = 0;
  for (let t: Date | null = first; t && t < latest && missed < 1000; t = cron.nextRun(t)) missed++;
  return { tick: latest, missed };
}
