/**
 * The one connection layer to RabbitMQ: every client (coordinators,
 * workers, job consumers, `fj dead`, the dashboard, submit) opens its
 * connections with {@link connect}, which takes one broker URL or a
 * comma-separated list of nodes and rotates over them.
 */
import { hostname } from 'node:os';
import amqp, { type ChannelModel } from 'amqplib';
import { brokerUrlList } from '../core/address.js';
import { TransportError } from '../core/errors.js';
import { redactUrl } from '../core/url.js';
import { coalesceWrites } from './coalesce.js';

/**
 * Where the next connection to each broker list starts: the node last
 * connected to, moved on to the next one when a connection to it is lost
 * (see {@link connect}). Keyed by the list as given.
 */
const startAt = new Map<string, number>();

/** The node each connection {@link connect} opened is connected to, its password redacted. */
const nodes = new WeakMap<ChannelModel, string>();

/** The broker node (URL, password redacted) `conn` is connected to; undefined for a connection {@link connect} did not open. */
export function brokerNode(conn: ChannelModel): string | undefined {
  return nodes.get(conn);
}

/**
 * Opens a connection to the broker `urls` names: one URL, or several
 * RabbitMQ nodes separated by commas (see `brokerUrlList`). The one
 * connection layer of every client (coordinators, workers, job consumers,
 * `fj dead`, the dashboard, submit): each node is tried in turn until one
 * answers, starting from the node the last connection to this list reached,
 * or, once a connection to that node was lost (closed by anything but its
 * owner), from the node after it; so every reconnect loop
 * (`withBackoff`, `reconnect`, the ResilientLink) rotates over
 * the nodes by reconnecting through here.
 *
 * Errors name each node tried without its password, and why it failed; they
 * are not resumable (see TransportErrorOptions.resumable): nothing was
 * started.
 */
export async function connect(urls: string, name: string): Promise<ChannelModel> {
  const list = brokerUrlList(urls);
  const first = (startAt.get(urls) ?? 0) % list.length;
  const failures: string[] = [];
  for (let k = 0; k < list.length; k++) {
    const i = (first + k) % list.length;
    const url = list[i];
    let conn: ChannelModel;
    try {
      conn = await amqp.connect(url, {
        timeout: 10_000,
        // Without TCP_NODELAY a message of a few kB waits ~40 ms for the broker's delayed ACK (Nagle): every publish and confirm would.
        noDelay: true,
        clientProperties: { connection_name: `fj ${name} on ${hostname()}` },
      });
    } catch (err) {
      // No `cause`: the client's error object may carry the URL; the scrubbed message says what happened.
      failures.push(`${redactUrl(url)}: ${connectProblem(err as Error, url)}`);
      continue;
    }
    // Without a listener an 'error' event would crash the process; the
    // 'close' that follows is what callers act on.
    conn.on('error', () => {});
    // Lost (amqplib gives a reason for any close but the owner's own): the next connection to the list tries the next node first.
    if (list.length > 1)
      conn.on('close', (reason?: Error) => {
        if (reason && (startAt.get(urls) ?? 0) === i) startAt.set(urls, (i + 1) % list.length);
      });
    startAt.set(urls, i);
    nodes.set(conn, redactUrl(url));
    coalesceWrites(conn);
    return conn;
  }
  // Not resumable as such: a first connection refused (wrong password, not an AMQP server) started nothing; reconnect() says otherwise for a lost one.
  throw new TransportError(
    failures.length === 1
      ? `cannot connect to RabbitMQ at ${failures[0]}`
      : `cannot connect to RabbitMQ at any of its ${failures.length} nodes: ${failures.join('; ')}`,
    { resumable: false },
  );
}

/**
 * Why a connection was refused, for a person: the broker closes the
 * connection at its open when the vhost does not exist or the user may not
 * use it, which amqplib reports as "Expected ConnectionOpenOk; got
 * <ConnectionClose ...>"; that is said with the vhost and the fix.
 */
function connectProblem(err: Error, url: string): string {
  const message = scrub(err.message, url);
  if (!/Expected ConnectionOpenOk/.test(message)) return message;
  let vhost = '/';
  try {
    vhost = decodeURIComponent(new URL(url).pathname.slice(1)) || '/';
  } catch {
    // the URL was checked before: keep the default
  }
  return `the broker refused vhost '${vhost}': it does not exist, or the user may not use it (create it with 'rabbitmqctl add_vhost ${vhost}' and grant it with 'rabbitmqctl set_permissions -p ${vhost} USER ".*" ".*" ".*"', or fix the URL's path)`;
}

/** Adds the heartbeat default (30 s) to each URL of a broker list that sets none. */
export function withHeartbeat(urls: string): string {
  return brokerUrlList(urls)
    .map((url) => {
      const u = new URL(url);
      if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', '30');
      return u.toString();
    })
    .join(',');
}

/** Removes the password of each URL of a broker list from a message. */
export function scrub(message: string, urls: string): string {
  for (const url of brokerUrlList(urls)) {
    try {
      const pw = new URL(url).password;
      if (pw) message = message.split(pw).join('***').split(decodeURIComponent(pw)).join('***');
    } catch {
      // not a URL: no password to find
    }
  }
  return message;
}
