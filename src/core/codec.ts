/**
 * The one codec every executor uses for items, params and results: msgpackr
 * with safe options. Eager runs the same round trip, so a value that would not
 * survive the wire fails in a unit test, naming the hook and the item index.
 *
 * Safe options: no structured-clone references (a cyclic or shared graph is an
 * error, not silently rebuilt), no records (every message decodes on its own,
 * with no structure definitions shared across messages), maps decode as plain
 * objects only because Maps are refused before encoding.
 */
import type * as Msgpackr from 'msgpackr';
// msgpackr's plain entry: its pack and unpack, without the native string decoder (loaded once there is decoding to
// speed up: see decoded()). Its declaration file re-exports the package's by a path TypeScript's NodeNext resolution
// does not follow, hence the package's own types here.
import * as plain from 'msgpackr/pack';
import { CodecError, type Where } from './errors.js';

const { Packr } = plain as unknown as typeof Msgpackr;

/**
 * Bytes a process (or thread) decodes before it loads msgpackr's native
 * string decoder (`msgpackr-extract`, through msgpackr's Node entry). It
 * decodes strings ~3x faster, and loading it costs ~15 ms (a native addon
 * and the libc probe before it): a one-item `fj run` never pays it, a job
 * with data to decode pays it once, early, while it goes on decoding.
 */
export const ACCELERATE_AFTER_BYTES = 256 * 1024;

let decodedBytes = 0;
let accelerating = false;

/** Counts `n` decoded bytes; past {@link ACCELERATE_AFTER_BYTES}, loads the native decoder in the background (msgpackr uses it once loaded). */
function decoded(n: number): void {
  if (accelerating) return;
  decodedBytes += n;
  if (decodedBytes < ACCELERATE_AFTER_BYTES) return;
  accelerating = true;
  // The native module is optional to msgpackr too: without it (another platform, no prebuilt binary) decoding stays in JavaScript.
  void import('msgpackr').catch(() => {});
}

const packr = new Packr({
  structuredClone: false,
  useRecords: false,
  moreTypes: false,
  bundleStrings: false,
  mapsAsObjects: true,
  int64AsType: 'bigint',
  // Objects of any size: without it msgpackr refuses more than 65,535 keys
  // (a merged word count over a real vocabulary has more).
  variableMapSize: true,
});

/**
 * Decodes msgpack maps as Map (see {@link decode}); same options otherwise.
 */
const mapPackr = new Packr({
  structuredClone: false,
  useRecords: false,
  moreTypes: false,
  bundleStrings: false,
  mapsAsObjects: false,
  int64AsType: 'bigint',
  variableMapSize: true,
});

/**
 * In a list of individually encoded results (an `fj worker`'s answer),
 * marks an item whose result was merged by the task's `combine` into an
 * earlier item's. No msgpack value encodes to zero bytes, so it cannot be
 * mistaken for a result.
 */
export const COVERED_BYTES = new Uint8Array(0);

const PROTO_KEY = Buffer.from('__proto__');

const MAX_DEPTH = 512;

/**
 * Throws {@link CodecError} unless `value` is plain data that decodes to an
 * equal value: null, boolean, number, string, Date, Uint8Array,
 * arrays and plain objects (prototype `Object.prototype` or `null`) of these.
 */
export function assertPlain(value: unknown, where: Where): void {
  // The fast walk builds no path strings; only a failure pays for them.
  if (!isPlain(value, 0)) check(value, where, '', 0);
}

/** {@link assertPlain} for item `index` of a hook: the `Where` is built only when the value fails (none per item on the hot path). */
export function assertPlainAt(value: unknown, task: string | undefined, hook: Where['hook'], index: number): void {
  if (!isPlain(value, 0)) check(value, { task, hook, index }, '', 0);
}

/** True when `value` is plain data; the same rules as {@link check}, without paths. */
function isPlain(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'undefined':
      return true;
    case 'object':
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (depth > MAX_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!isPlain(value[i], depth + 1)) return false;
    return true;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) {
    for (const key in value) if (!isPlain((value as Record<string, unknown>)[key], depth + 1)) return false;
    return true;
  }
  return value instanceof Date || value instanceof Uint8Array;
}

