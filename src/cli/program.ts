/**
 * The `fj` command line as a function: {@link runCli} parses argv, runs one
 * command and returns its exit code — 0 success, 1 a hook failed, 2 usage or
 * input error, 3 broker or store trouble. `main.ts` calls it for the real
 * binary; tests call it in-process with their own stdout and stderr.
 */
import { Command, Option } from 'commander';
import { EXECUTORS, MAX_RESULT_TTL_DAYS } from '../core/job-options.js';
import {
  brokerOption,
  count,
  duration,
  failureOptions,
  shareOptions,
  tenantCap,
  tenantWeight,
  int,
  JOB_LOG_FORMAT_HELP,
  logFormatOption,
  seconds,
  queueTypeOption,
} from './flags.js';
import { report, reportJson } from './report.js';
import { scheduleCommands } from './schedule-program.js';
import { fjVersion } from '../core/paths.js';
import type { CliIO, Output, Streams } from './streams.js';

export type { CliIO, Output, Streams };

// Each command's module is imported when that command runs, so `fj run`
// starts without loading the dashboard's web server, the broker client or
// the worker (about 150 ms of every run's start-up on this machine).
const commands = {
  run: () => import('./run.js'),
  jobs: () => import('./job-control.js'),
  detached: () => import('./detached.js'),
  dashboard: () => import('./dashboard.js'),
  tasks: () => import('./tasks.js'),
  worker: () => import('./worker.js'),
  dead: () => import('./dead.js'),
};

/**
 * Runs `fj` with `argv` (the arguments after the program name, e.g.
 * `['run', 'wordcount', 'in.json']`) and resolves to the exit code; never
 * rejects and never sets `process.exitCode`. User errors print one line on
 * `io.stderr` (a stack only with `--verbose`); internal errors print a stack.
 */
export async function runCli(argv: string[], io: CliIO = {}): Promise<number> {
  const streams: Streams = { stdout: io.stdout ?? process.stdout, stderr: io.stderr ?? process.stderr };
  const verbose = argv.includes('--verbose') || argv.includes('-v');
  const json = argv.some((a, i) => a === '--log-format=json' || (a === '--log-format' && argv[i + 1] === 'json'));
  let exitCode = 0;
  try {
    await buildProgram(streams, (code) => (exitCode = code)).parseAsync(argv, { from: 'user' });
  } catch (err) {
    return json ? reportJson(err, streams.stderr, verbose) : report(err, streams.stderr, verbose);
  }
  return exitCode;
}

/**
 * A fresh commander program (commander keeps parse state on the object, so
 * one per call). `setExitCode` is for commands that end without throwing but
 * not successfully (a worker that lost its broker).
 */
