/**
 * A deterministic generator of bad inputs for the `wordcount` and `align`
 * tasks (schemas/*.schema.json): mutations of random valid inputs — wrong
 * types at random paths, missing and extra properties, out-of-range values,
 * duplicate keys, huge numbers, long strings, many violations, truncated
 * JSON, syntax errors, bad bytes, byte order marks, deep nesting, empty and
 * oversized files. Each case says what the error message must contain: the
 * JSON pointer of the problem, or the line and column, or the file name.
 */
import { mulberry32 } from '../../scripts/prng.mjs';

export type BadTask = 'wordcount' | 'align';

export interface BadInput {
  /** Unique; also the file name. */
  name: string;
  task: BadTask;
  /** The file's bytes, or `null` for a file that must not exist, or `'dir'` for a directory. */
  content: Buffer | null | 'dir';
  /** Substrings stderr must contain; `{file}` stands for the input path as given to the CLI. */
  expect: string[];
  /** Extra environment for this case (the size limit). */
  env?: Record<string, string>;
  kind: string;
}

/** The size limit the oversized cases run under (FJ_MAX_INPUT_BYTES). */
export const SMALL_LIMIT = 2048;
/** fj's limits, repeated here so a change there is a deliberate change here. */
const MAX_DEPTH = 1000;
const MAX_COUNTED = 100_000;
const MAX_LISTED = 20;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Rand = () => number;

const WORD = 'abcdefghijklmnopqrstuvwxyz';
const BASES = 'ACGTNacgtn';

function pick<T>(r: Rand, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}
function int(r: Rand, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}
function text(r: Rand, alphabet: string, lo: number, hi: number): string {
  let s = '';
  for (let n = int(r, lo, hi); n > 0; n--) s += alphabet[Math.floor(r() * alphabet.length)];
  return s;
}
/** Words with spaces and a few multi-byte characters (columns count UTF-16 units); never quotes, brackets or backslashes. */
function sentence(r: Rand): string {
  const words: string[] = [];
  for (let n = int(r, 0, 6); n > 0; n--)
    words.push(r() < 0.1 ? pick(r, ['é', 'naïve', '日本', 'Ω']) : text(r, WORD, 1, 8));
  return words.join(' ');
}

function validWordcount(r: Rand): { [key: string]: Json } {
  const input: { [key: string]: Json } = { documents: Array.from({ length: int(r, 1, 6) }, () => sentence(r)) };
  if (r() < 0.4) input.delimiter = pick(r, [' ', ',', ';', '--', 'é']);
  return input;
}

function validAlign(r: Rand): { [key: string]: Json } {
  const input: { [key: string]: Json } = {
    reference: text(r, BASES, 1, 40),
    edits: Array.from({ length: int(r, 1, 4) }, (_, i) => ({
      id: `e${i}${text(r, WORD, 0, 3)}`,
      sequence: text(r, BASES, 1, 20),
    })),
  };
  if (r() < 0.5) input.match = int(r, 1, 1000);
  if (r() < 0.5) input.mismatch = int(r, -1000, 0);
  if (r() < 0.5) input.gap = int(r, -1000, -1);
  return input;
}

/** The JSON type a path allows, for every path a valid input of `task` can have. */
function pathsOf(
  task: BadTask,
  input: { [key: string]: Json },
): { path: (string | number)[]; type: 'string' | 'array' | 'object' | 'integer' }[] {
  const out: { path: (string | number)[]; type: 'string' | 'array' | 'object' | 'integer' }[] = [];
  if (task === 'wordcount') {
    out.push({ path: ['documents'], type: 'array' });
    (input.documents as Json[]).forEach((_, i) => out.push({ path: ['documents', i], type: 'string' }));
    if ('delimiter' in input) out.push({ path: ['delimiter'], type: 'string' });
  } else {
    out.push({ path: ['reference'], type: 'string' }, { path: ['edits'], type: 'array' });
    (input.edits as Json[]).forEach((_, i) => {
      out.push(
        { path: ['edits', i], type: 'object' },
        { path: ['edits', i, 'id'], type: 'string' },
        { path: ['edits', i, 'sequence'], type: 'string' },
      );
    });
    for (const k of ['match', 'mismatch', 'gap']) if (k in input) out.push({ path: [k], type: 'integer' });
  }
  return out;
}

