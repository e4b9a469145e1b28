/**
 * Bodies of fj's broker messages (msgpack). An entry of `items` or `results`
 * is either the encoded value itself (bytes, when small) or the store ref of
 * it (a string, when larger than the inline limit): a message carries only its
 * own items, never another item's data nor the params (those go by ref in the
 * `fj-params` header).
 */
import { decode, encodeChecked } from '../codec.js';
import type { WireError } from '../worker/wire-error.js';

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
}

export function encodeBody(body: WorkBody | ResultBody): Buffer {
  return Buffer.from(encodeChecked(body));
}

export function decodeBody<T extends WorkBody | ResultBody>(bytes: Uint8Array): T {
  return decode<T>(bytes);
}
