/**
 * How an error that ends a command reaches the user: one line and an exit
 * code for fj's own errors (a stack only with `--verbose`), a stack for
 * anything else (a bug); or the same as one JSON log line.
 */
import { CommanderError } from 'commander';
import { FjError, isInstance, MAX_FAILURES_OPTION, thrownParts, UsageError } from '../core/errors.js';
import { OptionError } from '../core/job-options.js';
import type { Output } from './streams.js';
import { printableLines } from '../core/printable.js';

/** Prints an error the way a user should see it and returns the exit code. */
export function report(err: unknown, stderr: Output, verbose: boolean): number {
  if (err instanceof CommanderError) {
    // commander has already printed its message (and help on --help).
    return err.exitCode === 0 ? 0 : 2;
  }
  if (err instanceof OptionError) err = new UsageError(err.message);
  if (err instanceof FjError) {
    // A message may quote data (a job's stored error, a worker's name): escaped, its lines kept.
    stderr.write(`fj: ${printableLines(cliWording(err))}\n`);
    if (verbose) printStack(err, stderr);
    // A hook failed: the message names hook and item; the stack is one flag away.
    else if (err.exitCode === 1 && err.cause instanceof Error)
      stderr.write('(run with --verbose for the stack trace)\n');
    return err.exitCode;
  }
  // Not ours: a bug in fj or in the environment. Always show the stack.
  stderr.write('fj: internal error (please report it):\n');
  printStack(err, stderr);
  return 1;
}

/** {@link report} as one JSON log line (`--log-format json`): `{time, level: "error", scope: "fj", msg, exitCode}`, with `stack` when verbose or internal. */
export function reportJson(err: unknown, stderr: Output, verbose: boolean): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2; // usage errors: commander printed them
  if (err instanceof OptionError) err = new UsageError(err.message);
  const ours = err instanceof FjError;
  const { message: said, stack } = thrownParts(err);
  const message = ours ? cliWording(err as FjError) : said;
  const exitCode = ours ? (err as FjError).exitCode : 1;
  const line = {
    time: new Date().toISOString(),
    level: 'error',
    scope: 'fj',
    msg: ours ? message : `internal error (please report it): ${message}`,
    exitCode,
    ...(verbose || !ours ? { stack } : {}),
  };
  stderr.write(`${JSON.stringify(line)}\n`);
  return exitCode;
}

/**
 * fj's own error as the command line says it: the API's option names in
 * core messages become the flags a user of `fj` types. Told by the error's
 * code, whether it was thrown here or read back from a job's result record.
 */
export function cliWording(err: FjError): string {
  // The option is named on the message's first line, before the items' own (user) messages.
  if (err.code === 'FJ_FAILURES') return err.message.replace(`(${MAX_FAILURES_OPTION})`, '(--max-failures)');
  return err.message;
}

/** The error's stack, then each cause's (at most 10 deep). */
function printStack(err: unknown, stderr: Output): void {
  let e: unknown = err;
  let prefix = '';
  // At most 10 causes deep (a cause may be its own cause), each described without trusting its getters.
  for (let depth = 0; e !== undefined && e !== null && depth < 10; depth++) {
    const { name, message, stack } = thrownParts(e);
    stderr.write(`${prefix}${stack ?? `${name}: ${message}`}\n`);
    try {
      e = isInstance(e, Error) ? e.cause : undefined;
    } catch {
      e = undefined;
    }
    prefix = 'caused by: ';
  }
}