const pointer = (path: (string | number)[]) =>
  path.map((p) => `/${String(p).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('') || '/';

function setAt(root: Json, path: (string | number)[], value: Json): void {
  let node = root as Record<string | number, Json>;
  for (const p of path.slice(0, -1)) node = node[p] as Record<string | number, Json>;
  // defineProperty: a plain assignment of '__proto__' would set the prototype, not a key.
  Object.defineProperty(node, path[path.length - 1], { value, enumerable: true, writable: true, configurable: true });
}
function deleteAt(root: Json, path: (string | number)[]): void {
  let node = root as Record<string | number, Json>;
  for (const p of path.slice(0, -1)) node = node[p] as Record<string | number, Json>;
  delete node[path[path.length - 1]];
}

const PLACEHOLDER = '@@RAW@@';

/** Serializes, compact or indented, with `raw` (text that is not a JSON value of ours) put where the placeholder string is; returns the text and raw's index. */
function serialize(r: Rand, value: Json, raw?: string): { text: string; at: number } {
  let s = r() < 0.5 ? JSON.stringify(value) : JSON.stringify(value, null, int(r, 1, 4));
  let at = -1;
  if (raw !== undefined) {
    at = s.indexOf(`"${PLACEHOLDER}"`);
    s = s.slice(0, at) + raw + s.slice(at + PLACEHOLDER.length + 2);
  }
  return { text: s, at };
}

/** 1-based line and column (UTF-16 units) of index `pos`. */
function lineColumn(s: string, pos: number): string {
  const before = s.slice(0, pos);
  const line = before.split('\n').length;
  return `at line ${line}, column ${pos - (before.lastIndexOf('\n') + 1) + 1}`;
}

const WRONG_VALUES: Json[] = [
  0,
  -3,
  7,
  2.5,
  -0.5,
  1e20,
  true,
  false,
  null,
  'x',
  '',
  'ACGT',
  [],
  [1],
  ['a'],
  {},
  { a: 1 },
  { id: 'x', sequence: 'A' },
];
const typeOf = (v: Json) =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v;

/** Raw JSON-ish text in a value position, and the offset from its start where JSON.parse fails. */
const SYNTAX: [string, number][] = [
  ['NaN', 0],
  ['Infinity', 0],
  ['-Infinity', 1],
  ["'single'", 0],
  ['undefined', 0],
  ['0x1F', 1],
  ['01', 1],
  ['.5', 0],
  ['+1', 0],
  ['// c\n 1', 0],
  ['/* c */ 1', 0],
  ['-', 1],
  ['1.', 2],
  ['1e', 2],
  ['tru', 3],
  ['nul', 3],
  ['"a\\q"', 3],
  ['"\\u12"', 5],
  ['[1,]', 3],
  ['{"a":1,}', 7],
  ['{,}', 1],
  ['[,1]', 1],
  ['1 2', 2],
  ['{"a" 1}', 5],
  ['{1:2}', 1],
  ['[1 2]', 3],
  ['{"a"}', 4],
];

const EXTRA_KEYS = [
  'color',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'a/b',
  'x~y',
  '~1',
  'new\nline',
  'tab\there',
  '',
  ' ',
  'é',
  'Documents',
  '$ref',
  'hasOwnProperty',
];

const INVALID_UTF8: number[][] = [
  [0xff],
  [0xfe],
  [0xc0, 0xaf],
  [0xc1, 0xbf],
  [0x80],
  [0xbf],
  [0xed, 0xa0, 0x80],
  [0xe2, 0x82],
  [0xf5, 0x80, 0x80, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xe0, 0x80, 0x80],
  [0xf0, 0x80, 0x80, 0x80],
];

/** `count` distinct bad inputs from `seed` (the same seed gives the same inputs). */
export function badInputs(seed: number, count: number): BadInput[] {
  const r = mulberry32(seed);
  const seen = new Set<string>();
  const out: BadInput[] = [];
  const fixed = fixedCases();
  for (const c of fixed) out.push(c);
  for (let attempt = 0; out.length < count && attempt < count * 20; attempt++) {
    const task: BadTask = r() < 0.5 ? 'wordcount' : 'align';
    const c = mutate(r, task);
    const key = `${task}\0${c.content instanceof Buffer ? c.content.toString('latin1') : String(c.content)}\0${JSON.stringify(c.env ?? {})}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ ...c, task, name: `${String(out.length).padStart(4, '0')}-${task}-${c.kind}.json` });
  }
  return out;
}

