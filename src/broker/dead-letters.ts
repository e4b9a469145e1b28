/**
 * A pool's dead letters (`<pool>.dead`, see amqp.ts): the work
 * messages workers refused — not fj messages, failing the checks, for jobs
 * their store does not know, over `--max-message-bytes`, or that no worker
 * serves. `fj dead` lists them, shows one, sends them back for another
 * try (an item message to the queue of its code, only while a live worker
 * runs that code), or purges them.
 *
 * Dead letters are hostile until shown otherwise, like every work message:
 * - they are read with basic.get and given back unacknowledged (`list`,
 *   `show` leave the queue as it was, in its order), never consumed;
 * - the reason is the gate's own (inspect.ts, pure: nothing is
 *   fetched, nothing runs), plus what RabbitMQ recorded (`x-death`);
 * - a body is decoded only after the gate passed it (its items then are
 *   well-formed, shallow msgpack of fj's own kinds, which fj's codec
 *   decodes safely); otherwise only its first bytes are shown, as hex or
 *   escaped text. Every string shown is escaped (no terminal control
 *   sequences) and capped in length.
 */
import type { Channel, ChannelModel, GetMessage } from 'amqplib';
import { decode } from '../core/codec.js';
import { TransportError, UsageError } from '../core/errors.js';
import { printable } from '../core/printable.js';
import { DEFAULT_MAX_DEPTH, inspectWork, show, workCode } from './inspect.js';
import { codeQueue } from './amqp.js';
import { isQuiet, readBeacons } from './beacon.js';
import type { Slot } from './messages.js';
import { DECLINES, DEFAULT_MAX_MESSAGE_BYTES, JOB_MESSAGE } from './messages.js';
import { isJobId } from '../core/job-id.js';
import { clearRefusal } from '../store/job-records.js';
import { openStore } from '../store/open.js';

/** Header of a job message a worker dead-lettered unrun (worker/job-consumer.ts): `<worker>: <why>`. */
export const REFUSED_BY = 'fj-refused-by';

/** Where a pool's dead letters are. */
export interface DeadLetterLocation {
  /**
   * Broker URL. Default `FJ_BROKER_URL`, else `amqp://guest:guest@127.0.0.1:5672`.
   * One URL, or several RabbitMQ nodes of one cluster separated by commas (`amqp://n1,amqp://n2`): tried in turn until one answers, the next one after a lost connection.
   */
  broker?: string;
  /** The pool (work queue) whose dead letters to read: `<queue>.dead`. Default `FJ_QUEUE`, else `fj.default`. */
  queue?: string;
}

/** One dead letter, described safely. */
export interface DeadLetter {
  /** Position in the dead-letter queue, from 1 (the next to be read is 1). */
  n: number;
  /** The message id (`<job>:<run>:<seq>` for fj's own), escaped. */
  messageId: string;
  /** The `fj-job` and `fj-task` headers, escaped; `missing` when absent. */
  job: string;
  task: string;
  /** Why it is here: the checks' verdict, and what RabbitMQ recorded. */
  reason: string;
  /** RabbitMQ's `x-death` record: why (`rejected`, `expired`, …), from which queue, how often, when first. */
  death?: { reason: string; queue: string; count: number; time?: string };
  /** Body size in bytes. */
  bytes: number;
  /** A preview of the body, at most the preview cap long. */
  preview: string;
}

/** What {@link listDeadLetters} returns. */
export interface DeadLetterList {
  /** The dead-letter queue read. */
  queue: string;
  /** Messages in it. */
  count: number;
  /** The first `limit` of them. */
  letters: DeadLetter[];
}

/** Longest preview in a list; {@link showDeadLetter} allows more. */
export const LIST_PREVIEW_CHARS = 160;
const SHOW_PREVIEW_CHARS = 4000;

/** Lists the first `limit` (default 20) dead letters of a pool, leaving every message where it was. */
export async function listDeadLetters(where: DeadLetterLocation = {}, limit = 20): Promise<DeadLetterList> {
  return withDeadQueue(where, async (ch, dead, count) => {
    const got = await peek(ch, dead, Math.min(limit, count));
    return { queue: dead, count, letters: got.map((m, i) => describe(m, i + 1, LIST_PREVIEW_CHARS)) };
  });
}

