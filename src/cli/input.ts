/**
 * Reading a job's input: a JSON file or standard input, with errors that name
 * the file, and the line and column where it goes wrong.
 *
 * Limits on input (each breach is an {@link InputError}, exit 2, before any
 * task code runs):
 * - size: at most {@link maxInputBytes} bytes (default 256 MiB, env
 *   `FJ_MAX_INPUT_BYTES`), checked with `fstat` before a file is read and
 *   while a pipe is read, so an oversized input is never held in memory;
 * - encoding: UTF-8, without a byte order mark (RFC 8259 §8.1), and not empty;
 * - nesting: at most {@link MAX_INPUT_DEPTH} levels of arrays and objects,
 *   checked by a linear scan before `JSON.parse` (V8's parser needs minutes
 *   and gigabytes for millions of levels, and recursive consumers of the
 *   value would overflow the stack).
 *
 * What JSON.parse decides: a duplicated key keeps its last value; `__proto__`
 * is an ordinary own key (no prototype is touched; schemas with
 * `additionalProperties: false` reject it by its path); a number too large for
 * a double becomes `Infinity`, which no `number` or `integer` schema accepts.
 */
import { isUtf8 } from 'node:buffer';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { FjError, InputError, UsageError } from '../core/errors.js';
import { describeJsonError, lineColumn } from '../core/json-error.js';

/** Default of {@link maxInputBytes}: 256 MiB (V8 strings stop at about 512 Mi characters; parsing needs several times the input's size in memory). */
export const DEFAULT_MAX_INPUT_BYTES = 256 * 1024 * 1024;

/** Deepest nesting of arrays and objects accepted in an input. */
export const MAX_INPUT_DEPTH = 1000;

/**
 * The largest input accepted, in bytes: `FJ_MAX_INPUT_BYTES` when set (an
 * integer from 1 and up), else {@link DEFAULT_MAX_INPUT_BYTES}.
 */
export function maxInputBytes(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.FJ_MAX_INPUT_BYTES;
  if (raw === undefined || raw.trim() === '') return DEFAULT_MAX_INPUT_BYTES;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new UsageError(`FJ_MAX_INPUT_BYTES must be an integer from 1 and up, got '${raw}'`);
  return n;
}

/**
 * Reads and parses JSON from `path`, or from standard input when `path` is
 * `-`, within the limits above. Throws UsageError (no such file, a directory,
 * unreadable) or InputError (too large, not UTF-8, too deep, invalid JSON).
 * Once `options.signal` is aborted, a file's reading stops and nothing more
 * is parsed (the promise rejects with the signal's reason).
 */
export async function readJsonInput(
  path: string,
  options: { sha256?: boolean; signal?: AbortSignal } = {},
): Promise<{ value: unknown; source: string; sha256?: string }> {
  const source = path === '-' ? 'standard input' : path;
  const limit = maxInputBytes();
  const { signal } = options;
  const bytes =
    path === '-' ? await readStream(process.stdin, source, limit) : await readFileBytes(path, limit, signal);
  signal?.throwIfAborted();
  // WebCrypto hashes on libuv's thread pool: the hash is computed while this thread parses.
  const digest = options.sha256 ? crypto.subtle.digest('SHA-256', bytes) : undefined;
  digest?.catch(() => {});
  const value = parseJson(bytes, source);
  return { value, source, sha256: digest ? Buffer.from(await digest).toString('hex') : undefined };
}

async function readFileBytes(path: string, limit: number, signal?: AbortSignal): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw readError(err, path);
  }
  try {
    const stats = await handle.stat();
    if (stats.isDirectory()) throw new UsageError(`input is a directory, not a JSON file: ${path}`);
    // A pipe, a FIFO or /dev/stdin has no size to check up front: count while reading.
    if (!stats.isFile()) return await readStream(handle.createReadStream({ autoClose: false }), path, limit);
    if (stats.size > limit) throw tooLarge(path, limit, stats.size);
    const bytes = await handle.readFile({ signal });
    if (bytes.length > limit) throw tooLarge(path, limit, bytes.length); // it grew while we read
    return bytes;
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw err instanceof FjError ? err : readError(err, path);
  } finally {
    await handle.close();
  }
}