// eslint-disable-next-line max-lines-per-function -- commander's declarations of every command, read top to bottom as the help lists them
function buildProgram(io: Streams, setExitCode: (code: number) => void): Command {
  // Configured before the subcommands are added: they copy these settings.
  const program = new Command('fj')
    .description('Fork-join parallel compute: run a task eagerly, on worker threads, or across hosts through RabbitMQ.')
    .configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) })
    .showHelpAfterError('(run with --help for usage)')
    .version(fjVersion(), '-V, --version', "print fj's version")
    .exitOverride();

  const run = program
    .command('run')
    .description('validate input, run a task and print its output (JSON) on stdout')
    .argument(
      '<task>',
      "a built-in task name (see 'fj tasks') or the path of a module whose default export is a ForkJoinTask subclass",
    )
    .argument('<input>', "the input JSON file, or '-' for standard input")
    .addOption(new Option('-e, --executor <name>', 'where items run').choices(EXECUTORS).default('local'))
    .option(
      '-c, --concurrency <n>',
      'worker threads (local) or items at once; default: available cores',
      int('--concurrency'),
    )
    .option(
      '--item-concurrency <n>',
      "items each thread runs at once, for a process() that awaits I/O (local, eager; amqp: items per message at least; default: the task's static concurrency, else 1)",
      int('--item-concurrency'),
    )
    .option('-o, --out <file>', 'write the output JSON to a file instead of stdout')
    .option('--stats <file>', 'write the job figures (items, messages, bytes, wallMs) as JSON to a file')
    .option('--services <module>', 'module whose default export builds ctx.services once per worker')
    .option('--no-progress', 'no progress bar (it shows only when stderr is a terminal anyway)')
    .option('-v, --verbose', 'log what happens, and print stack traces for every error')
    .addOption(logFormatOption(JOB_LOG_FORMAT_HELP))
    .addOption(brokerOption('amqp: '))
    .option(
      '--store <url>',
      'amqp: payload store, file://DIR or redis://HOST:PORT (default $FJ_STORE_URL or a temp dir)',
    )
    .option('--queue <name>', "amqp: worker pool queue (default: the task's queue, $FJ_QUEUE or fj.default)")
    .addOption(queueTypeOption('amqp: '))
    .option('--job-id <id>', 'amqp: job id (default: random)')
    .option('--keep', 'amqp: keep the job data in the store after the job ends')
    .option(
      '--inline-limit <bytes>',
      'amqp: items/results larger than this travel by store reference (default 65536)',
      int('--inline-limit'),
    );
  shareOptions(run, 'amqp: ');
  failureOptions(run).action(async (task, input, flags) => (await commands.run()).runCommand(task, input, flags, io));

  const resume = program
    .command('resume')
    .description(
      're-attach to an amqp job whose coordinator died: publish only items without a result, join once, print the output',
    )
    .argument('<job-id>', "the id 'fj run' printed")
    .option(
      '--task <name|module>',
      "the job's task, for a task module of its own (fj never loads code a store record names)",
    )
    .option('-o, --out <file>', 'write the output JSON to a file instead of stdout')
    .option('--stats <file>', 'write the job figures as JSON to a file')
    .option('--no-progress', 'no progress bar')
    .option('-v, --verbose', 'log what happens, and print stack traces for every error')
    .addOption(logFormatOption(JOB_LOG_FORMAT_HELP))
    .addOption(brokerOption())
    .option('--store <url>', 'the payload store the job ran with (default $FJ_STORE_URL or a temp dir)')
    .option('--keep', 'keep the job data in the store after the job ends');
  resume.action(async (jobId, flags) => (await commands.jobs()).resumeCommand(jobId, flags, io));

  program
    .command('status')
    .description('show an amqp job: items done, failed, in flight, and whether its coordinator is attached')
    .argument('<job-id>', "the id 'fj run' printed")
    .option('--json', 'print the report as JSON')
    .addOption(brokerOption())
    .option('--store <url>', 'the payload store the job runs with (default $FJ_STORE_URL or a temp dir)')
    .option('--queue <name>', "the job's pool, when its records no longer name it (default $FJ_QUEUE or fj.default)")
    .action(async (jobId, flags) => (await commands.jobs()).statusCommand(jobId, flags, io));

  program
    .command('cancel')
    .description('cancel an amqp job on every worker: abort its items in hand, drop its queued ones, clean up')
    .argument('<job-id>', "the id 'fj run' printed")
    .addOption(brokerOption())
    .option('--store <url>', 'the payload store the job runs with (default $FJ_STORE_URL or a temp dir)')
    .option('--queue <name>', "the job's pool, when its records no longer name it (default $FJ_QUEUE or fj.default)")
    .action(async (jobId, flags) => (await commands.jobs()).cancelCommand(jobId, flags, io));

  deadCommands(program, io);
  detachedCommands(program, io);
  scheduleCommands(program, io);

  program
    .command('dashboard')
    .description('serve the dashboard: a live web page and a JSON HTTP API for jobs, workers and queues')
    .option('--host <address>', 'address to bind (default 127.0.0.1; any other needs --token)')
    .option('--port <n>', 'port (default 8050)', count('--port'))
    .addOption(brokerOption())
    .option('--store <url>', 'the payload store of the cluster (default $FJ_STORE_URL or a temp dir)')
    .option(
      '--token <text>',
      'token every change (submit, cancel, ...) must carry (default $FJ_DASHBOARD_TOKEN, else a random one)',
    )
    .option('--tasks <module...>', 'task modules whose tasks can be submitted besides the built-in ones')
    .option('--queue <name>', "the pool submitted jobs go to (default: the task's queue, $FJ_QUEUE or fj.default)")
    .action(async (flags) => (await commands.dashboard()).dashboardCommand(flags, io));

  program
    .command('tasks')
    .description('list tasks with their descriptions: the built-in ones, or those of the modules named or of --dir')
    .argument('[modules...]', 'task modules to list (every task class each exports)')
    .option('--dir <folder>', 'list the task modules of this folder (e.g. tasks)')
    .action(async (modules, flags) => (await commands.tasks()).tasksCommand(modules, flags, io));

  program
    .command('validate')
    .description('check an input against a task schema, without running anything')
    .argument('<task>', 'a built-in task name or a task module path')
    .argument('<input>', "the input JSON file, or '-' for standard input")
    .action(async (task, input) => (await commands.tasks()).validateCommand(task, input, io));

  program
    .command('worker')
    .description('serve a worker pool: consume items from RabbitMQ and run process() for every task known here')
    .addOption(brokerOption())
    .option('--store <url>', 'payload store, file://DIR or redis://HOST:PORT (default $FJ_STORE_URL or a temp dir)')
    .option('--queue <name>', 'the pool (work queue) to join (default $FJ_QUEUE or fj.default)')
    .addOption(queueTypeOption())
    .option(
      '-c, --concurrency <n>',
      'worker threads running process(), two messages each in flight (default: available cores)',
      int('--concurrency'),
    )
    .option(
      '--item-concurrency <n>',
      "items each thread runs at once, for every task served (default: each task's static concurrency, else 1)",
      int('--item-concurrency'),
    )
    .option('--tasks <module...>', 'task modules to serve besides the built-in tasks')
    .option('--services <module>', 'module whose default export builds ctx.services once per worker thread')
    .option(
      '--max-message-bytes <n>',
      'dead-letter messages larger than this (default 8 MiB)',
      int('--max-message-bytes'),
    )
    .option(
      '--inline-limit <bytes>',
      'results larger than this go to the store by ref (default 65536)',
      int('--inline-limit'),
    )
    .option('--name <id>', 'worker identity in logs (default <host>.<queue>.<pid>)')
    .option(
      '--shutdown-timeout <seconds>',
      'on SIGTERM, wait this long for the work in hand, then give it back to the queue and exit (default 30)',
      seconds('--shutdown-timeout'),
    )
    .option(
      '--max-jobs <n>',
      'detached jobs (fj submit) this worker coordinates at once (default 4)',
      int('--max-jobs'),
    )
    .option('--no-coordinate', 'coordinate no detached jobs: a pure item worker')
    .option(
      '--tenant-cap <tenant=share>',
      "the most of this pool's slots a tenant's jobs (--tenant) hold together, e.g. team-a=50% or team-a=0.5; repeat for several tenants",
      tenantCap,
    )
    .option(
      '--tenant-weight <tenant=weight>',
      "a tenant's weight on this pool: tenants share the slots in proportion to their weights (default 1 each), e.g. team-a=3; repeat for several tenants",
      tenantWeight,
    )
    .option(
      '--wait-broker <seconds>',
      'at start, keep trying to reach the broker this long, logging each attempt (default 300)',
      seconds('--wait-broker'),
    )
    .option('--no-wait-broker', 'fail at once (exit 3) when the broker does not answer at start')
    .addOption(
      logFormatOption('text (each line starting with its time) or json (one object per line, for log collectors)'),
    )
    .option('-q, --quiet', 'log warnings and errors only')
    .option('-v, --verbose', 'log everything')
    .action(async (flags) => {
      // workerCommand reports a lost connection through process.exitCode; turn that into our return value.
      const before = process.exitCode;
      await (await commands.worker()).workerCommand(flags);
      if (process.exitCode !== before) {
        setExitCode(Number(process.exitCode));
        process.exitCode = before;
      }
    });

  return program;
}

