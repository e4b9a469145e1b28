/**
 * What a queue name and a broker URL must look like, checked before any
 * connection: a name RabbitMQ would refuse (or, for `''`, replace with a
 * server-made `amq.gen-*` queue), or a URL amqplib cannot parse, is a usage
 * error naming the value, never a broker error halfway through a start.
 * The one definition for `fj run -e amqp`, `fj worker`, `fj status`,
 * `fj cancel` and `fj resume`, and for `run()` (normalizeOptions).
 *
 * No amqplib here: job-options.ts imports this, and importing fj must not load it.
 */
import { UsageError } from './errors.js';
import { redactUrl, redactUrls } from './url.js';

/** Longest queue name: AMQP allows 255 bytes, and the dead-letter queue adds `.dead`. */
export const MAX_QUEUE_BYTES = 250;

const QUEUE_CHARS = /^[A-Za-z0-9._:-]+$/;

/** A value fit for one line of an error message: quoted, control characters escaped, long ones cut. */
export function showValue(value: string): string {
  const quoted = JSON.stringify(value);
  return quoted.length <= 60 ? quoted : `${quoted.slice(0, 40)}…" (${value.length} characters)`;
}

/**
 * Why `name` cannot be a work queue's name; undefined when it can. Rules:
 * 1 to 250 bytes of letters, digits, `.`, `_`, `:` and `-` (the AMQP 0-9-1
 * character set), not starting with `amq.` (reserved by the broker).
 */
export function queueNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return `a queue name must be a string, got ${typeof name}`;
  if (name === '') return 'a queue name cannot be empty (RabbitMQ would make up one of its own)';
  if (name.startsWith('amq.')) return `queue names starting with 'amq.' are reserved by RabbitMQ`;
  const bytes = Buffer.byteLength(name);
  if (bytes > MAX_QUEUE_BYTES)
    return `${bytes} bytes is too long: a queue name has at most ${MAX_QUEUE_BYTES} (room for its '.dead' queue)`;
  if (!QUEUE_CHARS.test(name)) return "use only letters, digits, '.', '_', ':' and '-' in a queue name";
  return undefined;
}

/** The broker URL query parameters amqplib reads as numbers. */
const NUMERIC_PARAMS = ['heartbeat', 'frameMax', 'channelMax'];

/**
 * The URLs of a broker list: RabbitMQ nodes separated by commas
 * (`amqp://node1,amqp://node2`), spaces around each ignored. One URL is a
 * list of one. A comma inside a URL (in a password, say) is written `%2C`.
 */
export function brokerUrlList(list: string): string[] {
  return list.split(',').map((u) => u.trim());
}

/**
 * Why `list` (one broker URL, or several separated by commas: see
 * {@link brokerUrlList}) cannot name the broker; undefined when it can. A
 * list's problem names its bad URL (without its password).
 */
export function brokerUrlProblem(list: unknown): string | undefined {
  if (typeof list !== 'string') return `a broker URL must be a string, got ${typeof list}`;
  const urls = brokerUrlList(list);
  if (urls.length === 1) return nodeUrlProblem(list);
  for (const url of urls) {
    if (url === '') return 'the list has an empty entry (two commas in a row, or one at an end)';
    const problem = nodeUrlProblem(url);
    if (problem) return `its URL ${showValue(redactUrl(url))}: ${problem}`;
  }
  return undefined;
}

/**
 * Why `url` cannot be a broker URL; undefined when it can. It must parse,
 * use `amqp:` or `amqps:`, have a port from 1 to 65535 if any, valid
 * percent-encoding in the user name, password and vhost, and whole numbers
 * for `heartbeat`, `frameMax` and `channelMax`. Never repeats the password.
 */
function nodeUrlProblem(url: string): string | undefined {
  // Checked before parsing: the URL parser only says "Invalid URL" for a port out of range.
  const port = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(?:\[[^\]]*\]|[^:/?#]*):(\d+)(?:[/?#]|$)/i.exec(url)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return `port ${port} is out of range (1-65535)`;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'not a URL (write it as amqp://[user:password@]host[:port][/vhost])';
  }
  // Worded to follow "…, got URL: " and "invalid broker URL URL: " alike, so no message says "expected" twice.
  if (u.protocol !== 'amqp:' && u.protocol !== 'amqps:')
    return `its scheme ${u.protocol}// is neither amqp:// nor amqps:// (RabbitMQ's)`;
  if (!u.hostname) return 'it names no host (write it as amqp://[user:password@]host[:port][/vhost])';
  for (const [part, value] of [
    ['user name', u.username],
    ['password', u.password],
    ['vhost', u.pathname.slice(1)],
  ] as const) {
    try {
      decodeURIComponent(value);
    } catch {
      return `bad percent-encoding in the ${part} (write '%' as %25)`;
    }
  }
  for (const name of NUMERIC_PARAMS) {
    const v = u.searchParams.get(name);
    if (v !== null && !/^\d+$/.test(v)) return `${name} must be a whole number, got ${showValue(v)}`;
  }
  return undefined;
}

/** `name`, or UsageError naming where it came from (`--queue`, `$FJ_QUEUE`, ...) and what is wrong. */
export function checkQueueName(name: string, from: string): string {
  const problem = queueNameProblem(name);
  if (problem) throw new UsageError(`invalid queue name ${showValue(name)} (${from}): ${problem}`);
  return name;
}

/**
 * `url` (one broker URL or a comma-separated list), or UsageError naming
 * where it came from (`--broker`, `$FJ_BROKER_URL`) and what is wrong (for
 * a list, which of its URLs), without any password.
 */
export function checkBrokerUrl(url: string, from: string): string {
  const problem = brokerUrlProblem(url);
  if (problem) throw new UsageError(`invalid broker URL ${showValue(redactUrls(url))} (${from}): ${problem}`);
  return url;
}
