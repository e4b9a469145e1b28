/**
 * The gate every work message passes before anything else touches it: the
 * work queue is writable by anyone with broker access, so a worker treats a
 * message as hostile until {@link inspectWork} has said otherwise.
 *
 * - Pure and synchronous: no store, no broker, no task registry. Whether the
 *   task is served and the job's params exist are the worker's checks.
 * - The body is parsed by hand, never by msgpackr: msgpackr's decoder
 *   recurses (a body nested 100,000 deep would overflow the stack) and honours
 *   extensions fj never writes (records, Sets, RegExps, Errors, typed arrays).
 * - Inline items stay encoded (the worker forwards them to threads as bytes):
 *   {@link checkMsgpack} walks each one without building anything, so what a
 *   thread will decode is well-formed, shallow enough and free of foreign
 *   extensions.
 * - Reasons say what and where (`items[3]: ref "j2/…" is outside job "j1"`)
 *   and quote hostile values escaped and truncated: they go to logs.
 */
import { H, PROTOCOL } from './amqp.js';
import type { Slot, WorkBody } from './messages.js';
import { checkMsgpack, describeToken, u16, u32 } from './msgpack-check.js';
import { isJobId } from '../core/job-id.js';

export { checkMsgpack };

/** Bounds {@link inspectWork} enforces. */
export interface InspectLimits {
  /** A body longer than this is refused unread. */
  maxMessageBytes: number;
  /** Deepest container nesting allowed inside an item (a top-level array or map is depth 0). */
  maxDepth: number;
}

/** What {@link inspectWork} returns: the checked fields, or why the message is refused. */
export type Inspection =
  | { ok: true; job: string; task: string; code: string; paramsRef: string; body: WorkBody }
  | { ok: false; reason: string };

/**
 * The item depth fj's own codec allows (core/codec.ts: containers at depth 0..512),
 * so every item fj encodes passes, and the threads' recursive decoder never
 * sees more than that.
 */
export const DEFAULT_MAX_DEPTH = 512;

const HASH = /^[0-9a-f]{64}$/;
// task/code-hash.ts fingerprints code with 16 hex digits; a full sha256 is accepted too.
const CODE = /^(?:[0-9a-f]{16}|[0-9a-f]{64})$/;
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const MAX_TASK_NAME = 200;
/** Longest well-formed ref: a 100-character job id, a slash, 64 hex digits. */
const MAX_REF = 165;

/**
 * Inspects a work message (its body and AMQP headers). On success the body's
 * inline items are views into `content`, still encoded; refs are checked to
 * lie inside the message's job.
 */
export function inspectWork(
  content: Buffer,
  headers: Record<string, unknown> | undefined,
  limits: InspectLimits,
): Inspection {
  if (content.length > limits.maxMessageBytes)
    return no(`body: ${content.length} bytes, over the ${limits.maxMessageBytes}-byte limit`);
  if (headers === undefined || headers === null || typeof headers !== 'object')
    return no('headers: none (not an fj message)');
  const proto: unknown = Object.getPrototypeOf(headers);
  // amqplib decodes a `__proto__` table header by assignment, which swaps the
  // headers object's prototype: every other header could then be inherited.
  if (proto !== Object.prototype && proto !== null)
    return no('headers: a "__proto__" header replaced the prototype of the headers object');
  const header = (name: string): unknown => (Object.hasOwn(headers, name) ? headers[name] : undefined);

  const protocol = header(H.protocol);
  if (protocol !== PROTOCOL)
    return no(`header ${H.protocol}: ${show(protocol)}, expected ${PROTOCOL} (not an fj protocol ${PROTOCOL} message)`);
  const job = header(H.job);
  if (!isJobId(job)) {
    return no(
      `header ${H.job}: ${show(job)} is not a job id (1-100 of A-Z a-z 0-9 . _ -, not starting with "." and without "..")`,
    );
  }
  const task = header(H.task);
  if (typeof task !== 'string' || task.length === 0 || task.length > MAX_TASK_NAME || CONTROL.test(task)) {
    return no(`header ${H.task}: ${show(task)} is not a task name (1-${MAX_TASK_NAME} printable characters)`);
  }
  const code = header(H.code);
  if (typeof code !== 'string' || !CODE.test(code))
    return no(`header ${H.code}: ${show(code)} is not a code hash (16 or 64 lowercase hex digits)`);
  const paramsRef = header(H.params);
  const refWhy = checkRef(paramsRef, job);
  if (refWhy) return no(`header ${H.params}: ${refWhy}`);
  const firstHeader = header(H.first);
  const countHeader = header(H.count);
  if (!isIndex(firstHeader)) return no(`header ${H.first}: ${show(firstHeader)} is not a non-negative safe integer`);
  if (!isIndex(countHeader) || countHeader === 0)
    return no(`header ${H.count}: ${show(countHeader)} is not a positive integer`);

  const parsed = parseBody(content, job, limits.maxDepth);
  if (typeof parsed === 'string') return no(parsed);
  if (parsed.first !== firstHeader)
    return no(`body: first is ${parsed.first} but header ${H.first} says ${firstHeader}`);
  if (parsed.items.length !== countHeader)
    return no(`body: ${parsed.items.length} item(s) but header ${H.count} says ${countHeader}`);
  return { ok: true, job, task, code, paramsRef: paramsRef as string, body: parsed };
}

