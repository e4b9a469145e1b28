/**
 * The dashboard's job routes: list (filters, cursor pages, `more`), one job
 * (its view, failures and figures, a failure's stack), its input and
 * output, submit, cancel, resume, resubmit (every item again, as a new job),
 * and re-run of the failed items. Everything is read from the store on each
 * request.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { decode } from '../core/codec.js';
import { viewMatches, viewOf, type JobView } from '../detached/job-view.js';
import { readOutput } from '../detached/entries.js';
import { rerunFailed } from '../detached/rerun.js';
import { stagesOf } from '../detached/pipeline-stages.js';
import { submitJob, type InputCheck } from '../detached/submit.js';
import { UsageError } from '../core/errors.js';
import { isJobId } from '../core/job-id.js';
import { readManifest, readOutcome, readStatus } from '../store/job-records.js';
import { cancel } from '../detached/control.js';
import { isFinal, JOB_STATES, type IndexEntry, type JobState } from '../store/job-index.js';
import { resultsQueue } from '../broker/amqp.js';
import { sendError, type DashboardContext } from './context.js';

/** At most this many index entries are looked at for one page filtered by label; past it the page says `more` with a cursor to go on. */
const LABEL_SCAN = 5000;
/** A page holds at most this many jobs. */
const MAX_LIMIT = 200;

type Cursor = { submitted: number; id: string };

/** One page of jobs: what `GET /api/jobs` answers. `next` is the cursor of the following page (`before=<next>`). */
export interface JobsPage {
  jobs: JobView[];
  more: boolean;
  next: string | null;
}

/** Parses `before=<submitted>_<id>`; UsageError when malformed. */
function parseCursor(raw: unknown): Cursor | undefined {
  if (raw === undefined || raw === '') return undefined;
  const m = typeof raw === 'string' ? /^(\d+)_(.+)$/.exec(raw) : null;
  if (!m || !isJobId(m[2]))
    throw new UsageError(`before must be a cursor from a previous page's 'next', got '${String(raw)}'`);
  return { submitted: Number(m[1]), id: m[2] };
}

const cursorOf = (e: IndexEntry): string => `${e.submitted}_${e.id}`;

/** A page of the index with the query's filters; a label filter is matched here, scanning at most {@link LABEL_SCAN} entries. */
export async function jobsPage(ctx: DashboardContext, q: Record<string, unknown>): Promise<JobsPage> {
  const state = q.state === undefined || q.state === '' ? undefined : String(q.state);
  if (state !== undefined && !(JOB_STATES as readonly string[]).includes(state))
    throw new UsageError(`state must be one of ${JOB_STATES.join(', ')}, got '${state}'`);
  const task = q.task === undefined || q.task === '' ? undefined : String(q.task);
  const label = q.label === undefined || q.label === '' ? undefined : String(q.label).toLowerCase();
  const limit = q.limit === undefined ? 20 : Number(q.limit);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIMIT)
    throw new UsageError(`limit must be a whole number from 1 to ${MAX_LIMIT}, got '${String(q.limit)}'`);
  let before = parseCursor(q.before);
  const found: IndexEntry[] = [];
  let scanned = 0;
  let more = false;
  let last: IndexEntry | undefined;
  for (;;) {
    const want = label ? Math.min(500, LABEL_SCAN - scanned) : limit - found.length;
    const page = await ctx.store.listJobs({ state: state as JobState | undefined, task, before, limit: want });
    for (const e of page.entries) {
      scanned++;
      last = e;
      if (!label || e.label.toLowerCase().includes(label)) found.push(e);
      if (found.length === limit) break;
    }
    const stoppedEarly = last !== undefined && last !== page.entries.at(-1);
    if (found.length === limit) {
      more = stoppedEarly || page.more;
      break;
    }
    if (!page.more) break;
    before = last && { submitted: last.submitted, id: last.id };
    if (scanned >= LABEL_SCAN) {
      more = true; // never silently capped: the cursor goes on from here
      break;
    }
  }
  // With a key, task, label and state are the signed records' (viewOf), and the filters apply to those.
  const views = await Promise.all(found.map((e) => viewOf(ctx.store, e.id, ctx.signer, e)));
  const jobs = views.filter(
    (v): v is JobView =>
      v !== undefined &&
      (!ctx.signer ||
        (viewMatches(v, { state: state as JobState | undefined, task }) &&
          (!label || v.label.toLowerCase().includes(label)))),
  );
  const mark = found.length === limit ? found.at(-1) : last;
  return { jobs, more, next: more && mark ? cursorOf(mark) : null };
}