/** `fj submit`, `fj result`, `fj jobs`, `fj workers`, `fj forget`: detached jobs and the cluster. */
function detachedCommands(program: Command, io: Streams): void {
  const store = '--store <url>';
  const storeHelp = 'the payload store of the cluster (default $FJ_STORE_URL or a temp dir)';
  const submit = program
    .command('submit')
    .description(
      'validate input, queue a detached job for the cluster (a worker coordinates it), print its id; --wait then waits like fj run',
    )
    .argument('<task>', 'a built-in task name or a task module (the workers must serve the same code)')
    .argument('<input>', "the input JSON file, or '-' for standard input")
    .option('--label <text>', "the job's description, shown wherever jobs are listed (default: the task's description)")
    .option(
      '--result-ttl <duration>',
      `keep the output and records this long after the job ends: 90s, 30m, 12h, 7d (default 7d, at most ${MAX_RESULT_TTL_DAYS}d)`,
      duration('--result-ttl', MAX_RESULT_TTL_DAYS),
    )
    .option(
      '--at <time>',
      'a delayed job: start it at this ISO 8601 time (2026-12-08T02:00:00Z); it is listed scheduled until then',
    )
    .option('--in <duration>', 'a delayed job: start it this long from now: 90s, 15m, 2h, 3d', duration('--in', 366))
    .option('--wait', 'wait for the end and print the output like fj run (same exit codes)')
    .option('-o, --out <file>', 'with --wait: write the output JSON to a file')
    .option('--no-progress', 'with --wait: no progress bar')
    .addOption(brokerOption())
    .option(store, storeHelp)
    .option('--queue <name>', "worker pool (default: the task's queue, $FJ_QUEUE or fj.default)")
    .addOption(queueTypeOption())
    .option('--job-id <id>', 'job id (default: random)')
    .option(
      '--inline-limit <bytes>',
      'items/results larger than this travel by store reference (default 65536)',
      int('--inline-limit'),
    );
  shareOptions(submit);
  failureOptions(submit).action(async (task, input, flags) =>
    (await commands.detached()).submitCommand(task, input, flags, io),
  );

  program
    .command('rerun')
    .description(
      'submit a new detached job that runs only the items an ended job left without a result (failed, or dropped by fail-fast), from the results it kept; print its id. Of a failed pipeline: a new pipeline from the stage that did not succeed (its failed items), then the stages after it',
    )
    .argument('<job-id>', 'the ended job or pipeline')
    .option(
      '--task <name|module>',
      "the job's task (or the pipeline's module), for a module of its own (fj never loads code a store record names); its code now runs the failed items",
    )
    .option('--label <text>', "the new job's description (default: failed items of <the job's label>)")
    .option('--queue <name>', "worker pool (default: the job's)")
    .option('--wait', 'wait for the end and print the output like fj run (same exit codes)')
    .option('-o, --out <file>', 'with --wait: write the output JSON to a file')
    .option('--no-progress', 'with --wait: no progress bar')
    .addOption(brokerOption())
    .option(store, storeHelp)
    .action(async (jobId, flags) => (await commands.detached()).rerunCommand(jobId, flags, io));

  program
    .command('result')
    .description(
      "print a detached job's output (exit 0), or the error it ended with (1 failed, 130 cancelled, 2 unknown or expired)",
    )
    .argument('<job-id>', "the id 'fj submit' printed")
    .option('--wait', 'wait for the job to end (without it, a job still running gives exit 124)')
    .option(
      '--timeout <seconds>',
      'with --wait: give up after this long (exit 124; the job goes on)',
      seconds('--timeout'),
    )
    .option('-o, --out <file>', 'write the output JSON to a file instead of stdout')
    .option('--no-progress', 'no progress bar while waiting')
    .option(store, storeHelp)
    .action(async (jobId, flags) => (await commands.detached()).resultCommand(jobId, flags, io));

  program
    .command('jobs')
    .description('list the recent detached jobs, newest first: id, state, task, items, times, coordinator, label')
    .option('--state <state>', 'only jobs in this state: scheduled, queued, running, succeeded, failed, cancelled')
    .option('--task <name>', 'only jobs of this task')
    .option('--limit <n>', 'at most this many (default 20)', int('--limit'))
    .option('--json', 'print JSON')
    .option(store, storeHelp)
    .action(async (flags) => (await commands.detached()).jobsCommand(flags, io));

  program
    .command('workers')
    .description(
      'list the workers heard from lately: pool, busy threads, items, jobs coordinating, last heartbeat, stale code',
    )
    .option('--json', 'print JSON')
    .option(store, storeHelp)
    .action(async (flags) => (await commands.detached()).workersCommand(flags, io));

  program
    .command('forget')
    .description("remove an ended detached job's output and records now (they expire by themselves after --result-ttl)")
    .argument('<job-id>', 'the job')
    .option(store, storeHelp)
    .action(async (jobId, flags) => (await commands.detached()).forgetCommand(jobId, flags, io));
}

