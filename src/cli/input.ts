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
import { FjError, InputError, UsageError } from '../errors.js';

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
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`FJ_MAX_INPUT_BYTES must be an integer from 1 and up, got '${raw}'`);
  return n;
}

/**
 * Reads and parses JSON from `path`, or from standard input when `path` is
 * `-`, within the limits above. Throws UsageError (no such file, a directory,
 * unreadable) or InputError (too large, not UTF-8, too deep, invalid JSON).
 */
export async function readJsonInput(path: string, options: { sha256?: boolean } = {}): Promise<{ value: unknown; source: string; sha256?: string }> {
  const source = path === '-' ? 'standard input' : path;
  const limit = maxInputBytes();
  const bytes = path === '-' ? await readStream(process.stdin, source, limit) : await readFileBytes(path, limit);
  // WebCrypto hashes on libuv's thread pool: the hash is computed while this thread parses.
  const digest = options.sha256 ? crypto.subtle.digest('SHA-256', bytes) : undefined;
  digest?.catch(() => {});
  const value = parseJson(bytes, source);
  return { value, source, sha256: digest ? Buffer.from(await digest).toString('hex') : undefined };
}

async function readFileBytes(path: string, limit: number): Promise<Buffer> {
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
    const bytes = await handle.readFile();
    if (bytes.length > limit) throw tooLarge(path, limit, bytes.length); // it grew while we read
    return bytes;
  } catch (err) {
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
  return new InputError(`${source}: input is${what} over the limit of ${limit} bytes (set FJ_MAX_INPUT_BYTES to raise it)`);
}