function check(value: unknown, where: Where, path: string, depth: number): void {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'undefined':
      return;
    case 'bigint':
      // Not plain data: a job's output is JSON, which has none, and it would be an "internal error" at the very end.
      throw new CodecError(where, path, 'a bigint (return it as a string, or as a number if it fits)');
    case 'function':
      throw new CodecError(where, path, `a function (${(value as { name?: string }).name || 'anonymous'})`);
    case 'symbol':
      throw new CodecError(where, path, 'a symbol');
  }
  if (value === null) return;
  if (depth > MAX_DEPTH) throw new CodecError(where, path, `nested deeper than ${MAX_DEPTH} levels (a cycle?)`);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) check(value[i], where, `${path}/${i}`, depth + 1);
    return;
  }
  const proto = Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null;
  if (proto === Object.prototype || proto === null) {
    for (const key in value as object) {
      check((value as Record<string, unknown>)[key], where, `${path}/${escape(key)}`, depth + 1);
    }
    return;
  }
  if (value instanceof Date || value instanceof Uint8Array) return;
  const name = proto?.constructor?.name ?? 'unknown';
  if (value instanceof Map)
    throw new CodecError(where, path, 'a Map (it would arrive as a plain object; use an object or an array of pairs)');
  if (value instanceof Set) throw new CodecError(where, path, 'a Set (it would arrive as an array; use an array)');
  throw new CodecError(where, path, `an instance of ${name} (it would arrive as a plain object without its methods)`);
}

function escape(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Checks then encodes one value. */
export function encode(value: unknown, where: Where): Uint8Array {
  assertPlain(value, where);
  return packr.pack(value);
}

/** Encodes a value already checked with {@link assertPlain}. */
export function encodeChecked(value: unknown): Uint8Array {
  return packr.pack(value);
}

/**
 * Copies encoded bytes into an ArrayBuffer of their own (msgpackr may return
 * a view of a larger, reused buffer), so posting them to another thread
 * copies only these bytes. Posted, never transferred: the first detached
 * ArrayBuffer of an isolate makes V8 check for detachment in every typed
 * array access of its optimized code from then on.
 */
export function detach(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return copy;
}

declare global {
  interface String {
    /** `String.prototype.isWellFormed`: in Node 20, not in TypeScript's ES2023 lib (and ES2024's would admit what Node 20 lacks). */
    isWellFormed(): boolean;
  }
}

/**
 * True when handing `values` to another thread by structured clone (a
 * `postMessage` of the array) gives exactly what the msgpack round trip
 * would: every value is a string without lone surrogates (msgpack would
 * replace them), a finite number other than -0 (msgpack writes 0), a boolean
 * or null. Such batches — documents, ids, paths, seeds — skip encoding
 * (V8's serializer copies them faster, with no JIT warm-up); anything else
 * is encoded.
 */
export function clonesExactly(values: readonly unknown[]): boolean {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    switch (typeof v) {
      case 'string':
        if (!v.isWellFormed()) return false;
        continue;
      case 'number':
        if (!Number.isFinite(v) || Object.is(v, -0)) return false;
        continue;
      case 'boolean':
        continue;
      default:
        if (v !== null) return false;
    }
  }
  return true;
}

/** Decodes one value encoded by {@link encode}. */
export function decode<T = unknown>(bytes: Uint8Array): T {
  decoded(bytes.length);
  // msgpackr renames a `__proto__` key to `__proto_` (its guard against
  // prototype pollution). Here keys are data (wordcount counts the word
  // `__proto__`), so when the bytes may hold that key, decode maps as Maps and
  // rebuild each object with the key as an own property: nothing is polluted,
  // nothing renamed. The byte search keeps the common case fast.
  // (Bytes shorter than the key cannot hold it: most items and results of small jobs, decoded one by one.)
  if (
    bytes.length < PROTO_KEY.length ||
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(PROTO_KEY) === -1
  )
    return packr.unpack(bytes) as T;
  return fromMaps(mapPackr.unpack(bytes)) as T;
}

function fromMaps(value: unknown): unknown {
  if (value instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [key, v] of value) {
      Object.defineProperty(out, String(key), {
        value: fromMaps(v),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  if (Array.isArray(value)) for (let i = 0; i < value.length; i++) value[i] = fromMaps(value[i]);
  return value;
}

/**
 * Decodes a msgpack sequence — individually encoded values laid end to end,
 * as {@link concatBytes} joins them — in one pass, with {@link decode}'s
 * handling of a `__proto__` key.
 */
export function decodeSequence(bytes: Uint8Array): unknown[] {
  if (bytes.length === 0) return [];
  decoded(bytes.length);
  if (Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(PROTO_KEY) === -1)
    return packr.unpackMultiple(bytes) as unknown[];
  return (mapPackr.unpackMultiple(bytes) as unknown[]).map(fromMaps);
}

/** `parts` laid end to end in one buffer of their own (posted to a thread whole: `Buffer.concat` may return a view of Node's shared pool). */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Encode-then-decode: what a value looks like after crossing the wire. */
export function roundTrip<T>(value: T, where: Where): T {
  return decode<T>(encode(value, where));
}