/** `fj dead list|show N|requeue|purge`: a pool's dead-letter queue. */
function deadCommands(program: Command, io: Streams): void {
  const dead = program
    .command('dead')
    .description(
      "a pool's dead letters (<queue>.dead): list them, show one, send them back for another try, or purge them",
    )
    .option('--queue <name>', 'the pool (default $FJ_QUEUE or fj.default)')
    .addOption(brokerOption());
  const flags = (cmd: Command) => cmd.optsWithGlobals();
  dead
    .command('list', { isDefault: true })
    .description('count, then each message: id, job, task, reason, size, a short safe preview')
    .option('--limit <n>', 'list at most this many (default 20)', int('--limit'))
    .option('--json', 'print JSON')
    .action(async (_o, cmd: Command) => (await commands.dead()).deadListCommand(flags(cmd), io));
  dead
    .command('show')
    .description('one message in full: every header, a longer preview')
    .argument('<n>', 'its number in the list', int('<n>'))
    .option('--json', 'print JSON')
    .action(async (n: number, _o, cmd: Command) => (await commands.dead()).deadShowCommand(n, flags(cmd), io));
  dead
    .command('requeue')
    .description(
      "send every dead letter back for another try: an item message to its code's queue (left, and named, when no live worker runs that code), a job message to the jobs queue, anything else to the work queue",
    )
    .option(
      '--store <url>',
      "the cluster's payload store, where a refused job's note is cleared and the workers' heartbeats say who runs which code (default $FJ_STORE_URL)",
    )
    .action(async (_o, cmd: Command) => (await commands.dead()).deadRequeueCommand(flags(cmd), io));
  dead
    .command('purge')
    .description('delete every dead letter (asks on a terminal; --yes otherwise)')
    .option('-y, --yes', 'do not ask')
    .action(async (_o, cmd: Command) => (await commands.dead()).deadPurgeCommand(flags(cmd), io));
}
