#!/usr/bin/env node
/**
 * The `fj` command. Parses argv into options and calls the public API; no
 * logic of its own. Exit codes: 0 success, 1 a hook failed, 2 usage or input
 * error, 3 broker or store trouble.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { FjError, UsageError } from '../errors.js';
import { EXECUTORS } from '../options.js';
import { runCommand } from './run.js';
import { tasksCommand, validateCommand } from './tasks.js';
import { workerCommand } from './worker.js';

function int(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be an integer from 1 and up, got '${value}'`);
    return n;
  };
}

const verbose = process.argv.includes('--verbose') || process.argv.includes('-v');

const program = new Command('fj')
  .description('Fork-join parallel compute: run a task eagerly, on worker threads, or across hosts through RabbitMQ.')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

program
  .command('run')
  .description('validate input, run a task and print its output (JSON) on stdout')
  .argument('<task>', "a built-in task name (see 'fj tasks') or the path of a module whose default export is a ForkJoinTask subclass")
  .argument('<input>', "the input JSON file, or '-' for standard input")
  .addOption(new Option('-e, --executor <name>', 'where items run').choices(EXECUTORS).default('local'))
  .option('-c, --concurrency <n>', 'worker threads (local) or items at once; default: available cores', int('--concurrency'))
  .option('-o, --out <file>', 'write the output JSON to a file instead of stdout')
  .option('--stats <file>', 'write the job figures (items, messages, bytes, wallMs) as JSON to a file')
  .option('--services <module>', "module whose default export builds ctx.services once per worker")
  .option('--no-progress', 'no progress bar (it shows only when stderr is a terminal anyway)')
  .option('-v, --verbose', 'log what happens, and print stack traces for every error')
  .option('--broker <url>', 'amqp: RabbitMQ URL (default $FJ_BROKER_URL or amqp://guest:guest@127.0.0.1:5672)')
  .option('--store <url>', 'amqp: payload store, file://DIR or redis://HOST:PORT (default $FJ_STORE_URL or a temp dir)')
  .option('--queue <name>', "amqp: worker pool queue (default: the task's queue, $FJ_QUEUE or fj.default)")
  .option('--job-id <id>', 'amqp: job id (default: random)')
  .option('--keep', 'amqp: keep the job data in the store after the job ends')
  .option('--inline-limit <bytes>', 'amqp: items/results larger than this travel by store reference (default 65536)', int('--inline-limit'))
  .action(runCommand);

program.command('tasks').description('list the built-in tasks with their descriptions').action(tasksCommand);

program
  .command('validate')
  .description('check an input against a task schema, without running anything')
  .argument('<task>', 'a built-in task name or a task module path')
  .argument('<input>', "the input JSON file, or '-' for standard input")
  .action(validateCommand);

program
  .command('worker')
  .description('serve a worker pool: consume items from RabbitMQ and run process() for every task known here')
  .option('--broker <url>', 'RabbitMQ URL (default $FJ_BROKER_URL or amqp://guest:guest@127.0.0.1:5672)')
  .option('--store <url>', 'payload store, file://DIR or redis://HOST:PORT (default $FJ_STORE_URL or a temp dir)')
  .option('--queue <name>', 'the pool (work queue) to join (default $FJ_QUEUE or fj.default)')
  .option('-c, --concurrency <n>', 'worker threads running process(), two messages each in flight (default: available cores)', int('--concurrency'))
  .option('--tasks <module...>', 'task modules to serve besides the built-in tasks')
  .option('--services <module>', 'module whose default export builds ctx.services once per worker thread')
  .option('--max-message-bytes <n>', 'dead-letter messages larger than this (default 8 MiB)', int('--max-message-bytes'))
  .option('--inline-limit <bytes>', 'results larger than this go to the store by ref (default 65536)', int('--inline-limit'))
  .option('--name <id>', 'worker identity in logs (default <host>.<queue>.<pid>)')
  .option('-q, --quiet', 'log warnings and errors only')
  .option('-v, --verbose', 'log everything')
  .action(workerCommand);

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    process.exitCode = report(err);
  }
}

/** Prints an error the way a user should see it and returns the exit code. */
function report(err: unknown): number {
  if (err instanceof CommanderError) {
    // commander has already printed its message (and help on --help).
    return err.exitCode === 0 ? 0 : 2;
  }
  if (err instanceof TypeError && /^Expected `/.test(err.message)) err = new UsageError(err.message);
  if (err instanceof FjError) {
    process.stderr.write(`fj: ${err.message}\n`);
    if (verbose) printStack(err);
    // A hook failed: the message names hook and item; the stack is one flag away.
    else if (err.exitCode === 1 && err.cause instanceof Error) process.stderr.write('(run with --verbose for the stack trace)\n');
    return err.exitCode;
  }
  // Not ours: a bug in fj or in the environment. Always show the stack.
  process.stderr.write('fj: internal error (please report it):\n');
  printStack(err);
  return 1;
}

function printStack(err: unknown): void {
  let e: unknown = err;
  let prefix = '';
  while (e) {
    process.stderr.write(`${prefix}${e instanceof Error ? e.stack : String(e)}\n`);
    e = e instanceof Error ? e.cause : undefined;
    prefix = 'caused by: ';
  }
}

await main();
