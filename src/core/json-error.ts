/**
 * Where a JSON text goes wrong, as a person reads it: V8's "at position N"
 * (or no position at all) turned into "line L, column C". Used for input
 * files (cli/input.ts) and for schema files (task/registry.ts) alike.
 * Kept over a parser that reports positions (momoa), which pointed at the
 * wrong place for 8 of 21 broken inputs and took seconds on large ones:
 * bench/json-error/.
 */
import { printable } from './printable.js';

/** Turns V8's "... at position N" into "line L, column C". */
export function describeJsonError(text: string, message: string): string {
  const m = /position (\d+)/.exec(message);
  // V8 gives no position for "Unexpected token" (a trailing comma, a stray bracket).
  const pos = m ? Number(m[1]) : /end of JSON input/.test(message) ? text.length : firstSyntaxError(text);
  const { line, column } = lineColumn(text, pos);
  const reason = message
    .replace(/\s*(in JSON )?at position \d+.*$/s, '')
    // V8 quotes the input around the error: `, "{...}" is not valid JSON`, or `, ...abc... is not valid JSON` for long ones.
    .replace(/, [\s\S]* is not valid JSON$/, '');
  return `${printable(reason)} at line ${line}, column ${column}`;
}

/** 1-based line and column (in UTF-16 units) of index `pos` in `text`. */
export function lineColumn(text: string, pos: number): { line: number; column: number } {
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
 * Index of the first character that makes `text` invalid JSON, for the V8
 * messages that carry no position. One linear pass (a syntax-only JSON
 * scanner with its own stack), so a huge input with one stray token is
 * located in about the time JSON.parse took to reject it.
 */
// eslint-disable-next-line complexity -- a JSON scanner: one branch per token kind
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