type Case = Omit<BadInput, 'name' | 'task'>;

function fixedCases(): BadInput[] {
  const cases: [string, BadTask, Buffer | null | 'dir', string[]][] = [
    ['missing-file', 'wordcount', null, ['input file not found: {file}']],
    ['directory', 'align', 'dir', ['input is a directory, not a JSON file: {file}']],
    ['empty', 'wordcount', Buffer.alloc(0), ['{file} is empty']],
    [
      'utf16-with-bom',
      'align',
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"reference":"A","edits":[]}', 'utf16le')]),
      ['{file}: is UTF-16', 'line 1, column 1'],
    ],
    [
      'utf16-no-bom',
      'wordcount',
      Buffer.from('{"documents":[]}', 'utf16le'),
      ['{file}: invalid JSON: ', 'at line 1, column 2'],
    ],
  ];
  return cases.map(([kind, task, content, expect]) => ({ name: `fixed-${kind}.json`, task, content, expect, kind }));
}

function mutate(r: Rand, task: BadTask): Case {
  const input = task === 'wordcount' ? validWordcount(r) : validAlign(r);
  const paths = pathsOf(task, input);
  const roll = r();
  const kinds: [number, () => Case][] = [
    [0.16, () => wrongType(r, input, paths)],
    [0.06, () => missing(r, task, input)],
    [0.1, () => extraProperty(r, task, input)],
    [0.08, () => badValue(r, task, input)],
    [0.05, () => hugeNumber(r, task, input, paths)],
    [0.04, () => duplicateKey(r, task, input)],
    [0.03, () => longString(r, task, input)],
    [0.04, () => manyViolations(r, task)],
    [0.04, () => notAnObject(r)],
    [0.08, () => truncated(r, input)],
    [0.08, () => syntax(r, input, paths)],
    [0.07, () => badBytes(r, input)],
    [0.05, () => controlChar(r, input)],
    [0.02, () => bom(r, input)],
    [0.05, () => deep(r, input, paths)],
    [0.02, () => whitespace(r)],
    [0.03, () => oversized(r, task, input)],
  ];
  let acc = 0;
  for (const [weight, make] of kinds) if (roll < (acc += weight)) return make();
  return wrongType(r, input, paths);
}

const bytes = (s: string) => Buffer.from(s, 'utf8');

function wrongType(r: Rand, input: { [key: string]: Json }, paths: ReturnType<typeof pathsOf>): Case {
  const { path, type } = pick(r, paths);
  const candidates = WRONG_VALUES.filter((v) => typeOf(v) !== type && !(type === 'integer' && typeOf(v) === 'integer'));
  setAt(input, path, structuredClone(pick(r, candidates)));
  return {
    kind: 'wrong-type',
    content: bytes(serialize(r, input).text),
    expect: [`  ${pointer(path)}: must be ${type}`],
  };
}

function missing(r: Rand, task: BadTask, input: { [key: string]: Json }): Case {
  const edits = task === 'align' ? (input.edits as Json[]).length : 0;
  const path: (string | number)[] =
    task === 'wordcount'
      ? ['documents']
      : pick(r, [['reference'], ['edits'], ['edits', int(r, 0, edits - 1), pick(r, ['id', 'sequence'])]]);
  deleteAt(input, path);
  return { kind: 'missing', content: bytes(serialize(r, input).text), expect: [`  ${pointer(path)}: is required`] };
}