/** Dead letter `n` (from 1) of a pool, with a longer preview; UsageError when there are fewer. */
export async function showDeadLetter(
  n: number,
  where: DeadLetterLocation = {},
): Promise<DeadLetter & { headers: Record<string, string> }> {
  if (!Number.isSafeInteger(n) || n < 1)
    throw new UsageError(`dead letter number must be a whole number from 1 up, got ${show(n)}`);
  return withDeadQueue(where, async (ch, dead, count) => {
    if (n > count) throw new UsageError(`${dead} holds ${count} message(s): there is no number ${n}`);
    const got = await peek(ch, dead, n);
    const m = got[n - 1];
    if (!m) throw new UsageError(`${dead}: message ${n} was taken meanwhile (${got.length} left)`);
    return { ...describe(m, n, SHOW_PREVIEW_CHARS), headers: safeHeaders(m.properties.headers) };
  });
}

/** Item messages {@link requeueDeadLetters} left in the dead-letter queue: one task's code that no live worker runs. */
export interface LeftBehind {
  /** The task and code hash their headers name. */
  task: string;
  code: string;
  /** The queue of that code (`<pool>.code.<task>.<hash>`), where they would have gone. */
  codeQueue: string;
  /** How many, and of which jobs (ids as the headers give them). */
  count: number;
  jobs: string[];
  /** Why they stayed: the code queue is missing, or no worker consumes it. */
  why: string;
  /** What the pool's live workers run for the task (their heartbeats in the store): code hash -> worker names; undefined when the store could not be read. */
  running?: Record<string, string[]>;
  /** Live workers of the pool that lack the task. */
  lacking?: string[];
}

/** What {@link requeueDeadLetters} did. */
export interface Requeued {
  /** The dead-letter queue read. */
  queue: string;
  /** Messages sent back, and how many went to each queue. */
  requeued: number;
  to: Record<string, number>;
  /** Item messages that stayed (no live worker runs their code), by task and code. */
  left: LeftBehind[];
}

/**
 * Sends a pool's dead letters back for another try, each as it was (body,
 * id, fj headers: a signature stays valid), then removes it from the
 * dead-letter queue once the broker confirmed the copy. Only the messages
 * there when it starts. Where each goes:
 *
 * - an item message (its headers name a task and a code hash) goes to the
 *   queue of that code, `<pool>.code.<task>.<hash>`, which only workers
 *   running that code consume: never to a worker on other code, which would
 *   refuse it and end its job. When that queue is missing or no worker
 *   consumes it (no live worker runs the code: a rolling deploy replaced
 *   them), the message stays in the dead-letter queue and is reported in
 *   `left`, with what the pool's workers run (their heartbeats in `store`);
 * - a job message (one a worker refused unrun) goes to the pool's jobs
 *   queue, and the note the worker left on its job in `store` (default
 *   `FJ_STORE_URL`) is cleared, so a wait on the job waits again;
 * - anything else (not an fj message) goes to the pool's work queue, where
 *   a worker checks it again.
 */
