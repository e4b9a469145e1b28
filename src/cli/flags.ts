/**
 * The command line's own option helpers: the options several commands share
 * (`--broker`, `--log-format`, the failure policy) written once, and the
 * parsers that turn a flag's text into a number or refuse it with a message
 * naming the flag (commander prints it; exit 2).
 */
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import {
  CODE_CHANGE_POLICIES,
  FAILURE_POLICIES,
  jobPriority,
  jobWeight,
  MAX_PRIORITY,
  MAX_WEIGHT,
  MIN_PRIORITY,
  parseMaxFailures,
  TENANT_NAME,
} from '../core/job-options.js';
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
    )
    .option(
      '--rate-limit <items/s>',
      "at most this many items started a second, across the job and all its workers; amqp: shared with the task's other jobs on the pool (default: the task's static rateLimit, else none)",
      rate('--rate-limit'),
    );
}

/** Parses a rate: a number of items a second above 0. */
export function rate(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0 || value.trim() === '')
      throw new InvalidArgumentError(`${name} must be a number of items a second above 0, got '${value}'`);
    return n;
  };
}

/** `--weight` and `--priority`: how the job shares its pool with the others on it (`fj run -e amqp`, `fj submit`); `scope` as for {@link brokerOption}. */
export function shareOptions(cmd: Command, scope = ''): Command {
  return cmd
    .option(
      '--weight <w>',
      `${scope}the job's share of its pool against the other jobs of its priority running there: slots in proportion to weights (above 0, default 1)`,
      (value: string) => checked(`--weight must be a number above 0 and at most ${MAX_WEIGHT}`, value, jobWeight),
    )
    .option(
      '--priority <n>',
      `${scope}higher priorities take the pool's slots first; a lower one keeps a floor and still progresses (${MIN_PRIORITY} to ${MAX_PRIORITY}, default 0)`,
      (value: string) =>
        checked(`--priority must be a whole number from ${MIN_PRIORITY} to ${MAX_PRIORITY}`, value, jobPriority),
    )
    .option(
      '--tenant <name>',
      `${scope}who the job runs for (a team): the pool is shared equally between tenants first, then between each tenant's jobs; a pool can cap a tenant (fj worker --tenant-cap) (default: none)`,
      (value: string) => {
        if (!TENANT_NAME.test(value))
          throw new InvalidArgumentError(`--tenant must be 1-100 letters, digits and . _ : @ -, got '${value}'`);
        return value;
      },
    );
}

/** Parses one `--tenant-cap team-a=50%` (or `=0.5`) into the caps so far. */
export function tenantCap(value: string, caps: Record<string, number> = {}): Record<string, number> {
  const m = /^([^=]+)=(\d+(?:\.\d+)?)(%?)$/.exec(value.trim());
  const share = m ? Number(m[2]) / (m[3] ? 100 : 1) : NaN;
  if (!m || !TENANT_NAME.test(m[1]) || !(share > 0 && share <= 1))
    throw new InvalidArgumentError(
      `--tenant-cap must be TENANT=SHARE, a tenant of 1-100 letters, digits and . _ : @ - and a share above 0 and at most 1 (or 100%), got '${value}'`,
    );
  return { ...caps, [m[1]]: share };
}

/** Parses one `--tenant-weight team-a=3` into the weights so far. */
export function tenantWeight(value: string, weights: Record<string, number> = {}): Record<string, number> {
  const m = /^([^=]+)=(\d+(?:\.\d+)?)$/.exec(value.trim());
  const weight = m ? Number(m[2]) : NaN;
  if (!m || !TENANT_NAME.test(m[1]) || !(weight > 0 && weight <= MAX_WEIGHT))
    throw new InvalidArgumentError(
      `--tenant-weight must be TENANT=WEIGHT, a tenant of 1-100 letters, digits and . _ : @ - and a weight above 0 and at most ${MAX_WEIGHT}, got '${value}'`,
    );
  return { ...weights, [m[1]]: weight };
}

function checked(rule: string, value: string, check: (n: number) => number): number {
  try {
    return check(value.trim() === '' ? NaN : Number(value));
  } catch {
    throw new InvalidArgumentError(`${rule}, got '${value}'`);
  }
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