function extraProperty(r: Rand, task: BadTask, input: { [key: string]: Json }): Case {
  const base: (string | number)[] =
    task === 'align' && r() < 0.5 ? ['edits', int(r, 0, (input.edits as Json[]).length - 1)] : [];
  const key = r() < 0.6 ? pick(r, EXTRA_KEYS) : r() < 0.9 ? text(r, WORD + '_-', 1, 12) : text(r, WORD, 300, 400);
  if (task === 'align' && base.length === 0 && ['reference', 'edits', 'match', 'mismatch', 'gap'].includes(key))
    return extraProperty(r, task, input);
  if (task === 'wordcount' && base.length === 0 && ['documents', 'delimiter'].includes(key))
    return extraProperty(r, task, input);
  if (base.length && ['id', 'sequence'].includes(key)) return extraProperty(r, task, input);
  setAt(input, [...base, key], pick(r, WRONG_VALUES));
  // fj escapes control characters and shortens long paths in its messages.
  const shown = pointer([...base, key]).replace(
    /[\u0000-\u001f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  const expect = shown.length > 200 ? `  ${shown.slice(0, 100)}` : `  ${shown}: is not allowed here (unknown property)`;
  return { kind: 'extra', content: bytes(serialize(r, input).text), expect: [expect] };
}

function badValue(r: Rand, task: BadTask, input: { [key: string]: Json }): Case {
  if (task === 'wordcount') {
    input.delimiter = '';
    return {
      kind: 'bad-value',
      content: bytes(serialize(r, input).text),
      expect: ['  /delimiter: must NOT have fewer than 1 characters'],
    };
  }
  const i = int(r, 0, (input.edits as Json[]).length - 1);
  const choices: [(string | number)[], Json, string][] = [
    [['reference'], '', 'must NOT have fewer than 1 characters'],
    [
      ['reference'],
      `${String(input.reference)}${pick(r, ['X', 'u', ' ', '-', 'é'])}${text(r, BASES, 0, 5)}`,
      'must match pattern',
    ],
    [['edits', i, 'sequence'], `${text(r, BASES, 0, 5)}${pick(r, ['B', 'z', '\n', '1'])}`, 'must match pattern'],
    [['edits', i, 'sequence'], '', 'must NOT have fewer than 1 characters'],
    [['edits', i, 'id'], '', 'must NOT have fewer than 1 characters'],
    [['match'], int(r, -50, 0), 'must be >= 1'],
    [['match'], int(r, 1001, 1e6), 'must be <= 1000'],
    [['mismatch'], int(r, 1, 1e6), 'must be <= 0'],
    [['mismatch'], int(r, -1e6, -1001), 'must be >= -1000'],
    [['gap'], int(r, 0, 1e6), 'must be <= -1'],
    [['gap'], int(r, -1e6, -1001), 'must be >= -1000'],
    [['edits'], [], ''],
  ];
  const [path, value, message] = pick(
    r,
    choices.filter((c) => c[2] !== ''),
  );
  setAt(input, path, value);
  return { kind: 'bad-value', content: bytes(serialize(r, input).text), expect: [`  ${pointer(path)}: ${message}`] };
}

function hugeNumber(r: Rand, task: BadTask, input: { [key: string]: Json }, paths: ReturnType<typeof pathsOf>): Case {
  const raw = pick(r, [
    '1e400',
    '-1e400',
    '123456789012345678901234567890',
    '-98765432109876543210987654321',
    '1e308',
    '4.9e-324',
    '9007199254740993',
  ]);
  const targets =
    task === 'align' ? [{ path: ['match'], type: 'integer' }, ...paths.filter((p) => p.type !== 'integer')] : paths;
  const { path, type } = pick(r, targets as ReturnType<typeof pathsOf>);
  setAt(input, path, PLACEHOLDER);
  const n = Number(raw);
  const message =
    type !== 'integer'
      ? `must be ${type}`
      : !Number.isFinite(n) || !Number.isInteger(n)
        ? 'must be integer'
        : n > 1000
          ? 'must be <= 1000'
          : 'must be >= 1';
  return {
    kind: 'huge-number',
    content: bytes(serialize(r, input, raw).text),
    expect: [`  ${pointer(path)}: ${message}`],
  };
}

function duplicateKey(r: Rand, task: BadTask, input: { [key: string]: Json }): Case {
  // JSON.parse keeps the last of duplicated keys: the bad second one is what is validated.
  const key = task === 'wordcount' ? 'documents' : pick(r, ['reference', 'edits']);
  const wrong =
    key === 'edits' || key === 'documents' ? pick(r, ['5', '"x"', '{}', 'null']) : pick(r, ['5', '[]', '{}', 'true']);
  const type = key === 'reference' ? 'string' : 'array';
  const body = JSON.stringify(input);
  return {
    kind: 'duplicate-key',
    content: bytes(`${body.slice(0, -1)},${JSON.stringify(key)}:${wrong}}`),
    expect: [`  /${key}: must be ${type}`],
  };
}

function longString(r: Rand, task: BadTask, input: { [key: string]: Json }): Case {
  const long = text(r, WORD, 50_000, 200_000);
  if (task === 'wordcount') {
    input.delimiter = r() < 0.5 ? 5 : { [long.slice(0, 10)]: long };
    (input.documents as Json[]).push(long);
    return { kind: 'long-string', content: bytes(serialize(r, input).text), expect: ['  /delimiter: must be string'] };
  }
  if (r() < 0.5) {
    input.match = long;
    return { kind: 'long-string', content: bytes(serialize(r, input).text), expect: ['  /match: must be integer'] };
  }
  input.reference = `${text(r, 'ACGT', 100_000, 300_000)}X`;
  return {
    kind: 'long-string',
    content: bytes(serialize(r, input).text),
    expect: ['  /reference: must match pattern'],
  };
}

function manyViolations(r: Rand, task: BadTask): Case {
  const n = r() < 0.7 ? int(r, MAX_LISTED + 1, 3000) : int(r, 3001, 120_000);
  if (task === 'wordcount') {
    const documents = Array.from({ length: n }, (_, i) => (i % 97 === 0 ? 'fine' : i));
    const problems = documents.filter((d) => typeof d !== 'string').length;
    const count = problems > MAX_COUNTED ? `over ${MAX_COUNTED} problems` : `(${problems} problems)`;
    const more = problems > MAX_COUNTED ? '  ... and more' : `  ... and ${problems - MAX_LISTED} more`;
    return {
      kind: 'many',
      content: bytes(JSON.stringify({ documents })),
      expect: [count, '  /documents/1: must be string', more],
    };
  }
  const edits = Array.from({ length: n }, () => ({}));
  const problems = 2 * n;
  const count = problems > MAX_COUNTED ? `over ${MAX_COUNTED} problems` : `(${problems} problems)`;
  return {
    kind: 'many',
    content: bytes(JSON.stringify({ reference: 'ACGT', edits })),
    expect: [count, '  /edits/0/id: is required'],
  };
}

function notAnObject(r: Rand): Case {
  const value = pick(r, [
    () => [],
    () => Array.from({ length: int(r, 1, 5) }, () => sentence(r)),
    () => sentence(r),
    () => int(r, -1e9, 1e9),
    () => null,
    () => r() < 0.5,
    () => r() * 1000,
  ])();
  return { kind: 'not-object', content: bytes(JSON.stringify(value)), expect: ['  /: must be object'] };
}

function truncated(r: Rand, input: { [key: string]: Json }): Case {
  const { text: s } = serialize(r, input);
  const cut = int(r, 1, s.length - 1);
  const t = s.slice(0, cut);
  // JSON.parse fails at the end of what is left.
  return { kind: 'truncated', content: bytes(t), expect: ['{file}: invalid JSON: ', lineColumn(t, t.length)] };
}

function syntax(r: Rand, input: { [key: string]: Json }, paths: ReturnType<typeof pathsOf>): Case {
  if (r() < 0.3) {
    // A trailing comma: JSON.parse fails at the closing bracket after it.
    const { text: s } = serialize(r, input);
    const closers = [...s.matchAll(/[\]}]/g)].map((m) => m.index).filter((i) => !/[[{]\s*$/.test(s.slice(0, i)));
    const close = pick(r, closers);
    const last = s.slice(0, close).trimEnd().length;
    const t = `${s.slice(0, last)},${s.slice(last)}`;
    return { kind: 'trailing-comma', content: bytes(t), expect: ['{file}: invalid JSON: ', lineColumn(t, close + 1)] };
  }
  const [raw, offset] = pick(r, SYNTAX);
  setAt(input, pick(r, paths).path, PLACEHOLDER);
  const { text: t, at } = serialize(r, input, raw);
  return { kind: 'syntax', content: bytes(t), expect: ['{file}: invalid JSON: ', lineColumn(t, at + offset)] };
}

function badBytes(r: Rand, input: { [key: string]: Json }): Case {
  const { text: s } = serialize(r, input);
  const buf = bytes(s);
  // At a character boundary: the bad sequence then starts exactly where it is put.
  let at = int(r, 0, buf.length);
  while (at < buf.length && (buf[at] & 0xc0) === 0x80) at++;
  const seq = pick(r, INVALID_UTF8);
  const content = Buffer.concat([buf.subarray(0, at), Buffer.from(seq), buf.subarray(at)]);
  const before = buf.subarray(0, at).toString('utf8');
  return {
    kind: 'bad-utf8',
    content,
    expect: [`{file}: invalid UTF-8: byte 0x${seq[0].toString(16)} ${lineColumn(before, before.length)}`],
  };
}

function controlChar(r: Rand, input: { [key: string]: Json }): Case {
  const { text: s } = serialize(r, input);
  const at = int(r, 0, s.length);
  const c = String.fromCharCode(pick(r, [0, 0, 1, 2, 7, 8, 11, 12, 27, 31]));
  const t = s.slice(0, at) + c + s.slice(at);
  return { kind: 'control-char', content: bytes(t), expect: ['{file}: invalid JSON: ', lineColumn(t, at)] };
}

function bom(r: Rand, input: { [key: string]: Json }): Case {
  return {
    kind: 'bom',
    content: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes(serialize(r, input).text)]),
    expect: ['{file}: starts with a byte order mark at line 1, column 1'],
  };
}

