/**
 * A bounded msgpack walker: checks that bytes hold one well-formed value of
 * the kinds fj's codec writes, without building anything and without
 * recursion (a value nested 100,000 deep costs a counter, not a stack
 * frame). Used on every work message (inspect.ts) and result message
 * (executors/amqp/results.ts) before msgpackr decodes it.
 */

// ---------------------------------------------------------------------------
// The skimmer.

/** Open containers' remaining value counts, reused across calls (grown on demand). */
let stack = new Float64Array(64);
let failWhy = '';
let failAt = 0;

/**
 * Checks that `bytes[start, end)` is exactly one well-formed msgpack value of
 * the kinds fj's codec writes, nested at most `maxDepth` deep; returns why
 * not (`at byte 17: ...`, relative to `start`), or undefined. Builds nothing
 * on success. Map keys are not inspected: the codec decodes `__proto__` as
 * data. Refused: truncation (any declared length or count past the end),
 * trailing bytes, the reserved byte 0xc1, extensions other than
 * timestamps (type -1: Date) and fixext1 type 0 (undefined), and a short
 * string whose last UTF-8 sequence is cut (see sequencesFit).
 */
export function checkMsgpack(bytes: Uint8Array, maxDepth: number, start = 0, end = bytes.length): string | undefined {
  const stop = skim(bytes, start, end, maxDepth);
  if (stop < 0) return `at byte ${failAt - start}: ${failWhy}`;
  if (stop !== end) return `at byte ${stop - start}: ${end - stop} trailing byte(s) after the value`;
  return undefined;
}

function fail(at: number, why: string): number {
  failAt = at;
  failWhy = why;
  return -1;
}

