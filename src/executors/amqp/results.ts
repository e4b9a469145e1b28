/**
 * Reading a message from a job's results queue, before anything counts it:
 * a results queue is writable by anyone with broker access, so a result is
 * hostile until read here. Pure and synchronous (no amqplib types, no store):
 * message in, a checked reading out.
 *
 * - The body's shape is walked with the same bounded scanner as work
 *   messages (broker/inspect.ts) before msgpackr decodes it, so a body
 *   nested 200,000 deep is refused instead of overflowing the stack.
 * - Every field is checked: a result slot is bytes, a ref inside this job,
 *   or null; positions are integers inside the message; errors are plain
 *   `{ code, message }` records.
 * - Which items an answer may speak for is the transport's check (it knows
 *   the messages it sent); this only guarantees the reading is well formed.
 */
import { decode } from '../../core/codec.js';
import { H } from '../../broker/amqp.js';
import { show } from '../../broker/inspect.js';
import { checkMsgpack } from '../../broker/msgpack-check.js';
import type { ResultBody, Slot } from '../../broker/messages.js';
import type { WireError } from '../../core/wire-error.js';
import { SIGNATURE_HEADER, type Signer } from '../../core/signing.js';
import { isCancelSource, type CancelSource } from '../../store/cancel-record.js';

/** Deepest nesting a result body's own structure needs (body > failures > failure > error > where/cause). */
const BODY_DEPTH = 6;

/** A result message, read and checked. Positions are within the work message answered. */
export type ResultReading =
  /** A cancel naming run `token`; `by`: who cancelled, when the message says so in a way this reader believes. */
  | { kind: 'cancel'; token: string; by: CancelSource | undefined }
  | {
      kind: 'refused';
      id: string;
      worker: string;
      first: number;
      count: number;
      reason: string;
      /** The worker refused it as not signed with its key. */
      unsigned: boolean;
    }
  /** The worker does not serve the task and has put the message back for another worker. */
  | { kind: 'declined'; id: string; worker: string; first: number; count: number; reason: string }
  | { kind: 'failed'; id: string; worker: string; first: number; count: number; error: WireError | undefined }
  | {
      kind: 'ok';
      id: string;
      worker: string;
      first: number;
      /** One slot per item answered (null where it failed). */
      slots: (Slot | null)[];
      /** Groups of positions sharing one result: lone items, or the items one merged result covers. */
      groups: number[][];
      /** Positions that failed, with their errors (a missing error is reported as such). */
      failed: { at: number; error: WireError }[];
      ms: number | undefined;
      stored: number;
    }
  | { kind: 'bad'; worker: string; reason: string }
  /** A result naming message `id` without a good signature (the pool signs). */
  | { kind: 'unsigned'; id: string; worker: string };

/** The AMQP properties a reading needs. */
export interface ResultProperties {
  type?: unknown;
  correlationId?: unknown;
  headers?: Record<string, unknown> | null;
}