function deep(r: Rand, input: { [key: string]: Json }, paths: ReturnType<typeof pathsOf>): Case {
  // At least MAX_DEPTH levels, under the root object's one: always too deep.
  const levels = r() < 0.8 ? int(r, MAX_DEPTH, 5000) : int(r, 5000, 200_000);
  const closed = r() < 0.5;
  const open = r() < 0.5 ? '['.repeat(levels) : '{"a":'.repeat(levels).slice(0, -5) + '{';
  const raw = closed && open.startsWith('[') ? open + ']'.repeat(levels) : open;
  setAt(input, pick(r, paths).path, PLACEHOLDER);
  const { text: t } = serialize(r, input, raw);
  // No strings of ours hold brackets: count them to find where level MAX_DEPTH + 1 opens.
  let depth = 0;
  let at = -1;
  for (let i = 0; i < t.length && at < 0; i++) {
    if (t[i] === '[' || t[i] === '{') depth++;
    else if (t[i] === ']' || t[i] === '}') depth--;
    if (depth > MAX_DEPTH) at = i;
  }
  if (at < 0) throw new Error('bad-inputs: a deep case that is not too deep');
  return {
    kind: 'deep',
    content: bytes(t),
    expect: [`{file}: invalid JSON: nesting deeper than ${MAX_DEPTH} levels ${lineColumn(t, at)}`],
  };
}

function whitespace(r: Rand): Case {
  return { kind: 'whitespace', content: bytes(text(r, ' \t\n\r', 1, 40)), expect: ['{file} has only whitespace'] };
}

function oversized(r: Rand, task: BadTask, input: { [key: string]: Json }): Case {
  const key = task === 'wordcount' ? 'documents' : 'edits';
  const list = input[key] as Json[];
  while (JSON.stringify(input).length <= SMALL_LIMIT)
    list.push(task === 'wordcount' ? sentence(r) : { id: text(r, WORD, 1, 9), sequence: text(r, BASES, 1, 60) });
  const content = bytes(serialize(r, input).text);
  return {
    kind: 'oversized',
    content,
    env: { FJ_MAX_INPUT_BYTES: String(SMALL_LIMIT) },
    expect: [`{file}: input is ${content.length} bytes, over the limit of ${SMALL_LIMIT} bytes`],
  };
}