export async function requeueDeadLetters(where: DeadLetterLocation & { store?: string } = {}): Promise<Requeued> {
  const requeuedJobs: string[] = [];
  const storeUrl = where.store ?? process.env.FJ_STORE_URL;
  const result = await withDeadQueue(where, async (_ch, dead, count, conn, work) => {
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => {});
    const to: Record<string, number> = {};
    const left = new Map<string, LeftBehind>();
    /** Why a queue cannot take a message now (missing, or with no consumer), or undefined when it can; asked once per queue. */
    const blocked = new Map<string, string | undefined>();
    const why = async (queue: string): Promise<string | undefined> => {
      if (!blocked.has(queue)) blocked.set(queue, await queueProblem(conn, queue, queue.startsWith(`${work}.code.`)));
      return blocked.get(queue);
    };
    try {
      let requeued = 0;
      for (let i = 0; i < count; i++) {
        const m = await ch.get(dead, { noAck: false });
        if (!m) break; // taken meanwhile
        const p = m.properties;
        const headers = (p.headers ?? {}) as Record<string, unknown>;
        const item = p.type === JOB_MESSAGE ? undefined : workCode(headers);
        // A job message (refused unrun by a worker that could not trust it) goes back to the pool's jobs queue; an item message to its code's queue.
        const dest = p.type === JOB_MESSAGE ? `${work}.jobs` : item ? codeQueue(work, item.task, item.code) : work;
        if (item) {
          const problem = await why(dest); // a code queue: it must have a consumer
          if (problem) {
            // Held unacknowledged: it goes back to the dead-letter queue, in its place, when the channel closes.
            const group = left.get(dest) ?? { ...item, codeQueue: dest, count: 0, jobs: [], why: problem };
            group.count++;
            const job = item.job ?? 'missing';
            if (!group.jobs.includes(job)) group.jobs.push(job);
            left.set(dest, group);
            continue;
          }
        } else if (await why(dest)) {
          throw new UsageError(
            `no ${dest === work ? 'work' : 'jobs'} queue ${dest} on the broker: start a worker of pool ${work} first (it declares the queue)`,
          );
        }
        // RabbitMQ's death records go (it writes new ones), and so does the count of declines: another try is a full one.
        const kept = Object.fromEntries(
          Object.entries(headers).filter(
            ([k]) => k !== DECLINES && k !== REFUSED_BY && !/^x-(death|first-death|last-death)/.test(k),
          ),
        );
        /* eslint-disable @typescript-eslint/no-unsafe-assignment -- amqplib types these properties as any; they go back as they came */
        ch.sendToQueue(dest, m.content, {
          persistent: true,
          messageId: p.messageId,
          correlationId: p.correlationId,
          contentType: p.contentType,
          timestamp: p.timestamp,
          type: p.type,
          headers: kept,
        });
        /* eslint-enable @typescript-eslint/no-unsafe-assignment */
        await ch.waitForConfirms();
        ch.ack(m);
        requeued++;
        to[dest] = (to[dest] ?? 0) + 1;
        const job = p.type === JOB_MESSAGE ? jobOf(m.content) : undefined;
        if (isJobId(job)) requeuedJobs.push(job);
      }
      return { queue: dead, requeued, to, left: [...left.values()] };
    } finally {
      await ch.close().catch(() => {});
    }
  });
  if (requeuedJobs.length > 0) await clearNotes(storeUrl, requeuedJobs);
  if (result.left.length > 0) await describeVersions(storeUrl, whereQueue(result.queue), result.left);
  return result;
}

/** The pool whose dead-letter queue is `dead`. */
function whereQueue(dead: string): string {
  return dead.replace(/\.dead$/, '');
}

/**
 * Why `queue` cannot take a message now: it does not exist, or (`consumed`)
 * no worker consumes it; undefined when it can. On a channel of its own (a
 * failed check closes it).
 */
async function queueProblem(conn: ChannelModel, queue: string, consumed: boolean): Promise<string | undefined> {
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  try {
    const q = await ch.checkQueue(queue);
    return q.consumerCount > 0 || !consumed ? undefined : `no worker consumes its queue ${queue}`;
  } catch {
    return `there is no queue ${queue} on the broker (no worker ran that code on this pool, or none has for a week)`;
  } finally {
    await ch.close().catch(() => {});
  }
}

/** Adds to each group what the pool's live workers run for its task, from their heartbeats in the store (best effort: a store that cannot be read leaves it out). */
async function describeVersions(storeUrl: string | undefined, pool: string, left: LeftBehind[]): Promise<void> {
  const store = await openStore(storeUrl).catch(() => undefined);
  if (!store) return;
  try {
    const now = Date.now();
    const beats = (await readBeacons(store, undefined, undefined, now)).beats.filter(
      (b) => b.pool === pool && !isQuiet(b, now),
    );
    for (const group of left) {
      const running: Record<string, string[]> = {};
      const lacking: string[] = [];
      for (const b of beats) {
        const code = Object.hasOwn(b.tasks, group.task) ? b.tasks[group.task] : undefined;
        if (code === undefined) lacking.push(safe(cap(b.name, 60)));
        else (running[code] ??= []).push(safe(cap(b.name, 60)));
      }
      group.running = running;
      group.lacking = lacking;
    }
  } catch {
    // heartbeats not readable now: the report names the code only
  } finally {
    await store.close().catch(() => {});
  }
}

/**
 * What to tell the user about item messages left in `dead` (see
 * {@link requeueDeadLetters}): one paragraph per task and code, naming the
 * code, what the pool's workers run, and what to do.
 */
