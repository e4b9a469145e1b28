/**
 * Bodies of fj's broker messages (msgpack). An entry of `items` or `results`
 * is either the encoded value itself (bytes, when small) or the store ref of
 * it (a string, when larger than the inline limit): a message carries only its
 * own items, never another item's data nor the params (those go by ref in the
 * `fj-params` header).
 */
import { decode, encodeChecked } from '../core/codec.js';
import type { WireError } from '../core/wire-error.js';

/** One entry: inline bytes or a store ref. */
export type Slot = Uint8Array | string;

/** A work message: items `first .. first + items.length - 1` of a job. */
export interface WorkBody {
  first: number;
  items: Slot[];
}

/** A result message for one work message. */
export interface ResultBody {
  first: number;
  /** One entry per item, when the status is ok; `null` for an item listed in `failures`. */
  results?: (Slot | null)[];
  /** Items whose attempt failed, by position in the message. */
  failures?: { i: number; error: WireError }[];
  /** Items answered, when `results` is absent (a whole-message failure). */
  count?: number;
  /** Why the items failed or were refused. */
  error?: WireError;
  /** Milliseconds the worker spent in `process` for this message. */
  ms?: number;
  /** Bytes the worker wrote to the store for these results. */
  stored?: number;
  /** A refusal of a message that does not carry a good signature under the refusing worker's key. */
  unsigned?: boolean;
}

/**
 * A message body, encoded: a Buffer over msgpackr's own bytes, not a copy
 * (`Buffer.from` of a Uint8Array copies it: 23 ms of a coordinator's CPU for
 * the word count's 28 MB of work messages). msgpackr never writes over bytes
 * it has returned: its next encoding starts after them.
 */
export function encodeBody(body: WorkBody | ResultBody): Buffer {
  const bytes = encodeChecked(body);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function decodeBody<T extends WorkBody | ResultBody>(bytes: Uint8Array): T {
  return decode<T>(bytes);
}

/** The AMQP `type` of a job message (`fj submit`'s, on `<queue>.jobs`): `{"job": "<id>"}`. */
export const JOB_MESSAGE = 'fj.job';
/** Header counting how often workers that do not serve a message's task put it back (see worker/refusals.ts). */
export const DECLINES = 'fj-declines';
/** Header of a single-item message split from a redelivered one: its starts are counted (see worker/crash-count.ts). */
export const ISOLATED = 'fj-isolated';
/** Messages larger than this are dead-lettered unread, unless a worker is set otherwise. */
export const DEFAULT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024;
