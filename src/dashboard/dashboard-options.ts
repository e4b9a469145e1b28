/**
 * The dashboard's options (`fj dashboard`, {@link startDashboard}) and the
 * rules they obey: it binds 127.0.0.1 unless told otherwise, and anywhere
 * else only with a token.
 */
import { randomBytes } from 'node:crypto';
import { OptionError } from '../core/job-options.js';
import { brokerUrlProblem, showValue } from '../core/address.js';
import { redactUrls } from '../core/url.js';

/** Options of {@link startDashboard}. */
export interface DashboardOptions {
  /** Address to bind. Default 127.0.0.1; any other needs `token`. */
  host?: string;
  /** Port. Default 8050; 0 picks a free one. */
  port?: number;
  /**
   * RabbitMQ URL. Default `$FJ_BROKER_URL`, else amqp://guest:guest@127.0.0.1:5672.
   * One URL, or several RabbitMQ nodes of one cluster separated by commas (`amqp://n1,amqp://n2`): tried in turn until one answers, the next one after a lost connection.
   */
  broker?: string;
  /** The cluster's payload store. Default `$FJ_STORE_URL`. */
  store?: string;
  /** The token every mutating request must carry (`Authorization: Bearer` or `X-FJ-Token`). Default `$FJ_DASHBOARD_TOKEN`, else a random one (printed with the URL). */
  token?: string;
  /** Task modules whose tasks can be listed and submitted besides the built-in ones. */
  tasks?: string[];
  /** The pool jobs submitted here go to when the request names none. Default: the task's queue, `$FJ_QUEUE`, else fj.default. */
  queue?: string;
  /** Largest request body accepted, bytes. Default 4 MiB. */
  bodyLimit?: number;
  /** How often a live page is sent fresh figures, ms. Default 1000. */
  liveEveryMs?: number;
  /**
   * Host names (besides its own address, `localhost`, `127.0.0.1` and `[::1]`) a request's `Host`
   * may name, e.g. the name of a reverse proxy in front of it; any port. Default `$FJ_DASHBOARD_HOSTS`
   * (comma-separated). Every other `Host` is refused (421): a page of another site cannot reach the
   * dashboard through DNS rebinding.
   */
  allowedHosts?: string[];
  /** Event streams (`/api/events`) open at once; one more is refused (503). Default 64. */
  maxStreams?: number;
  /** How long validating a submitted input may take, ms (it runs on a thread of its own); longer is refused (400). Default 2000. */
  validateTimeoutMs?: number;
}

/** {@link DashboardOptions} checked, defaults filled in. */
export interface DashboardConfig {
  host: string;
  port: number;
  broker: string | undefined;
  store: string | undefined;
  token: string;
  /** Whether the token was chosen by the user (else made up at start). */
  tokenGiven: boolean;
  /** Whether reads need the token too: on any address but the loopback. */
  readsNeedToken: boolean;
  tasks: string[];
  queue: string | undefined;
  bodyLimit: number;
  liveEveryMs: number;
  /** Host names allowed besides the dashboard's own address and the loopback names, lower case. */
  allowedHosts: string[];
  maxStreams: number;
  validateTimeoutMs: number;
}

/** Whether `host` is a loopback address (the machine itself). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The allowed hosts, the stream cap and the validation time limit, checked. */
function limits(o: DashboardOptions, env: NodeJS.ProcessEnv) {
  const allowedHosts = (o.allowedHosts ?? (env.FJ_DASHBOARD_HOSTS ?? '').split(','))
    .map((h) => String(h).trim().toLowerCase())
    .filter((h) => h !== '');
  const maxStreams = o.maxStreams ?? 64;
  if (!Number.isSafeInteger(maxStreams) || maxStreams < 1)
    throw new OptionError(`Expected \`maxStreams\` to be a whole number from 1 up, got \`${String(maxStreams)}\``);
  const validateTimeoutMs = o.validateTimeoutMs ?? 2000;
  if (!Number.isFinite(validateTimeoutMs) || validateTimeoutMs < 10)
    throw new OptionError(`Expected \`validateTimeoutMs\` to be at least 10, got \`${String(validateTimeoutMs)}\``);
  return { allowedHosts, maxStreams, validateTimeoutMs };
}

/** Checks the options; OptionError naming what is wrong (a non-loopback host without a token, a bad port). */
export function normalizeDashboardOptions(o: DashboardOptions, env: NodeJS.ProcessEnv = process.env): DashboardConfig {
  const host = o.host ?? '127.0.0.1';
  const port = o.port ?? 8050;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new OptionError(`Expected \`port\` to be a port number from 0 to 65535, got \`${String(port)}\``);
  const given = o.token ?? (env.FJ_DASHBOARD_TOKEN || undefined);
  if (given !== undefined && (typeof given !== 'string' || given.length < 16))
    throw new OptionError('Expected the dashboard token to be at least 16 characters');
  if (!isLoopback(host) && given === undefined)
    throw new OptionError(`binding ${host} (not the loopback) needs a token: pass --token or set FJ_DASHBOARD_TOKEN`);
  const bodyLimit = o.bodyLimit ?? 4 * 1024 * 1024;
  if (!Number.isSafeInteger(bodyLimit) || bodyLimit < 1024)
    throw new OptionError(
      `Expected \`bodyLimit\` to be a whole number of bytes from 1024 up, got \`${String(bodyLimit)}\``,
    );
  const liveEveryMs = o.liveEveryMs ?? 1000;
  if (!Number.isFinite(liveEveryMs) || liveEveryMs < 50)
    throw new OptionError(`Expected \`liveEveryMs\` to be at least 50, got \`${String(liveEveryMs)}\``);
  const { allowedHosts, maxStreams, validateTimeoutMs } = limits(o, env);
  const broker = o.broker ?? (env.FJ_BROKER_URL || undefined);
  // Checked here, like fj run's and fj worker's: a dashboard with a bad URL would start and fail on every page.
  const badUrl = broker === undefined ? undefined : brokerUrlProblem(broker);
  if (badUrl)
    throw new OptionError(
      `Expected \`broker\`${o.broker === undefined ? ' (from $FJ_BROKER_URL)' : ''} to be a broker URL, got ${showValue(redactUrls(broker!))}: ${badUrl}`,
    );
  return {
    host,
    port,
    broker,
    store: o.store ?? env.FJ_STORE_URL,
    token: given ?? randomBytes(24).toString('base64url'),
    tokenGiven: given !== undefined,
    readsNeedToken: !isLoopback(host),
    tasks: o.tasks ?? [],
    queue: o.queue,
    bodyLimit,
    liveEveryMs,
    allowedHosts,
    maxStreams,
    validateTimeoutMs,
  };
}