export function leftBehindText(dead: string, left: LeftBehind[]): string {
  const pool = whereQueue(dead);
  return left
    .map((g) => {
      const jobs =
        g.jobs.length === 1
          ? `job ${g.jobs[0]}`
          : `jobs ${g.jobs.slice(0, 5).join(', ')}${g.jobs.length > 5 ? ', …' : ''}`;
      const versions = Object.entries(g.running ?? {});
      const who =
        g.running === undefined
          ? "what the pool's workers run is not known (their heartbeats are in the store: pass --store)"
          : versions.length === 0 && g.lacking!.length === 0
            ? 'the pool has no live worker'
            : [
                versions.length
                  ? `its workers run task ${show(g.task)} with ${versions.map(([h, names]) => `${safe(show(h))} (${names.join(', ')})`).join('; ')}`
                  : '',
                g.lacking!.length ? `${g.lacking!.join(', ')} lack${g.lacking!.length === 1 ? 's' : ''} the task` : '',
              ]
                .filter(Boolean)
                .join('; ');
      return (
        `${g.count} message(s) of ${safe(jobs)} (task ${show(g.task)}, code ${g.code}) left in ${dead}: no live worker of pool ${pool} runs that code (${g.why}); ${who}. ` +
        `Start a worker with that code of the task ('fj worker --queue ${pool} --tasks MODULE'), then run 'fj dead requeue' again; ` +
        `if the job has ended, or moved to new code (--on-code-change follow sends its unanswered items again itself), 'fj dead purge' drops them`
      );
    })
    .join('\n');
}

/** Clears the refusal notes of jobs whose messages went back (best effort: a store that cannot be opened keeps them, and a wait ends on them until a worker takes the job). */
async function clearNotes(storeUrl: string | undefined, jobIds: string[]): Promise<void> {
  const store = await openStore(storeUrl).catch(() => undefined);
  if (!store) return;
  try {
    for (const id of jobIds) await clearRefusal(store, id).catch(() => {});
  } finally {
    await store.close().catch(() => {});
  }
}

/** Deletes every dead letter of a pool; resolves to how many there were. Asking first is the caller's part (`fj dead purge`). */
export async function purgeDeadLetters(where: DeadLetterLocation = {}): Promise<{ queue: string; purged: number }> {
  return withDeadQueue(where, async (ch, dead) => ({ queue: dead, purged: (await ch.purgeQueue(dead)).messageCount }));
}

type DeadQueueFn<T> = (ch: Channel, dead: string, count: number, conn: ChannelModel, work: string) => Promise<T>;

async function withDeadQueue<T>(where: DeadLetterLocation, fn: DeadQueueFn<T>): Promise<T> {
  const [{ normalizeOptions }, amqp] = await Promise.all([import('../core/job-options.js'), import('./amqp.js')]);
  const opts = normalizeOptions({ executor: 'amqp', broker: where.broker, queue: where.queue });
  const work = opts.queue ?? amqp.DEFAULT_QUEUE;
  const dead = amqp.deadLetterQueue(work);
  const conn = await amqp.connect(amqp.withHeartbeat(opts.broker), 'fj dead');
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => {});
    let count: number;
    try {
      count = (await ch.checkQueue(dead)).messageCount;
    } catch {
      throw new UsageError(`no dead-letter queue ${dead} on the broker: no worker has served pool ${work} there`);
    }
    try {
      return await fn(ch, dead, count, conn, work);
    } finally {
      // Closing the channel gives back every message peeked and not acknowledged, in its place.
      await ch.close().catch(() => {});
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof TransportError) throw err;
    throw new TransportError(`${dead}: ${(err as Error).message}`, { resumable: false });
  } finally {
    await conn.close().catch(() => {});
  }
}

/** The first `n` messages of `queue`, unacknowledged (they go back when the channel closes). */
async function peek(ch: Channel, queue: string, n: number): Promise<GetMessage[]> {
  const got: GetMessage[] = [];
  while (got.length < n) {
    const m = await ch.get(queue, { noAck: false });
    if (!m) break;
    got.push(m);
  }
  return got;
}