/** Reads a message from job `jobId`'s results queue. Never throws. */
// eslint-disable-next-line complexity -- a gate on untrusted messages: one check per header and field, each with its own refusal
export function readResult(content: Buffer, props: ResultProperties, jobId: string, signer?: Signer): ResultReading {
  const headers = props.headers ?? {};
  const worker = typeof headers[H.worker] === 'string' ? show(headers[H.worker]).slice(1, -1) : 'an unnamed worker';
  const bad = (reason: string): ResultReading => ({ kind: 'bad', worker, reason });
  if (props.type === 'fj.cancel') {
    const token = typeof props.correlationId === 'string' ? props.correlationId : '';
    // Its source is signed with it; an older fj's cancel has none, and is signed without one.
    const said = headers[H.cancelBy];
    const signed =
      said === undefined
        ? signer?.verify(headers[SIGNATURE_HEADER], 'cancel', token, jobId)
        : typeof said === 'string' && signer?.verify(headers[SIGNATURE_HEADER], 'cancel', token, jobId, said);
    if (signer && !signed) return bad('a cancel message not signed with the signing key');
    return { kind: 'cancel', token, by: isCancelSource(said) ? said : undefined };
  }
  const id = props.correlationId;
  if (typeof id !== 'string' || id.length === 0 || id.length > 300)
    return bad(`correlation id ${show(id)} names no message`);
  if (signer && !signer.verify(headers[SIGNATURE_HEADER], 'result', id, jobId, String(headers[H.status]), content))
    return { kind: 'unsigned', id, worker };
  const shape = checkMsgpack(content, BODY_DEPTH);
  if (shape) return bad(`body: ${shape}`);
  let body: ResultBody;
  try {
    body = decode<ResultBody>(content);
  } catch (err) {
    return bad(`body: ${(err as Error).message}`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return bad('body: not a map');
  const { first } = body;
  if (!Number.isSafeInteger(first) || first < 0) return bad(`first: ${show(first)} is not an item index`);
  const status = headers[H.status];
  if (status === 'refused' || status === 'declined' || status === 'failed') {
    const count = body.count;
    if (!Number.isSafeInteger(count) || (count as number) < 1)
      return bad(`count: ${show(count)} is not a positive integer`);
    const error = wireError(body.error);
    if (status === 'refused')
      return {
        kind: 'refused',
        id,
        worker,
        first,
        count: count!,
        reason: error?.message ?? 'refused',
        unsigned: body.unsigned === true,
      };
    if (status === 'declined')
      return { kind: 'declined', id, worker, first, count: count!, reason: error?.message ?? 'declined' };
    return { kind: 'failed', id, worker, first, count: count!, error };
  }
  if (status !== 'ok') return bad(`header ${H.status}: ${show(status)}`);
  const slots = body.results;
  if (!Array.isArray(slots) || slots.length === 0) return bad('results: not a non-empty array');
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i];
    if (s === null || s instanceof Uint8Array) continue;
    if (typeof s !== 'string') return bad(`results[${i}]: ${show(s)} is neither bytes, a ref nor null`);
    if (!s.startsWith(`${jobId}/`) || !/^[0-9a-f]{64}$/.test(s.slice(jobId.length + 1)))
      return bad(`results[${i}]: ref ${show(s)} is outside job ${show(jobId)}`);
  }
  const errors = new Map<number, WireError>();
  if (body.failures !== undefined) {
    if (!Array.isArray(body.failures)) return bad('failures: not an array');
    for (const f of body.failures) {
      if (f === null || typeof f !== 'object' || !Number.isSafeInteger(f.i) || f.i < 0 || f.i >= slots.length)
        return bad(`failures: ${show(f?.i)} is not a position in the message`);
      errors.set(
        f.i,
        wireError(f.error) ?? { code: 'FJ_INTERNAL', message: `worker ${worker} reported a failure without an error` },
      );
    }
  }
  const { groups, failed } = groupsOf(slots, body.failures);
  const orphan: WireError = { code: 'FJ_INTERNAL', message: `worker ${worker} answered without a result` };
  const ms = typeof body.ms === 'number' && Number.isFinite(body.ms) && body.ms >= 0 ? body.ms : undefined;
  const stored =
    typeof body.stored === 'number' && Number.isSafeInteger(body.stored) && body.stored >= 0 ? body.stored : 0;
  return {
    kind: 'ok',
    id,
    worker,
    first,
    slots,
    groups,
    failed: failed.map((at) => ({ at, error: errors.get(at) ?? orphan })),
    ms,
    stored,
  };
}

/** A wire error as sent, when it is one; only its plain fields are kept. */
function wireError(e: unknown): WireError | undefined {
  if (e === null || typeof e !== 'object') return undefined;
  const w = e as Partial<WireError>;
  if (typeof w.code !== 'string' || typeof w.message !== 'string') return undefined;
  return w as WireError;
}

/**
 * Splits a result message's items into the failed ones and the groups that
 * share one result: a lone item, or the items a merged result (`combine`)
 * covers — the item holding it and the covered ones (zero bytes) after it.
 * Positions are within the message.
 */
export function groupsOf(
  results: readonly (Slot | null)[],
  failures: readonly { i: number }[] | undefined,
): { groups: number[][]; failed: number[] } {
  const failedAt = new Set(failures?.map((f) => f.i));
  const groups: number[][] = [];
  const failed: number[] = [];
  let open: number[] | undefined;
  for (let i = 0; i < results.length; i++) {
    const s = results[i];
    if (failedAt.has(i) || s === null) {
      failed.push(i); // a null without a failure (a broken answer) fails too, so the item is not left unanswered
      continue;
    }
    if (typeof s !== 'string' && s.length === 0) {
      if (open)
        open.push(i); // covered by the group before it
      else failed.push(i); // covered by nothing (a broken answer): a failed attempt, so the item is not left unanswered
      continue;
    }
    open = [i];
    groups.push(open);
  }
  return { groups, failed };
}