/**
 * The task and code hash a work message's headers name (the code queue it
 * belongs on: broker/amqp.ts `codeQueue`), checked as {@link inspectWork}
 * checks them, with its job id when that header is one; undefined when
 * either is missing or malformed. The body is not read.
 */
export function workCode(
  headers: Record<string, unknown> | undefined,
): { task: string; code: string; job: string | undefined } | undefined {
  if (headers === undefined || headers === null || typeof headers !== 'object') return undefined;
  const proto: unknown = Object.getPrototypeOf(headers);
  if (proto !== Object.prototype && proto !== null) return undefined;
  const header = (name: string): unknown => (Object.hasOwn(headers, name) ? headers[name] : undefined);
  const task = header(H.task);
  const code = header(H.code);
  if (typeof task !== 'string' || task.length === 0 || task.length > MAX_TASK_NAME || CONTROL.test(task))
    return undefined;
  if (typeof code !== 'string' || !CODE.test(code)) return undefined;
  const job = header(H.job);
  return { task, code, job: isJobId(job) ? job : undefined };
}

function no(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Why `ref` is not `<job>/<64 hex>` of this very job, or undefined. */
function checkRef(ref: unknown, job: string): string | undefined {
  if (typeof ref !== 'string') return `${show(ref)} is not a ref (expected "${job}/<64 hex>")`;
  const slash = ref.indexOf('/');
  const owner = slash < 0 ? ref : ref.slice(0, slash);
  if (owner !== job) return `ref ${show(ref)} is outside job ${show(job)}`;
  if (!HASH.test(ref.slice(slash + 1))) return `ref ${show(ref)} is not "${job}/<64 lowercase hex>"`;
  return undefined;
}

/** Quotes a hostile value for a log line: escaped, truncated, or its type. */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  return `a ${typeof v === 'object' ? 'table' : typeof v}`;
}

// ---------------------------------------------------------------------------
// The body: a map with exactly `first` (non-negative safe integer) and
// `items` (a non-empty array of bin or str), nothing else, no trailing bytes.

/** Parses the body by hand; a string is the reason it is refused. */
function parseBody(b: Buffer, job: string, maxDepth: number): WorkBody | string {
  const end = b.length;
  if (end === 0) return 'body: empty';
  const t = b[0];
  let n: number;
  let pos: number;
  if (t >= 0x80 && t <= 0x8f) [n, pos] = [t & 0x0f, 1];
  else if (t === 0xde && end >= 3) [n, pos] = [u16(b, 1), 3];
  else if (t === 0xdf && end >= 5) [n, pos] = [u32(b, 1), 5];
  else return `body: ${describeToken(b, 0)}, expected a map {first, items}`;
  if (n !== 2) return `body: a map of ${n} entries, expected exactly first and items`;
  let first: number | undefined;
  let items: Slot[] | undefined;
  for (let e = 0; e < 2; e++) {
    const key = readStr(b, pos, 16);
    if (typeof key === 'string') return `body: key ${key}, expected first or items`;
    const name = b.toString('utf8', key.start, key.end);
    pos = key.end;
    if (name === 'first' && first === undefined) {
      const v = readIndex(b, pos);
      if (typeof v === 'string') return `body: first: ${v}`;
      [first, pos] = v;
    } else if (name === 'items' && items === undefined) {
      const v = readItems(b, pos, job, maxDepth);
      if (typeof v === 'string') return v;
      [items, pos] = v;
    } else if (name === 'first' || name === 'items') {
      return `body: key ${name} twice`;
    } else {
      return `body: unexpected key ${show(name)} (expected exactly first and items)`;
    }
  }
  if (pos !== end) return `body: ${end - pos} trailing byte(s) after the map, at byte ${pos}`;
  if (!Number.isSafeInteger(first! + items!.length))
    return `body: first ${first} plus ${items!.length} items passes the largest safe integer`;
  return { first: first!, items: items! };
}

/** A str at `pos` of at most `max` bytes: its byte range, or why not. */
function readStr(b: Uint8Array, pos: number, max: number): { start: number; end: number } | string {
  if (pos >= b.length) return 'missing, the body ends';
  const t = b[pos];
  let len: number;
  let start: number;
  if (t >= 0xa0 && t <= 0xbf) [len, start] = [t & 0x1f, pos + 1];
  else if (t === 0xd9 && pos + 2 <= b.length) [len, start] = [b[pos + 1], pos + 2];
  else if (t === 0xda && pos + 3 <= b.length) [len, start] = [u16(b, pos + 1), pos + 3];
  else if (t === 0xdb && pos + 5 <= b.length) [len, start] = [u32(b, pos + 1), pos + 5];
  else return describeToken(b, pos);
  if (len > max) return `a string of ${len} bytes`;
  if (start + len > b.length) return `a string declaring ${len} bytes with only ${b.length - start} left`;
  return { start, end: start + len };
}