function describe(m: GetMessage, n: number, previewChars: number): DeadLetter {
  const headers = (m.properties.headers ?? {}) as Record<string, unknown>;
  const own = (name: string): unknown => (Object.hasOwn(headers, name) ? headers[name] : undefined);
  const verdict = inspectWork(m.content, m.properties.headers, {
    maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
    maxDepth: DEFAULT_MAX_DEPTH,
  });
  const death = firstDeath(own('x-death'));
  const declines = own(DECLINES);
  const refusedBy = own(REFUSED_BY);
  const reason = isJobMessage(m)
    ? `a job message (fj submit) a worker refused unrun: ${typeof refusedBy === 'string' ? cap(refusedBy, 400) : 'reason not recorded'}; give the pool's workers the job's signing key, then 'fj dead requeue' sends it back to the jobs queue`
    : !verdict.ok
      ? verdict.reason
      : typeof declines === 'number' && declines > 0
        ? `put back ${declines} times by workers that do not serve task ${show(verdict.task)}: no worker of the pool serves it (start one with --tasks MODULE, then requeue)`
        : "a well-formed fj message, refused for its job (its params are not in the worker's store: the job ended, or the worker uses another --store), its signature (not the pool's signing key) or its size (over the worker's --max-message-bytes); the worker's log says which";
  const preview = verdict.ok ? itemsPreview(verdict.body.items, previewChars) : bytesPreview(m.content, previewChars);
  return {
    n,
    messageId: safe(show(m.properties.messageId)),
    job: safe(show(isJobMessage(m) ? jobOf(m.content) : own('fj-job'))),
    task: safe(show(own('fj-task'))),
    reason: safe(reason),
    ...(death ? { death } : {}),
    bytes: m.content.length,
    preview: cap(safe(preview), previewChars),
  };
}

function isJobMessage(m: GetMessage): boolean {
  return m.properties.type === JOB_MESSAGE;
}

/** The job id in a job message's body (`{"job": …}`), read defensively. */
function jobOf(content: Buffer): unknown {
  if (content.length > 4096) return undefined;
  try {
    return (JSON.parse(content.toString('utf8')) as { job?: unknown } | null)?.job;
  } catch {
    return undefined;
  }
}

/** RabbitMQ's first `x-death` entry, read defensively (it is a header like any other). */
function firstDeath(value: unknown): DeadLetter['death'] {
  if (!Array.isArray(value) || value.length === 0 || value[0] === null || typeof value[0] !== 'object')
    return undefined;
  const d = value[0] as Record<string, unknown>;
  const time = d.time as { value?: unknown } | undefined;
  const seconds = typeof time?.value === 'number' ? time.value : typeof d.time === 'number' ? d.time : undefined;
  return {
    reason: safe(String(typeof d.reason === 'string' ? d.reason : show(d.reason))),
    queue: safe(typeof d.queue === 'string' ? cap(d.queue, 260) : show(d.queue)),
    count: typeof d.count === 'number' ? d.count : Number(d.count) || 0,
    ...(seconds === undefined ? {} : { time: new Date(seconds * 1000).toISOString() }),
  };
}

/** The items of a message the gate passed, as JSON text: inline ones decoded, stored ones named by ref. */
function itemsPreview(items: Slot[], max: number): string {
  const parts: string[] = [];
  let length = 0;
  for (const item of items) {
    if (length > max) break;
    const text = typeof item === 'string' ? `<ref ${item}>` : json(decode(item));
    parts.push(text);
    length += text.length + 2;
  }
  return `${items.length} item(s): [${parts.join(', ')}${parts.length < items.length ? ', …' : ''}]`;
}

function json(value: unknown): string {
  try {
    return (
      JSON.stringify(value, (_k, v: unknown) =>
        typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? `<${v.length} bytes>` : v,
      ) ?? 'undefined'
    );
  } catch {
    return '<not representable>';
  }
}

/** The first bytes of a body the gate refused: text (escaped) when it is printable UTF-8, else hex. */
function bytesPreview(content: Buffer, max: number): string {
  const head = content.subarray(0, Math.min(content.length, Math.max(16, Math.floor(max / 3))));
  const text = head.toString('utf8');
  // Text (escaped) when it is UTF-8 and mostly printable; a few control characters are shown as escapes.
  const controls = text.match(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g)?.length ?? 0;
  const printable = text.length > 0 && !text.includes('\ufffd') && controls * 5 <= text.length;
  const more = head.length < content.length ? ' …' : '';
  return printable
    ? `text ${JSON.stringify(text)}${more}`
    : `hex ${[...head].map((b) => b.toString(16).padStart(2, '0')).join(' ')}${more}`;
}

/** Every header, each value described by `show` (escaped, truncated). */
function safeHeaders(headers: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers === null || typeof headers !== 'object') return out;
  for (const key of Object.keys(headers).slice(0, 50))
    out[safe(cap(key, 60))] = safe(show((headers as Record<string, unknown>)[key]));
  return out;
}

/** No terminal control sequences (core/printable.ts, the one rule). */
const safe = printable;

function cap(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
