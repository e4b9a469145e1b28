/** `fj schedule add|pause|resume|remove` and `fj schedules`: periodic jobs, declared for commander (handlers in schedule-commands.ts). */
import type { Command } from 'commander';
import { MAX_RESULT_TTL_DAYS } from '../core/job-options.js';
import { duration, failureOptions, int, shareOptions } from './flags.js';
import type { Streams } from './streams.js';

const handlers = () => import('./schedule-commands.js');
const STORE = '--store <url>';
const STORE_HELP = 'the payload store of the cluster (default $FJ_STORE_URL or a temp dir)';

/** Adds the schedule commands to `program`. */
export function scheduleCommands(program: Command, io: Streams): void {
  const schedule = program
    .command('schedule')
    .description(
      "periodic jobs: a task run at every tick of a cron expression by the pool's workers (see fj schedules)",
    );
  const add = schedule
    .command('add')
    .description(
      "add a schedule: TASK runs with INPUT at every tick of --cron, each tick as a detached job <name>.<tick> on the pool's workers",
    )
    .argument('<name>', 'the schedule: 1-64 letters, digits, _ or -')
    .argument('<task>', 'a built-in task name or a task module (the workers must serve the same code)')
    .argument('<input>', "the input JSON file, or '-' for standard input (validated now, kept in the schedule)")
    .requiredOption(
      '--cron <expr>',
      'when: 5 fields (minute hour day month weekday, "0 2 * * *") or 6 with seconds first ("*/10 * * * * *")',
    )
    .option('--tz <zone>', 'the IANA time zone the cron expression is read in, like Europe/Berlin (default UTC)')
    .option('--paused', 'add it paused (fj schedule resume starts it)')
    .option('--label <text>', "each job's description (default: <task> (schedule <name>))")
    .option(
      '--result-ttl <duration>',
      `keep each job's output and records this long after it ends: 90s, 30m, 12h, 7d (default 7d, at most ${MAX_RESULT_TTL_DAYS}d)`,
      duration('--result-ttl', MAX_RESULT_TTL_DAYS),
    )
    .option('--queue <name>', "worker pool that runs it (default: the task's queue, $FJ_QUEUE or fj.default)")
    .option(STORE, STORE_HELP)
    .option(
      '--inline-limit <bytes>',
      'items/results larger than this travel by store reference (default 65536)',
      int('--inline-limit'),
    );
  failureOptions(shareOptions(add, 'each job: ')).action(async (name, task, input, flags) =>
    (await handlers()).scheduleAddCommand(name, task, input, flags, io),
  );
  for (const [verb, what] of [
    ['pause', 'pause a schedule: no tick runs until it is resumed'],
    ['resume', 'resume a paused schedule: ticks from now on run (those missed while paused do not)'],
    ['remove', 'remove a schedule (the jobs it ran stay)'],
  ] as const)
    schedule
      .command(verb)
      .description(what)
      .argument('<name>', 'the schedule')
      .option(STORE, STORE_HELP)
      .action(async (name, flags) => (await handlers()).scheduleChangeCommand(verb, name, flags, io));

  program
    .command('schedules')
    .description('list the schedules: name, task, cron, time zone, pool, next tick, last run and its job, paused')
    .option('--json', 'print JSON')
    .option(STORE, STORE_HELP)
    .action(async (flags) => (await handlers()).schedulesCommand(flags, io));
}