/** A job's view with its failures and figures, for `GET /api/jobs/:id`; undefined when unknown. */
export async function jobDetail(ctx: DashboardContext, id: string) {
  const view = await viewOf(ctx.store, id, ctx.signer);
  if (!view) return undefined;
  const [status, outcome, manifest] = await Promise.all([
    readStatus(ctx.store, id, ctx.signer).catch(() => undefined),
    readOutcome(ctx.store, id, ctx.signer).catch(() => undefined),
    readManifest(ctx.store, id, ctx.signer).catch(() => undefined),
  ]);
  return {
    ...view,
    retried: outcome?.stats?.retried ?? status?.retried ?? 0,
    inFlight: status?.inFlightMessages ?? 0,
    // Stacks on demand (GET /api/jobs/:id/failures/:index): `stack` says whether there is one.
    failures: (outcome?.stats?.failures ?? []).map(({ index, attempts, error: { stack, ...error } }) => ({
      index,
      attempts,
      error,
      stack: stack !== undefined,
    })),
    /** Items with a result kept for a re-run of the others (POST /api/jobs/:id/rerun-failed); null when the job kept none. */
    kept: outcome?.kept ? outcome.kept.items : null,
    /** The job whose failed items this job runs again, if it is such a re-run. */
    rerunOf: manifest?.rerun?.of ?? null,
    /** A submitted pipeline: its stages, each with its job's state and figures (the one it is at `current`); null for a job. */
    stages: manifest?.plan ? await stagesOf(ctx.store, id, manifest.plan, Boolean(outcome), ctx.signer) : null,
    stats: outcome?.stats
      ? {
          wallMs: outcome.stats.wallMs,
          messages: outcome.stats.messages,
          bytesPublished: outcome.stats.bytesPublished,
          bytesStored: outcome.stats.bytesStored,
        }
      : undefined,
    hasOutput: Boolean(outcome?.outputRef),
    /**
     * Running with no coordinator on its results queue: its record is what its coordinator last wrote before it
     * stopped, and a resume is what it needs (null when the broker cannot be asked). The page offers Resume only then.
     */
    stale:
      view.state === 'running' && !manifest?.plan // a pipeline has no coordinator of its own: its stages' jobs have
        ? await ctx.broker.queue(resultsQueue(id)).then(
            (q) => q.consumers === 0,
            () => null,
          )
        : false,
    now: Date.now(),
  };
}

/** The 404 body for a job id the store does not know. */
function unknownJob(id: string): { error: string } {
  return { error: `no job '${id}': unknown, forgotten, or its results expired` };
}

function checkId(id: string): string {
  if (!isJobId(id)) throw new UsageError(`'${id}' is not a job id`);
  return id;
}