/** Walks one value from `pos`; returns the position after it, or -1 (see failAt, failWhy). */
// eslint-disable-next-line complexity, max-lines-per-function -- one flat case per MessagePack type byte, in the spec's order
function skim(b: Uint8Array, pos: number, end: number, maxDepth: number): number {
  let depth = 0;
  let remaining = 1; // values still to read at the current depth
  for (;;) {
    if (remaining === 0) {
      if (depth === 0) return pos;
      remaining = stack[--depth];
      continue;
    }
    remaining--;
    if (pos >= end) return fail(pos, 'truncated: a value is missing');
    const at = pos;
    const t = b[pos];
    let n = 0; // values in the container that starts here
    if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) {
      pos++;
      continue;
    } else if (t <= 0x8f) {
      n = (t & 0x0f) * 2;
      pos++;
    } else if (t <= 0x9f) {
      n = t & 0x0f;
      pos++;
    } else if (t <= 0xbf) {
      const len = t & 0x1f;
      if (pos + 1 + len > end) return fail(pos, `fixstr declaring ${len} bytes with only ${end - pos - 1} left`);
      if (!sequencesFit(b, pos + 1, pos + 1 + len)) return fail(pos, CUT_SEQUENCE);
      pos += 1 + len;
      continue;
    } else {
      switch (t) {
        case 0xca:
        case 0xce:
        case 0xd2:
          pos = fixed(b, pos, end, 4);
          break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
          pos = fixed(b, pos, end, 8);
          break;
        case 0xcc:
        case 0xd0:
          pos = fixed(b, pos, end, 1);
          break;
        case 0xcd:
        case 0xd1:
          pos = fixed(b, pos, end, 2);
          break;
        case 0xc4:
          pos = blob(b, pos, end, 1);
          break;
        case 0xc5:
          pos = blob(b, pos, end, 2);
          break;
        case 0xc6:
          pos = blob(b, pos, end, 4);
          break;
        case 0xd9:
        case 0xda:
        case 0xdb: {
          const width = t === 0xd9 ? 1 : t === 0xda ? 2 : 4;
          const next = blob(b, pos, end, width);
          if (next >= 0 && !sequencesFit(b, pos + 1 + width, next)) return fail(pos, CUT_SEQUENCE);
          pos = next;
          break;
        }
        case 0xd4:
          pos = ext(b, pos, end, 1, 2);
          break;
        case 0xd5:
          pos = ext(b, pos, end, 2, 2);
          break;
        case 0xd6:
          pos = ext(b, pos, end, 4, 2);
          break;
        case 0xd7:
          pos = ext(b, pos, end, 8, 2);
          break;
        case 0xd8:
          pos = ext(b, pos, end, 16, 2);
          break;
        case 0xc7:
        case 0xc8:
        case 0xc9: {
          const w = t === 0xc7 ? 1 : t === 0xc8 ? 2 : 4;
          pos =
            pos + 1 + w > end
              ? fail(pos, `truncated ${NAMES[t]} header`)
              : ext(b, pos, end, readLen(b, pos + 1, w), 2 + w);
          break;
        }
        case 0xdc:
        case 0xdd:
        case 0xde:
        case 0xdf: {
          const w = t === 0xdc || t === 0xde ? 2 : 4;
          if (pos + 1 + w > end) return fail(pos, `truncated ${NAMES[t]} header`);
          n = readLen(b, pos + 1, w) * (t >= 0xde ? 2 : 1);
          pos += 1 + w;
          break;
        }
        default: // 0xc1
          return fail(pos, 'the reserved byte 0xc1');
      }
      if (pos < 0) return -1;
      if (t < 0xdc) continue; // a scalar, skipped
    }
    // A container of n values at `depth` (its values sit at depth + 1); the
    // codec allows containers at depths 0..maxDepth.
    if (depth > maxDepth) return fail(at, `nested deeper than ${maxDepth} levels`);
    // Every value takes at least a byte: a larger count is a lie, whatever follows.
    if (n > end - pos) {
      const what =
        t <= 0x8f
          ? `fixmap declaring ${n / 2} entries`
          : t <= 0x9f
            ? `fixarray declaring ${n} values`
            : `${NAMES[t]} declaring ${t >= 0xde ? n / 2 : n} ${t >= 0xde ? 'entries' : 'values'}`;
      return fail(at, `${what} with only ${end - pos} bytes left`);
    }
    if (n === 0) continue;
    if (depth + 1 >= stack.length) {
      const grown = new Float64Array(Math.max(stack.length * 2, depth + 2));
      grown.set(stack);
      stack = grown;
    }
    stack[depth++] = remaining;
    remaining = n;
  }
}

/** Why {@link sequencesFit} refuses a string. */
const CUT_SEQUENCE = 'a string whose last UTF-8 sequence runs past its end';

/**
 * Whether each multi-byte UTF-8 sequence a string's bytes `[start, end)`
 * begin ends within them. msgpackr's JavaScript string decoder (strings of
 * 64 bytes or fewer; its native one, `msgpackr-extract`, is loaded only once
 * a process has data to decode, and some platforms have none) takes a lead
 * byte's continuation bytes without looking at the string's end: a lead byte
 * near the end makes it read on into the next value, and throw. Other bytes
 * that are not UTF-8 decode (as U+FFFD) on either decoder, and pass; fj's
 * codec never writes a cut sequence.
 */
function sequencesFit(b: Uint8Array, start: number, end: number): boolean {
  if (end - start > 64) return true; // decoded by TextDecoder, which never reads past the string
  for (let p = start; p < end;) {
    const c = b[p];
    // msgpackr's lengths: 110xxxxx 2 bytes, 1110xxxx 3, 11110xxx 4; any other byte alone.
    p += c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf8 ? 4 : 1;
    if (p > end) return false;
  }
  return true;
}

/** A token followed by `size` data bytes. */
function fixed(b: Uint8Array, pos: number, end: number, size: number): number {
  return pos + 1 + size > end ? fail(pos, `truncated ${NAMES[b[pos]]}`) : pos + 1 + size;
}

