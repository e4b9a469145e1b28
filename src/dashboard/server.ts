/**
 * `fj dashboard`: one process serving the JSON API (/api), Prometheus
 * metrics (/metrics), server-sent events and the page (dashboard-page/,
 * with preact+htm and uPlot served from their npm packages). Everything is read from
 * the store, the workers' heartbeats and RabbitMQ when asked for.
 */
import { setMaxListeners } from 'node:events';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { UsageError } from '../core/errors.js';
import { packageRoot } from '../core/paths.js';
import { signerFrom } from '../core/signing.js';
import { openStore } from '../store/open.js';
import { builtinTaskNames, loadAllTasks, loadTask, type TaskInfo } from '../task/registry.js';
import { BrokerLink } from './broker.js';
import { clusterRoutes } from './cluster-api.js';
import { deadLetterRoutes } from './dead-api.js';
import type { DashboardContext } from './context.js';
import { EventHub, eventRoutes } from './events.js';
import { guard, StreamTickets } from './guard.js';
import { jobRoutes } from './jobs-api.js';
import { metricsRoute } from './metrics.js';
import { ThreadValidator } from './validation.js';
import { normalizeDashboardOptions, type DashboardOptions } from './dashboard-options.js';

export type { DashboardOptions };

/** A running dashboard. */
export interface Dashboard {
  /** Its address, e.g. `http://127.0.0.1:8050`. */
  url: string;
  /** The token mutating requests carry (the one given, or the one made up at start). */
  token: string;
  /** Whether the token was given (option or `$FJ_DASHBOARD_TOKEN`) rather than made up at start: a given one is not printed. */
  tokenGiven: boolean;
  /** Stops serving: live streams end, the store and broker connection close. */
  close(): Promise<void>;
}

/** The page's files: name -> content type. Only these are served. */
const PAGE_FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'form.js': 'text/javascript; charset=utf-8',
  'chart.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};
/** The page runs only its own scripts and talks only to its own origin: an injected `<script>` or `onerror` would not run even if it got in. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async function loadTasks(modules: string[]): Promise<Map<string, TaskInfo>> {
  const infos = await Promise.all(builtinTaskNames().map((n) => loadTask(n)));
  for (const m of modules) infos.push(...(await loadAllTasks(m)));
  return new Map(infos.map((i) => [i.name, i]));
}

/** Starts a dashboard (see {@link DashboardOptions}); rejects with OptionError for bad options, UsageError when the port is taken. */
export async function startDashboard(options: DashboardOptions = {}): Promise<Dashboard> {
  const config = normalizeDashboardOptions(options);
  const tasks = await loadTasks(config.tasks);
  const store = await openStore(config.store);
  const ctx: DashboardContext = {
    config,
    store,
    signer: signerFrom(undefined),
    broker: new BrokerLink(config.broker),
    tasks,
    events: new EventHub(config.liveEveryMs, config.maxStreams),
    validator: new ThreadValidator(config.validateTimeoutMs),
  };
  const closing = new AbortController();
  // Each open event stream listens for the close: up to maxStreams of them (and node's default of 10 would warn of a leak).
  setMaxListeners(config.maxStreams + 1, closing.signal);
  const tickets = new StreamTickets();
  const app = Fastify({ bodyLimit: config.bodyLimit, logger: false });
  let port = config.port;
  const pageRoutes = new Set<string>(); // filled by servePage below, before the first request
  app.addHook('onRequest', guard(config, { pageRoutes, port: () => port, tickets }));
  app.addHook('onSend', async (_req, reply, payload) => {
    reply
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('content-security-policy', CSP)
      .header('cache-control', 'no-store');
    return payload;
  });
  jobRoutes(app, ctx);
  clusterRoutes(app, ctx);
  deadLetterRoutes(app, ctx);
  eventRoutes(app, ctx, tickets, closing.signal);
  metricsRoute(app, ctx);
  servePage(app, pageRoutes);
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await store.close();
    await ctx.validator.close();
    throw new UsageError(`cannot serve on ${config.host}:${config.port}: ${(err as Error).message}`, { cause: err });
  }
  const addr = app.server.address();
  port = typeof addr === 'object' && addr ? addr.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return {
    url: `http://${host}:${port}`,
    token: config.token,
    tokenGiven: config.tokenGiven,
    async close() {
      closing.abort();
      await app.close();
      await ctx.validator.close();
      await ctx.broker.close();
      await store.close();
    },
  };
}

/**
 * Registers the page's routes and adds each to `routes`: the explicit list of
 * what is served to anyone who reaches the dashboard (they hold no data);
 * every other route needs the token where reads do.
 */
function servePage(app: FastifyInstance, routes: Set<string>): void {
  const dir = join(packageRoot, 'dashboard-page');
  // htm's exports map names no file of preact/ standalone: found beside its main file (dist/htm.js).
  const vendor = join(dirname(createRequire(import.meta.url).resolve('htm')), '..', 'preact', 'standalone.module.js');
  const file = (route: string, path: string, type: string) => {
    routes.add(route);
    app.get(route, async (_req: unknown, reply: FastifyReply) =>
      reply.header('content-type', type).send(await readFile(path)),
    );
  };
  file('/', join(dir, 'index.html'), PAGE_FILES['index.html']);
  for (const [name, type] of Object.entries(PAGE_FILES)) file(`/page/${name}`, join(dir, name), type);
  file('/page/preact-htm.js', vendor, 'text/javascript; charset=utf-8');
  const uplot = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');
  file('/page/uplot.js', join(uplot, 'uPlot.esm.js'), 'text/javascript; charset=utf-8');
  file('/page/uplot.css', join(uplot, 'uPlot.min.css'), 'text/css; charset=utf-8');
}
