/**
 * The command line's own option helpers: the options several commands share
 * (`--broker`, `--log-format`, the failure policy) written once, and the
 * parsers that turn a flag's text into a number or refuse it with a message
 * naming the flag (commander prints it; exit 2).
 */
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { CODE_CHANGE_POLICIES, FAILURE_POLICIES, parseMaxFailures } from '../core/job-options.js';
import { LOG_FORMATS } from '../core/log.js';
import { QUEUE_TYPES } from '../core/location.js';

/**
 * `--broker <url>` (one URL or a comma-separated list of nodes), as every
 * command that talks to RabbitMQ takes it; `scope`
 * starts the help where only some runs use it (`amqp: ` on `fj run`).
 */
export function brokerOption(scope = ''): Option {
  return new Option(
    '--broker <url>',
    `${scope}RabbitMQ URL, or several nodes' URLs separated by commas (default $FJ_BROKER_URL or amqp://guest:guest@127.0.0.1:5672)`,
  );
}

/** `--queue-type <type>`: the pool's queue type, classic or quorum (default $FJ_QUEUE_TYPE, else classic). */
export function queueTypeOption(scope = ''): Option {
  return new Option(
    '--queue-type <type>',
    `${scope}the pool's RabbitMQ queue type: classic, or quorum (replicated over a cluster's nodes); every client of a pool must use the same (default $FJ_QUEUE_TYPE or classic)`,
  ).choices(QUEUE_TYPES);
}

/** `--log-format <format>` (text or json, default text); `help` says how the command's lines look in each. */
export function logFormatOption(help: string): Option {
  return new Option('--log-format <format>', help).choices(LOG_FORMATS).default('text');
}

/** `--log-format`'s help on the commands that run a job in this process (`fj run`, `fj resume`). */
export const JOB_LOG_FORMAT_HELP =
  'text, or json: one object per line (time, level, scope, msg) for log collectors; no progress bar';

/** The retry and failure-policy options of `fj run`. */
export function failureOptions(cmd: Command): Command {
  return cmd
    .option(
      '--retries <n>',
      "attempts after an item's first failure (default: the task's static retries, else 0)",
      count('--retries'),
    )
    .option(
      '--retry-delay <ms>',
      'base backoff before a retry; doubles each attempt, with jitter (default 1000)',
      count('--retry-delay'),
    )
    .addOption(
      new Option(
        '--on-failure <policy>',
        'fail-fast: stop at the first item out of retries; collect: join the rest and report the failures',
      )
        .choices(FAILURE_POLICIES)
        .default('fail-fast'),
    )
    .addOption(
      new Option(
        '--on-code-change <policy>',
        "amqp: when no worker of the pool runs the job's code any more (a deploy replaced them): fail, naming the versions; follow: run the rest on the one version they run",
      )
        .choices(CODE_CHANGE_POLICIES)
        .default('fail'),
    )
    .option(
      '--max-failures <n|n%>',
      'collect: fail the job once more items than this have failed (default: no limit)',
      maxFailures,
    )
    .option(
      '--max-results <n>',
      'a task without combine: fail the job once setup yields more items than this, the results its coordinator holds for join (default 10000000)',
      int('--max-results'),
    )
    .option(
      '--item-timeout <seconds>',
      'an attempt running longer fails and is retried elsewhere (default: none)',
      seconds('--item-timeout'),
    );
}

/** Parses an integer from 0 and up. */
export function count(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0)
      throw new InvalidArgumentError(`${name} must be an integer from 0 and up, got '${value}'`);
    return n;
  };
}

/** Checks `--max-failures` (a count or a share). */
export function maxFailures(value: string): string {
  try {
    parseMaxFailures(value);
  } catch {
    throw new InvalidArgumentError(`--max-failures must be a count like 10 or a share like 5%, got '${value}'`);
  }
  return value;
}

/**
 * The longest a timer can wait, in seconds (2^31 - 1 ms, about 24.8 days):
 * Node fires a longer `setTimeout` at once, so a longer timeout would end
 * the wait it was meant to bound.
 */
export const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** Parses a number of seconds above 0 and at most {@link MAX_TIMER_SECONDS}. */
export function seconds(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0)
      throw new InvalidArgumentError(`${name} must be a number of seconds above 0, got '${value}'`);
    if (n > MAX_TIMER_SECONDS)
      throw new InvalidArgumentError(
        `${name} must be at most ${MAX_TIMER_SECONDS} seconds (about 24 days, the longest a timer waits), got '${value}'`,
      );
    return n;
  };
}

/** Parses an integer from 1 and up. */
export function int(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw new InvalidArgumentError(`${name} must be an integer from 1 and up, got '${value}'`);
    return n;
  };
}

/** `90s`, `30m`, `12h`, `7d` or a number of seconds, as seconds: from 1 s to `maxDays` days. */
export function duration(name: string, maxDays: number) {
  return (value: string): number => {
    const m = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(value.trim());
    const n = m ? Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'] : NaN;
    if (!(n >= 1))
      throw new InvalidArgumentError(
        `${name} must be a duration like 90s, 30m, 12h or 7d (at least 1 s), got '${value}'`,
      );
    if (n > maxDays * 86400) throw new InvalidArgumentError(`${name} must be at most ${maxDays}d, got '${value}'`);
    return n;
  };
}