/** Decodes and parses `bytes`; every failure names `source` and, where there is one, the line and column. */
function parseJson(bytes: Buffer, source: string): unknown {
  if (bytes.length === 0) throw new InputError(`${source} is empty: expected a JSON value`);
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    throw new InputError(`${source}: starts with a byte order mark at line 1, column 1: JSON must not have one (save it as UTF-8 without BOM)`);
  }
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    throw new InputError(`${source}: is UTF-16 (byte order mark at line 1, column 1): fj reads UTF-8 only`);
  }
  if (!isUtf8(bytes)) {
    const at = firstInvalidUtf8(bytes);
    const before = bytes.subarray(0, at).toString('utf8');
    const { line, column } = lineColumn(before, before.length);
    throw new InputError(`${source}: invalid UTF-8: byte 0x${bytes[at].toString(16).padStart(2, '0')} at line ${line}, column ${column}`);
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
    throw new InputError(`${source}: invalid JSON: nesting deeper than ${MAX_INPUT_DEPTH} levels at line ${line}, column ${column}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(`${source}: invalid JSON: ${describeJsonError(text, (err as Error).message)}`);
  }
}

/** Turns V8's "... at position N" into "line L, column C". */
export function describeJsonError(text: string, message: string): string {
  const m = /position (\d+)/.exec(message);
  // V8 gives no position for "Unexpected token" (a trailing comma, a stray bracket).
  const pos = m ? Number(m[1]) : /end of JSON input/.test(message) ? text.length : firstSyntaxError(text);
  const { line, column } = lineColumn(text, pos);
  const reason = message
    .replace(/\s*(in JSON )?at position \d+.*$/s, '')
    // V8 quotes the input around the error: `, "{...}" is not valid JSON`, or `, ...abc... is not valid JSON` for long ones.
    .replace(/, [\s\S]* is not valid JSON$/, '')
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufeff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `${reason} at line ${line}, column ${column}`;
}

/** 1-based line and column (in UTF-16 units) of index `pos` in `text`. */
function lineColumn(text: string, pos: number): { line: number; column: number } {
  const end = Math.min(pos, text.length);
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < end; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: pos - lineStart + 1 };
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
  for (let i = 0; i < b.length; ) {
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

/**
 * Index of the first character that makes `text` invalid JSON, for the V8
 * messages that carry no position. One linear pass (a syntax-only JSON
 * scanner with its own stack), so a huge input with one stray token is
 * located in about the time JSON.parse took to reject it.
 */
function firstSyntaxError(text: string): number {
  const n = text.length;
  const stack: number[] = []; // 0x5b for an open array, 0x7b for an open object
  // value: a value is due; valueOrEnd: just after '['; keyOrEnd: just after '{'; key, colon, next (',' or close), done
  let state: 'value' | 'valueOrEnd' | 'key' | 'keyOrEnd' | 'colon' | 'next' | 'done' = 'value';
  let i = 0;
  const afterValue = () => (stack.length ? 'next' : 'done');
  while (true) {
    while (i < n) {
      const w = text.charCodeAt(i);
      if (w === 0x20 || w === 0x09 || w === 0x0a || w === 0x0d) i++;
      else break;
    }
    if (i >= n) return n;
    const c = text.charCodeAt(i);
    switch (state) {
      case 'done':
        return i;
      case 'colon':
        if (c !== 0x3a) return i;
        i++;
        state = 'value';
        continue;
      case 'next': {
        const top = stack[stack.length - 1];
        if (c === 0x2c) {
          i++;
          state = top === 0x5b ? 'value' : 'key';
        } else if (c === top + 2) {
          i++;
          stack.pop();
          state = afterValue();
        } else return i;
        continue;
      }
      case 'key':
      case 'keyOrEnd':
        if (state === 'keyOrEnd' && c === 0x7d) {
          i++;
          stack.pop();
          state = afterValue();
          continue;
        }
        if (c !== 0x22) return i;
        i = scanString(text, i);
        if (i < 0) return -i - 1;
        state = 'colon';
        continue;
      case 'value':
      case 'valueOrEnd':
        if (state === 'valueOrEnd' && c === 0x5d) {
          i++;
          stack.pop();
          state = afterValue();
          continue;
        }
        if (c === 0x5b || c === 0x7b) {
          stack.push(c);
          i++;
          state = c === 0x5b ? 'valueOrEnd' : 'keyOrEnd';
          continue;
        }
        if (c === 0x22) i = scanString(text, i);
        else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) i = scanNumber(text, i);
        else {
          const word = c === 0x74 ? 'true' : c === 0x66 ? 'false' : c === 0x6e ? 'null' : '';
          if (!word) return i;
          for (let k = 0; k < word.length; k++, i++) if (text.charCodeAt(i) !== word.charCodeAt(k)) return i;
        }
        if (i < 0) return -i - 1;
        state = afterValue();
        continue;
    }
  }
}

/** The index after the string starting at `i`, or `-(bad index) - 1`. */
function scanString(text: string, i: number): number {
  for (i++; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return i + 1;
    if (c < 0x20) return -i - 1;
    if (c === 0x5c) {
      const e = text.charCodeAt(++i);
      if (e === 0x75) {
        for (let k = 1; k <= 4; k++) if (!/[0-9a-fA-F]/.test(text[i + k] ?? '')) return -(i + k) - 1;
        i += 4;
      } else if (!'"\\/bfnrt'.includes(text[i] ?? 'x')) return -i - 1;
    }
  }
  return -text.length - 1;
}

/** The index after the number starting at `i`, or `-(bad index) - 1`. */
function scanNumber(text: string, i: number): number {
  const m = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
  m.lastIndex = i;
  const found = m.exec(text);
  // No digits where digits are due: the error is just past what matched.
  if (!found) return -(text.charCodeAt(i) === 0x2d ? i + 1 : i) - 1;
  const end = i + found[0].length;
  const next = text.charCodeAt(end);
  // "01", "1.", "1e": the number stops where JSON says it cannot.
  return next === 0x2e || next === 0x65 || next === 0x45 || (next >= 0x30 && next <= 0x39) ? -end - 1 : end;
}