/** A non-negative safe integer at `pos` and the position after it, or why not. */
function readIndex(b: Buffer, pos: number): [number, number] | string {
  if (pos >= b.length) return 'missing, the body ends';
  const t = b[pos];
  const need = (k: number) => pos + 1 + k <= b.length;
  let v: number;
  let next: number;
  if (t <= 0x7f) [v, next] = [t, pos + 1];
  else if (t === 0xcc && need(1)) [v, next] = [b[pos + 1], pos + 2];
  else if (t === 0xcd && need(2)) [v, next] = [u16(b, pos + 1), pos + 3];
  else if (t === 0xce && need(4)) [v, next] = [u32(b, pos + 1), pos + 5];
  else if ((t === 0xcf || t === 0xd3) && need(8)) {
    const hi = u32(b, pos + 1);
    if (hi > 0x1fffff) return `a 64-bit integer outside 0..2^53-1`;
    [v, next] = [hi * 0x100000000 + u32(b, pos + 5), pos + 9];
  } else if (t === 0xd0 && need(1)) [v, next] = [(b[pos + 1] << 24) >> 24, pos + 2];
  else if (t === 0xd1 && need(2)) [v, next] = [(u16(b, pos + 1) << 16) >> 16, pos + 3];
  else if (t === 0xd2 && need(4)) [v, next] = [u32(b, pos + 1) | 0, pos + 5];
  else if (t === 0xca && need(4)) [v, next] = [b.readFloatBE(pos + 1), pos + 5];
  else if (t === 0xcb && need(8)) [v, next] = [b.readDoubleBE(pos + 1), pos + 9];
  else return `${describeToken(b, pos)}, expected a non-negative integer`;
  if (!Number.isSafeInteger(v) || v < 0) return `${v} is not a non-negative safe integer`;
  return [v === 0 ? 0 : v, next];
}

/** The items array at `pos`: inline items as views of `b`, checked refs, and the position after it. */
function readItems(b: Buffer, pos: number, job: string, maxDepth: number): [Slot[], number] | string {
  const end = b.length;
  if (pos >= end) return 'body: items: missing, the body ends';
  const t = b[pos];
  let n: number;
  if (t >= 0x90 && t <= 0x9f) [n, pos] = [t & 0x0f, pos + 1];
  else if (t === 0xdc && pos + 3 <= end) [n, pos] = [u16(b, pos + 1), pos + 3];
  else if (t === 0xdd && pos + 5 <= end) [n, pos] = [u32(b, pos + 1), pos + 5];
  else return `body: items: ${describeToken(b, pos)}, expected an array`;
  if (n === 0) return 'body: items: empty';
  // Every item takes at least two bytes: a count beyond that is a lie, refused before any allocation.
  if (n * 2 > end - pos) return `body: items: an array declaring ${n} items with only ${end - pos} bytes left`;
  const items = new Array<Slot>(n);
  for (let i = 0; i < n; i++) {
    if (pos >= end) return `items[${i}]: missing, the body ends`;
    const t = b[pos];
    let len: number;
    let start: number;
    // (plain assignments, not destructuring: this loop runs once per item)
    if (t === 0xc4 && pos + 2 <= end) {
      len = b[pos + 1];
      start = pos + 2;
    } else if (t === 0xc5 && pos + 3 <= end) {
      len = u16(b, pos + 1);
      start = pos + 3;
    } else if (t === 0xc6 && pos + 5 <= end) {
      len = u32(b, pos + 1);
      start = pos + 5;
    } else if ((t >= 0xa0 && t <= 0xbf) || (t >= 0xd9 && t <= 0xdb)) {
      const s = readStr(b, pos, MAX_REF);
      if (typeof s === 'string') return `items[${i}]: ${s}, expected a ref "${job}/<64 hex>"`;
      const why = checkRef(b.toString('utf8', s.start, s.end), job);
      if (why) return `items[${i}]: ${why}`;
      items[i] = b.toString('latin1', s.start, s.end); // checked: ASCII only
      pos = s.end;
      continue;
    } else return `items[${i}]: ${describeToken(b, pos)}, expected encoded bytes or a ref`;
    if (start + len > end) return `items[${i}]: bytes declaring ${len} bytes with only ${end - start} left`;
    if (len === 0) return `items[${i}]: empty bytes, expected one encoded value`;
    const why = checkMsgpack(b, maxDepth, start, start + len);
    if (why) return `items[${i}] ${why}`;
    items[i] = new Uint8Array(b.buffer, b.byteOffset + start, len);
    pos = start + len;
  }
  return [items, pos];
}