/** A bin or str with a `width`-byte length. */
function blob(b: Uint8Array, pos: number, end: number, width: number): number {
  if (pos + 1 + width > end) return fail(pos, `truncated ${NAMES[b[pos]]} header`);
  const len = readLen(b, pos + 1, width);
  const start = pos + 1 + width;
  return start + len > end
    ? fail(pos, `${NAMES[b[pos]]} declaring ${len} bytes with only ${end - start} left`)
    : start + len;
}

/** An extension of `size` data bytes whose type byte sits at `pos + head - 1`. */
function ext(b: Uint8Array, pos: number, end: number, size: number, head: number): number {
  if (pos + head > end) return fail(pos, `truncated ${NAMES[b[pos]]} header`);
  if (pos + head + size > end)
    return fail(pos, `${NAMES[b[pos]]} declaring ${size} bytes with only ${end - pos - head} left`);
  const type = (b[pos + head - 1] << 24) >> 24;
  // What the codec writes: Date as timestamp -1 (4, 8 or 12 bytes; 1 byte
  // for an invalid Date), undefined as fixext1 type 0 with a zero byte.
  const ok =
    type === -1 ? size === 1 || size === 4 || size === 8 || size === 12 : type === 0 && size === 1 && b[pos + 2] === 0;
  if (!ok)
    return fail(pos, `extension type ${type} of ${size} bytes (fj's codec writes only timestamps and undefined)`);
  return pos + head + size;
}

function readLen(b: Uint8Array, pos: number, width: number): number {
  return width === 1 ? b[pos] : width === 2 ? u16(b, pos) : u32(b, pos);
}

export function u16(b: Uint8Array, pos: number): number {
  return (b[pos] << 8) | b[pos + 1];
}

export function u32(b: Uint8Array, pos: number): number {
  return b[pos] * 0x1000000 + ((b[pos + 1] << 16) | (b[pos + 2] << 8) | b[pos + 3]);
}

const NAMES: Record<number, string> = {
  0xc4: 'bin8',
  0xc5: 'bin16',
  0xc6: 'bin32',
  0xc7: 'ext8',
  0xc8: 'ext16',
  0xc9: 'ext32',
  0xca: 'float32',
  0xcb: 'float64',
  0xcc: 'uint8',
  0xcd: 'uint16',
  0xce: 'uint32',
  0xcf: 'uint64',
  0xd0: 'int8',
  0xd1: 'int16',
  0xd2: 'int32',
  0xd3: 'int64',
  0xd4: 'fixext1',
  0xd5: 'fixext2',
  0xd6: 'fixext4',
  0xd7: 'fixext8',
  0xd8: 'fixext16',
  0xd9: 'str8',
  0xda: 'str16',
  0xdb: 'str32',
  0xdc: 'array16',
  0xdd: 'array32',
  0xde: 'map16',
  0xdf: 'map32',
};

/** Names the msgpack token at `pos`, for a reason. */
export function describeToken(b: Uint8Array, pos: number): string {
  if (pos >= b.length) return 'the end of the body';
  const t = b[pos];
  const kind =
    t <= 0x7f || t >= 0xe0
      ? 'an integer'
      : t <= 0x8f || t === 0xde || t === 0xdf
        ? 'a map'
        : t <= 0x9f || t === 0xdc || t === 0xdd
          ? 'an array'
          : t <= 0xbf || (t >= 0xd9 && t <= 0xdb)
            ? 'a string'
            : t === 0xc0
              ? 'nil'
              : t === 0xc1
                ? 'the reserved byte 0xc1'
                : t === 0xc2 || t === 0xc3
                  ? 'a boolean'
                  : t >= 0xc4 && t <= 0xc6
                    ? 'bytes'
                    : t === 0xca || t === 0xcb
                      ? 'a float'
                      : t >= 0xcc && t <= 0xd3
                        ? 'an integer'
                        : 'an extension';
  return `${kind} (0x${t.toString(16).padStart(2, '0')}) at byte ${pos}`;
}