function readError(err: unknown, path: string): UsageError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new UsageError(`input file not found: ${path}`);
  if (code === 'EISDIR') return new UsageError(`input is a directory, not a JSON file: ${path}`);
  return new UsageError(`cannot read input ${path}: ${(err as Error).message}`);
}

async function readStream(stream: Readable, source: string, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      size += (chunk as Buffer).length;
      if (size > limit) throw tooLarge(source, limit);
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    throw err instanceof FjError ? err : readError(err, source);
  }
  return Buffer.concat(chunks);
}

function tooLarge(source: string, limit: number, size?: number): InputError {
  const what = size === undefined ? '' : ` ${size} bytes,`;
  return new InputError(
    `${source}: input is${what} over the limit of ${limit} bytes (set FJ_MAX_INPUT_BYTES to raise it)`,
  );
}

/** Decodes and parses `bytes`; every failure names `source` and, where there is one, the line and column. */
function parseJson(bytes: Buffer, source: string): unknown {
  if (bytes.length === 0) throw new InputError(`${source} is empty: expected a JSON value`);
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    throw new InputError(
      `${source}: starts with a byte order mark at line 1, column 1: JSON must not have one (save it as UTF-8 without BOM)`,
    );
  }
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    throw new InputError(`${source}: is UTF-16 (byte order mark at line 1, column 1): fj reads UTF-8 only`);
  }
  if (!isUtf8(bytes)) {
    const at = firstInvalidUtf8(bytes);
    const before = bytes.subarray(0, at).toString('utf8');
    const { line, column } = lineColumn(before, before.length);
    throw new InputError(
      `${source}: invalid UTF-8: byte 0x${bytes[at].toString(16).padStart(2, '0')} at line ${line}, column ${column}`,
    );
  }
  let text: string;
  try {
    text = bytes.toString('utf8');
  } catch (err) {
    // ERR_STRING_TOO_LONG: only when FJ_MAX_INPUT_BYTES is raised past what V8 can hold.
    throw new InputError(`${source}: input too large to decode (${bytes.length} bytes): ${(err as Error).message}`);
  }
  if (/^[ \t\n\r]*$/.test(text)) throw new InputError(`${source} has only whitespace: expected a JSON value`);
  const deep = tooDeepAt(text, MAX_INPUT_DEPTH);
  if (deep >= 0) {
    const { line, column } = lineColumn(text, deep);
    throw new InputError(
      `${source}: invalid JSON: nesting deeper than ${MAX_INPUT_DEPTH} levels at line ${line}, column ${column}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(`${source}: invalid JSON: ${describeJsonError(text, (err as Error).message)}`);
  }
}

/**
 * Index of the bracket that opens level `max + 1`, or -1. Linear: strings are
 * skipped with indexOf. Exact for valid JSON; for invalid JSON JSON.parse
 * fails anyway, no deeper than this scan saw.
 */
function tooDeepAt(text: string, max: number): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // to the closing quote: one preceded by an even number of backslashes
      for (;;) {
        const q = text.indexOf('"', i + 1);
        if (q === -1) return -1;
        let slashes = 0;
        while (text.charCodeAt(q - 1 - slashes) === 0x5c) slashes++;
        i = q;
        if (slashes % 2 === 0) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return i;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return -1;
}

/** Offset of the first byte that starts an ill-formed UTF-8 sequence (called only when `isUtf8` said there is one). */
function firstInvalidUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length;) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    const more = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    if (more === 0) return i;
    // The second byte's range excludes overlong forms, surrogates and code points past U+10FFFF.
    const lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
    if (i + more >= b.length || b[i + 1] < lo || b[i + 1] > hi) return i;
    for (let k = 2; k <= more; k++) if ((b[i + k] & 0xc0) !== 0x80) return i;
    i += more + 1;
  }
  return b.length;
}