/** Registers the job routes. */
// eslint-disable-next-line max-lines-per-function -- one short route per endpoint, registered in one place
export function jobRoutes(app: FastifyInstance, ctx: DashboardContext): void {
  const where = { broker: ctx.config.broker, store: ctx.config.store };

  app.get('/api/jobs', async (req, reply) => {
    try {
      return await jobsPage(ctx, req.query as Record<string, unknown>);
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get<{ Params: { id: string } }>('/api/jobs/:id', async (req, reply) => {
    try {
      const job = await jobDetail(ctx, checkId(req.params.id));
      return job ?? reply.code(404).send(unknownJob(req.params.id));
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get<{ Params: { id: string; index: string } }>('/api/jobs/:id/failures/:index', async (req, reply) => {
    try {
      const outcome = await readOutcome(ctx.store, checkId(req.params.id), ctx.signer);
      const index = Number(req.params.index);
      const f = outcome?.stats?.failures.find((x) => x.index === index);
      if (!f)
        return reply.code(404).send({
          error: `job ${req.params.id} has no failure recorded for item ${req.params.index} (the first 100 failures are kept)`,
        });
      return f;
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get<{ Params: { id: string } }>('/api/jobs/:id/output', async (req, reply) => {
    try {
      const outcome = await readOutcome(ctx.store, checkId(req.params.id), ctx.signer);
      if (!outcome)
        return reply
          .code((await ctx.store.indexEntry(req.params.id)) ? 409 : 404)
          .send({ error: `job ${req.params.id} has no output: it has not ended, or is unknown` });
      if (!outcome.outputRef)
        return reply
          .code(409)
          .send({ error: `job ${req.params.id} ${outcome.state}: it has no output`, reason: outcome.error?.message });
      return download(reply, `${req.params.id}.output.json`, await readOutput(ctx.store, outcome));
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get<{ Params: { id: string } }>('/api/jobs/:id/input', async (req, reply) => {
    try {
      if (!(await ctx.store.indexEntry(checkId(req.params.id)))) return reply.code(404).send(unknownJob(req.params.id));
      const m = await readManifest(ctx.store, req.params.id, ctx.signer);
      if (!('ref' in m.input))
        return reply
          .code(409)
          .send({ error: `job ${req.params.id} read its input from a file on its coordinator's host` });
      return download(reply, `${req.params.id}.input.json`, decode(await ctx.store.get(m.input.ref)));
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.post<{ Body: Record<string, unknown> }>('/api/jobs', async (req, reply) => {
    try {
      const body = req.body;
      if (!body || typeof body !== 'object' || Array.isArray(body))
        throw new UsageError('the body must be a JSON object: {"task": NAME, "input": {...}, "label"?: TEXT}');
      const task = field(body, 'task', ['string']);
      const info = task === undefined ? undefined : ctx.tasks.get(task);
      if (!info)
        throw new UsageError(
          `unknown task '${String(task)}': this dashboard submits ${[...ctx.tasks.keys()].join(', ')}`,
        );
      const o = body.options ?? {};
      if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new UsageError('options must be an object');
      const opts = o as Record<string, unknown>;
      const label = field(body, 'label', ['string']);
      const handle = await submitJob(
        info.cls,
        body.input,
        {
          ...where,
          source: 'input',
          label: label === '' ? undefined : label,
          queue: field(opts, 'queue', ['string'], 'options.') ?? ctx.config.queue,
          retries: field(opts, 'retries', ['number'], 'options.'),
          onFailure: field(opts, 'onFailure', ['string'], 'options.') as 'fail-fast' | 'collect' | undefined,
          maxFailures: field(opts, 'maxFailures', ['number', 'string'], 'options.') as
            number | `${number}%` | undefined,
          maxResults: field(opts, 'maxResults', ['number'], 'options.'),
          itemTimeoutMs: field(opts, 'itemTimeoutMs', ['number'], 'options.'),
          onCodeChange: field(opts, 'onCodeChange', ['string'], 'options.') as 'fail' | 'follow' | undefined,
          resultTtlMs: field(opts, 'resultTtlMs', ['number'], 'options.'),
          weight: field(opts, 'weight', ['number'], 'options.'),
          priority: field(opts, 'priority', ['number'], 'options.'),
          tenant: field(opts, 'tenant', ['string'], 'options.'),
          rateLimit: field(opts, 'rateLimit', ['number'], 'options.'),
          at: field(opts, 'at', ['string'], 'options.'),
          delayMs: field(opts, 'delayMs', ['number'], 'options.'),
        },
        undefined,
        onThread(ctx),
      );
      return reply.code(201).send({ id: handle.id });
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.post<{ Params: { id: string } }>('/api/jobs/:id/cancel', async (req, reply) => {
    try {
      const view = await viewOf(ctx.store, checkId(req.params.id), ctx.signer);
      if (!view) return reply.code(404).send(unknownJob(req.params.id));
      if (isFinal(view.state)) return reply.code(409).send({ error: `job ${view.id} has ended (${view.state})` });
      return { id: view.id, ...(await cancel(view.id, where, 'dashboard')) };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.post<{ Params: { id: string } }>('/api/jobs/:id/resume', async (req, reply) => {
    try {
      const view = await viewOf(ctx.store, checkId(req.params.id), ctx.signer);
      if (!view) return reply.code(404).send(unknownJob(req.params.id));
      if (isFinal(view.state))
        return reply.code(409).send({ error: `job ${view.id} has ended (${view.state}): nothing to resume` });
      const m = await readManifest(ctx.store, view.id, ctx.signer);
      if (m.plan)
        return reply.code(409).send({
          error: `${view.id} is a pipeline: it runs no items of its own; resume the job of the stage it is at (${view.stage ?? 'see its stages'})`,
        });
      await ctx.broker.requeueJob(
        view.id,
        m.queue,
        ctx.signer,
        m.options.queueType === 'quorum' ? 'quorum' : 'classic',
      );
      return { id: view.id, requeued: m.queue };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  resubmitRoutes(app, ctx, where);
  rerunFailedRoute(app, ctx, where);
}

/**
 * Registers `POST /api/jobs/:id/resubmit`: the job's input submitted again
 * with the same task and pool, as a new job (every item; `rerun-failed`
 * runs only the failed ones). `POST /api/jobs/:id/rerun` answers the same
 * for one release: deprecated, it was this route's name before "re-run"
 * came to mean the failed items only.
 */
function resubmitRoutes(app: FastifyInstance, ctx: DashboardContext, where: { broker?: string; store?: string }): void {
  const resubmit = async (req: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
    try {
      const view = await viewOf(ctx.store, checkId(req.params.id), ctx.signer);
      if (!view) return reply.code(404).send(unknownJob(req.params.id));
      const info = ctx.tasks.get(view.task);
      if (!info)
        throw new UsageError(
          `this dashboard does not serve task '${view.task}' (start it with --tasks naming its module)`,
        );
      const m = await readManifest(ctx.store, view.id, ctx.signer);
      if (!('ref' in m.input))
        return reply
          .code(409)
          .send({ error: `job ${view.id} read its input from a file: submit it again from the command line` });
      const input = decode(await ctx.store.get(m.input.ref));
      const handle = await submitJob(
        info.cls,
        input,
        { ...where, queue: m.queue, label: `resubmit of ${view.label}`.slice(0, 200) },
        undefined,
        onThread(ctx),
      );
      return reply.code(201).send({ id: handle.id });
    } catch (err) {
      return sendError(reply, err);
    }
  };
  app.post<{ Params: { id: string } }>('/api/jobs/:id/resubmit', resubmit);
  app.post<{ Params: { id: string } }>('/api/jobs/:id/rerun', resubmit); // deprecated alias of resubmit, for one release
}

/** Registers `POST /api/jobs/:id/rerun-failed`: a new job running only the items the job left without a result. */
function rerunFailedRoute(
  app: FastifyInstance,
  ctx: DashboardContext,
  where: { broker?: string; store?: string },
): void {
  app.post<{ Params: { id: string } }>('/api/jobs/:id/rerun-failed', async (req, reply) => {
    try {
      const view = await viewOf(ctx.store, checkId(req.params.id), ctx.signer);
      if (!view) return reply.code(404).send(unknownJob(req.params.id));
      const info = ctx.tasks.get(view.task);
      if (!info)
        throw new UsageError(
          `this dashboard does not serve task '${view.task}' (start it with --tasks naming its module)`,
        );
      if (!isFinal(view.state)) return reply.code(409).send({ error: `job ${view.id} has not ended (${view.state})` });
      const outcome = await readOutcome(ctx.store, view.id, ctx.signer);
      if (!outcome?.kept)
        return reply.code(409).send({ error: `job ${view.id} ${view.state} with no failed items to run again` });
      const handle = await rerunFailed(info.cls, view.id, where);
      return reply.code(201).send({ id: handle.id });
    } catch (err) {
      return sendError(reply, err);
    }
  });
}

/** Submitted inputs are validated on the dashboard's validation thread, never in its event loop. */
const onThread =
  (ctx: DashboardContext): InputCheck =>
  (info, input, source) =>
    ctx.validator.validate(info, input, source);

type FieldTypes = { string: string; number: number };

/** `o[name]` when it is undefined or of one of `types`; UsageError naming the field (`prefix` + name) else. */
function field<K extends keyof FieldTypes>(
  o: Record<string, unknown>,
  name: string,
  types: K[],
  prefix = '',
): FieldTypes[K] | undefined {
  const v = o[name];
  if (v === undefined || (types as string[]).includes(typeof v)) return v as FieldTypes[K] | undefined;
  const got = v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`;
  throw new UsageError(`${prefix}${name} must be a ${types.join(' or ')}, got ${got}`);
}

async function download(reply: FastifyReply, name: string, value: unknown) {
  return reply
    .header('content-type', 'application/json; charset=utf-8')
    .header('content-disposition', `attachment; filename="${name}"`)
    .header('x-content-type-options', 'nosniff')
    .send(JSON.stringify(value, null, 2));
}
