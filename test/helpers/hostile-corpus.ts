/**
 * A deterministic corpus of hostile work messages: everything a worker must
 * dead-letter on first delivery without crashing, polluting a prototype or
 * publishing anything. Seeded (mulberry32), so a failure names an entry that
 * the same seed reproduces.
 *
 * Each entry says which check must stop it at the latest (`stage`):
 * - `inspect`: inspectWork refuses it (bad bytes, shape, header, ref, size,
 *   depth, extension...). When `knownJob` is given these messages name that
 *   job, its params and the real task and code, so inspection is the only
 *   thing between them and a thread.
 * - `job`: well-formed, but its job is unknown (its params ref is not in the
 *   store): dead-lettered, no reply.
 * - `task`: well-formed, for an unknown job, with an unknown task or other
 *   code: dead-lettered, no reply (a refusal would go to a job that does not exist).
 * - `any`: random damage (bit flips) to a message of an unknown job: some
 *   checks stop it, which one depends on where the damage landed.
 */
import { encodeChecked } from '../../src/core/codec.js';
import { mulberry32 } from '../../scripts/prng.mjs';

/** AMQP properties a hostile message may carry besides its headers. */
export interface HostileProperties {
  replyTo?: string;
  messageId?: string;
  correlationId?: string;
  contentType?: string;
  type?: string;
}

export interface HostileMessage {
  content: Buffer;
  headers: Record<string, unknown>;
  properties?: HostileProperties;
  /** What is wrong, for a failing test's message. */
  why: string;
  /** The latest check that must stop it (see the module comment). */
  stage: 'inspect' | 'job' | 'task' | 'any';
}

export interface CorpusOptions {
  /** The work queue the corpus is published to (some messages name it, or its dead-letter queue, as replyTo). */
  queue: string;
  /** A task the worker serves, and its code hash. */
  task: { name: string; code: string };
  /** A job whose params ARE in the worker's store (see `inspect` above). */
  knownJob?: { job: string; paramsRef: string };
  /** Queues, besides the work queue and its dead-letter queue, that replyTo may name. */
  replyTraps?: string[];
  /** The worker's limits, to size the oversized and too-deep messages. Defaults 8 MiB and 512. */
  maxMessageBytes?: number;
  maxDepth?: number;
  seed?: number;
  /** Prefix of the unknown job ids (see {@link unknownJobs}). Default `hostile`. */
  tag?: string;
}

/**
 * The well-formed ids of the unknown jobs hostile messages name: a few, so a
 * test can watch their results queues; `tag` keeps concurrent runs apart.
 */
export function unknownJobs(tag = 'hostile'): string[] {
  return [`${tag}-1`, `${tag}-2`, `${tag}.3_x-Y`, `${tag}z`, `${tag}-long-`.padEnd(100, 'x')];
}

const HEX = '0123456789abcdef';

// ---------------------------------------------------------------------------
// A tiny msgpack writer, for bytes msgpackr would never produce.

const u8 = (...bytes: number[]) => Buffer.from(bytes);
function be(n: number, width: number): Buffer {
  const b = Buffer.alloc(width);
  if (width === 1) b.writeUInt8(n);
  else if (width === 2) b.writeUInt16BE(n);
  else b.writeUInt32BE(n);
  return b;
}
function mStr(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  if (b.length < 32) return Buffer.concat([u8(0xa0 | b.length), b]);
  if (b.length < 256) return Buffer.concat([u8(0xd9, b.length), b]);
  return Buffer.concat([u8(0xda), be(b.length, 2), b]);
}
function mBin(bytes: Uint8Array): Buffer {
  if (bytes.length < 256) return Buffer.concat([u8(0xc4, bytes.length), bytes]);
  if (bytes.length < 65536) return Buffer.concat([u8(0xc5), be(bytes.length, 2), bytes]);
  return Buffer.concat([u8(0xc6), be(bytes.length, 4), bytes]);
}
const mArr = (n: number) => (n < 16 ? u8(0x90 | n) : Buffer.concat([u8(0xdc), be(n, 2)]));
const mMap = (n: number) => (n < 16 ? u8(0x80 | n) : Buffer.concat([u8(0xde), be(n, 2)]));

/** A body from raw parts: `[key bytes, value bytes]` pairs. */
const rawMap = (...pairs: [Buffer, Buffer][]) => Buffer.concat([mMap(pairs.length), ...pairs.flat()]);
/** A body {first, items} with items given as raw msgpack values. */
const rawBody = (first: Buffer, items: Buffer[]) =>
  rawMap([mStr('first'), first], [mStr('items'), Buffer.concat([mArr(items.length), ...items])]);

/** Generates the corpus (at least 500 distinct messages). */
// eslint-disable-next-line complexity -- one generator per kind of hostile message
export function hostileCorpus(opts: CorpusOptions): HostileMessage[] {
  const rnd = mulberry32(opts.seed ?? 0x5eed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const hex = (n: number) => Array.from({ length: n }, () => HEX[int(16)]).join('');
  const maxBytes = opts.maxMessageBytes ?? 8 * 1024 * 1024;
  const maxDepth = opts.maxDepth ?? 512;
  const { queue, task } = opts;
  const traps = [queue, `${queue}.dead`, ...(opts.replyTraps ?? [])];
  const out: HostileMessage[] = [];
  const UNKNOWN_JOBS = unknownJobs(opts.tag);

  // The job `inspect` messages name: the known one when given, else an unknown one.
  const base = opts.knownJob ?? { job: UNKNOWN_JOBS[0], paramsRef: `${UNKNOWN_JOBS[0]}/${hex(64)}` };
  const headersFor = (
    job: string,
    paramsRef: string,
    first: number,
    count: number,
    extra: Record<string, unknown> = {},
  ) => ({
    'fj-protocol': 1,
    'fj-job': job,
    'fj-task': task.name,
    'fj-code': task.code,
    'fj-params': paramsRef,
    'fj-first': first,
    'fj-count': count,
    ...extra,
  });
  const goodHeaders = (first: number, count: number) => headersFor(base.job, base.paramsRef, first, count);
  const docItem = () =>
    encodeChecked(
      Array.from({ length: 1 + int(6) }, () => pick(['a', 'b', 'fox', '__proto__', 'constructor', 'zebra', 'é'])).join(
        ' ',
      ),
    );
  const goodItems = (n: number) => Array.from({ length: n }, docItem);
  const goodBody = (first: number, items: Uint8Array[]) => Buffer.from(encodeChecked({ first, items }));
  const props = (): HostileProperties | undefined =>
    rnd() < 0.5 ? { replyTo: pick(traps), messageId: `hostile:${out.length}` } : undefined;
  const add = (
    why: string,
    content: Buffer,
    headers: Record<string, unknown>,
    stage: HostileMessage['stage'] = 'inspect',
    properties = props(),
  ) => {
    out.push({ content, headers, properties, why, stage });
  };
  /** An `inspect` message whose body is `content` and whose headers are good for `count` items from `first`. */
  const body = (why: string, content: Buffer, first = 0, count = 1) => add(why, content, goodHeaders(first, count));
  /** An `inspect` message with good bytes and one header changed (undefined: removed). */
  const header = (why: string, name: string, value: unknown, content?: Buffer) => {
    const items = goodItems(2);
    add(why, content ?? goodBody(7, items), { ...goodHeaders(7, 2), [name]: value });
  };
  /** An `inspect` message whose items are raw msgpack values (some good, the bad one at a random place). */
  const itemAt = (why: string, bad: Buffer) => {
    const items: Buffer[] = goodItems(int(5)).map(mBin);
    items.splice(int(items.length + 1), 0, bad);
    body(why, rawBody(u8(0x05), items), 5, items.length);
  };
  /** As itemAt, with `value` as an inline item's encoded bytes. */
  const inlineItem = (why: string, value: Buffer) => itemAt(why, mBin(value));

  // 1. Not msgpack at all.
  for (const text of [
    'this is not an fj message',
    '',
    '{"first":0,"items":[]}',
    '<xml/>',
    '\u0000',
    'GET / HTTP/1.1\r\n\r\n',
    '🔥'.repeat(50),
  ]) {
    body(`text ${JSON.stringify(text.slice(0, 20))}`, Buffer.from(text));
  }
  for (let i = 0; i < 60; i++) {
    const bytes = Buffer.from(Array.from({ length: 1 + int(i < 40 ? 64 : 4000) }, () => int(256)));
    if (i % 10 === 0) add('random bytes, no fj headers', bytes, {});
    else body(`random bytes (${bytes.length})`, bytes);
  }

  // 2. Truncated valid bodies (every proper prefix), and trailing bytes.
  const full = goodBody(3, goodItems(3));
  for (let len = 0; len < full.length; len++)
    body(`valid body truncated to ${len} of ${full.length} bytes`, full.subarray(0, len), 3, 3);
  for (const extra of [u8(0x00), u8(0xc0), u8(0x90), full])
    body(`valid body + ${extra.length} trailing byte(s)`, Buffer.concat([full, extra]), 3, 3);

  // 3. Bit flips of valid bodies, for unknown jobs (a flip may leave it well-formed).
  for (let i = 0; i < 80; i++) {
    const items = goodItems(1 + int(4));
    const first = int(1000);
    const job = pick(UNKNOWN_JOBS);
    const flipped = goodBody(first, items);
    const bit = int(flipped.length * 8);
    flipped[bit >> 3] ^= 1 << (bit & 7);
    add(
      `valid body with bit ${bit} flipped, unknown job`,
      flipped,
      headersFor(job, `${job}/${hex(64)}`, first, items.length),
      'any',
    );
  }

  // 4. Body shapes.
  for (const [why, v] of [
    ['an integer', 1],
    ['a string', 'x'],
    ['an empty array', []],
    ['an array', [0, []]],
    ['nil', null],
    ['true', true],
    ['a float', 1.5],
    ['bytes', new Uint8Array(4)],
    ['an empty map', {}],
    ['an array of bodies', [{ first: 0, items: [] }]],
  ] as const) {
    body(`body is ${why}`, Buffer.from(encodeChecked(v)));
  }
  const one = mBin(docItem());
  const oneItems = Buffer.concat([mArr(1), one]);
  body('body without first', rawMap([mStr('items'), oneItems]));
  body('body without items', rawMap([mStr('first'), u8(0)]));
  body('body with an extra key', rawMap([mStr('first'), u8(0)], [mStr('items'), oneItems], [mStr('extra'), u8(1)]));
  for (const key of ['__proto__', 'constructor', 'prototype', 'items ', 'First']) {
    body(
      `body with a ${JSON.stringify(key)} key instead of first`,
      rawMap([mStr(key), u8(0)], [mStr('items'), oneItems]),
    );
    body(
      `body with a ${JSON.stringify(key)} key as a third entry`,
      rawMap(
        [mStr('first'), u8(0)],
        [mStr('items'), oneItems],
        [mStr(key), Buffer.from(encodeChecked({ polluted: true }))],
      ),
    );
  }
  body('body with first twice', rawMap([mStr('first'), u8(0)], [mStr('first'), u8(0)]));
  body('body with items twice', rawMap([mStr('items'), oneItems], [mStr('items'), oneItems]));
  body('body with an integer key', rawMap([u8(0x01), u8(0)], [mStr('items'), oneItems]));
  body('body with a map key', rawMap([u8(0x80), u8(0)], [mStr('items'), oneItems]));
  body('body with a 1 KB key', rawMap([mStr('k'.repeat(1024)), u8(0)], [mStr('items'), oneItems]));
  const firsts: [string, Buffer][] = [
    ['-1', u8(0xff)],
    ['-200', u8(0xd0, 0x38)],
    ['-70000', Buffer.concat([u8(0xd2), Buffer.from([0xff, 0xfe, 0xee, 0x90])])],
    ['1.5', Buffer.from(encodeChecked(1.5))],
    ['NaN', Buffer.from(encodeChecked(NaN))],
    ['Infinity', Buffer.from(encodeChecked(Infinity))],
    ['2^53', Buffer.from(encodeChecked(2 ** 53))],
    ['2^64-1 (uint64)', Buffer.from([0xcf, 255, 255, 255, 255, 255, 255, 255, 255])],
    ['-2^63 (int64)', Buffer.from([0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0])],
    ['"0"', mStr('0')],
    ['nil', u8(0xc0)],
    ['true', u8(0xc3)],
    ['[0]', u8(0x91, 0x00)],
    ['{}', u8(0x80)],
    ['bytes', mBin(u8(0))],
    ['a timestamp', Buffer.from(encodeChecked(new Date(0)))],
  ];
  for (const [why, v] of firsts) body(`first is ${why}`, rawBody(v, [one]));
  body(
    'first + item count passes 2^53',
    rawBody(Buffer.from(encodeChecked(Number.MAX_SAFE_INTEGER)), [one, one]),
    Number.MAX_SAFE_INTEGER,
    2,
  );
  for (const [why, v] of [
    ['a string', mStr('x')],
    ['an integer', u8(5)],
    ['a map', u8(0x81, 0xa1, 0x61, 0x01)],
    ['nil', u8(0xc0)],
    ['bytes', mBin(docItem())],
    ['an empty array', u8(0x90)],
  ] as const) {
    body(`items is ${why}`, rawMap([mStr('first'), u8(0)], [mStr('items'), v]));
  }
  for (const [why, v] of [
    ['an integer', u8(7)],
    ['nil', u8(0xc0)],
    ['an array', u8(0x91, 0x01)],
    ['a map', u8(0x80)],
    ['true', u8(0xc3)],
    ['a float', Buffer.from(encodeChecked(0.5))],
    ['a timestamp', Buffer.from(encodeChecked(new Date(1_234_567_890_123)))],
    ['undefined', u8(0xd4, 0, 0)],
    ['empty bytes', u8(0xc4, 0)],
  ] as const) {
    itemAt(`an item is ${why}`, v);
  }

  // 5. Headers.
  const headerCases: [string, unknown[]][] = [
    ['fj-protocol', [undefined, 0, 2, '1', true, 1.5, null, [1], { v: 1 }, -1]],
    [
      'fj-job',
      [
        undefined,
        '',
        'a/b',
        '../x',
        '..',
        '.hidden',
        'a..b',
        'a b',
        'x'.repeat(101),
        'jöb',
        'job\n',
        'job\u001b[31m',
        5,
        null,
        [],
        { id: 'j' },
        Buffer.from('job'),
      ],
    ],
    [
      'fj-task',
      [
        undefined,
        '',
        5,
        null,
        [],
        'x'.repeat(201),
        'wordcount\nWARN forged log line',
        'task\u001b[2J',
        { name: 'wordcount' },
        true,
      ],
    ],
    ['fj-code', [undefined, '', 'xyz', 'A'.repeat(16), hex(15), hex(17), hex(63), hex(65), 'g'.repeat(16), 5, null]],
    ['fj-first', [undefined, '7', -1, 1.5, null, 8, 6]],
    ['fj-count', [undefined, '2', 0, -1, 1, 3, 2.5, null]],
  ];
  for (const [name, values] of headerCases) for (const v of values) header(`header ${name} is ${describe(v)}`, name, v);
  const j = base.job;
  const refs = [
    undefined,
    '',
    5,
    null,
    `${j}`,
    `${j}/`,
    `${j}/${hex(63)}`,
    `${j}/${hex(65)}`,
    `${j}/${hex(64).toUpperCase()}`,
    `${j}/../${hex(64)}`,
    `${j}/${hex(64)}/x`,
    `../${hex(64)}`,
    `/etc/passwd`,
    `${j}/${hex(64)}\n`,
    `other-job/${hex(64)}`,
    `${j}x/${hex(64)}`,
    `${j}//${hex(64)}`,
    `./${j}/${hex(64)}`,
    `${j}/${'z'.repeat(64)}`,
    `${hex(64)}`,
  ];
  for (const r of refs) header(`header fj-params is ${describe(r)}`, 'fj-params', r);
  add('no headers at all', goodBody(0, goodItems(1)), {});
  for (let i = 0; i < 3; i++) {
    // amqplib decodes a `__proto__` table header by assignment: the worker's headers object gets a new prototype.
    const own = JSON.parse(`{"__proto__": ${JSON.stringify(goodHeaders(0, 1))}}`) as Record<string, unknown>;
    if (i > 0) Object.assign(own, { 'fj-protocol': 1, 'fj-first': 0, 'fj-count': 1 });
    if (i > 1) own['fj-code'] = task.code;
    add(`headers in a __proto__ header table (${i})`, goodBody(0, goodItems(1)), own);
  }

  // 6. Refs outside the job, or malformed, as items.
  const badItemRefs = [
    `other-job/${hex(64)}`,
    `${j}/../${hex(64)}`,
    `../${hex(64)}`,
    `${j}/${hex(64)}/..`,
    `${j}//${hex(64)}`,
    `${j}/${hex(64)}x`,
    `${j}`,
    `/tmp/x`,
    `redis:*`,
    `${j}/${hex(64).toUpperCase()}`,
    `${j}/é${hex(63)}`,
    'r'.repeat(200),
    `${j}/${hex(64)}`.padEnd(400, '/'),
    `.${j}/${hex(64)}`,
    `${j.toUpperCase()}x/${hex(64)}`,
    `${hex(64)}`,
  ];
  for (const r of badItemRefs) itemAt(`an item ref ${describe(r)}`, mStr(r));
  for (let i = 0; i < 10; i++)
    itemAt(
      `an item ref to unknown job ${UNKNOWN_JOBS[i % UNKNOWN_JOBS.length]}`,
      mStr(`${UNKNOWN_JOBS[i % UNKNOWN_JOBS.length]}/${hex(64)}`),
    );

  // 7. Over the size limit.
  const noise = Buffer.alloc(maxBytes + 1);
  for (let i = 0; i < noise.length; i++) noise[i] = int(256);
  add('random bytes, 1 over the size limit', noise, goodHeaders(0, 1));
  const big = encodeChecked('x'.repeat(maxBytes));
  add('a well-formed body over the size limit', goodBody(0, [big]), goodHeaders(0, 1));

  // 8. Deep nesting: in the body, and inside items.
  const deepArrays = (n: number) => Buffer.concat([Buffer.alloc(n, 0x91), u8(0x00)]);
  const deepMaps = (n: number) =>
    Buffer.concat([Buffer.concat(Array.from({ length: n }, () => u8(0x81, 0xa1, 0x61))), u8(0xc0)]);
  const deepMixed = (n: number) =>
    Buffer.concat([
      Buffer.concat(
        Array.from({ length: n }, (_, i) => (i % 2 ? u8(0x91) : u8(0x81, 0xa9, ...Buffer.from('__proto__')))),
      ),
      u8(0x01),
    ]);
  body('body: arrays nested 100,000 deep', deepArrays(100_000));
  body('body: maps nested 100,000 deep', deepMaps(100_000));
  body('body: items nested 100,000 deep', rawMap([mStr('first'), u8(0)], [mStr('items'), deepArrays(100_000)]));
  body('body: first nested 100,000 deep', rawMap([mStr('first'), deepArrays(100_000)], [mStr('items'), oneItems]));
  for (const n of [maxDepth + 2, maxDepth + 3, 1000, 10_000, 100_000]) {
    inlineItem(`an item of arrays nested ${n} deep`, deepArrays(n));
    inlineItem(`an item of maps nested ${n} deep`, deepMaps(n));
    inlineItem(`an item of __proto__ maps and arrays nested ${n} deep`, deepMixed(n));
  }
  inlineItem(
    `an item of arrays nested ${maxDepth + 2} deep, closed early`,
    Buffer.concat([Buffer.alloc(maxDepth + 2, 0x91), u8(0x90)]),
  );

  // 9. Prototype keys: refused in the body (above); inside items they are data, so these name unknown jobs.
  const protoItems = [
    '{"__proto__": {"polluted": true}}',
    '{"constructor": {"prototype": {"polluted": true}}}',
    '{"prototype": {"polluted": true}}',
    '[{"__proto__": {"polluted": true}}, {"__proto__": null}]',
    '{"a": {"__proto__": {"toString": 1}}}',
    '{"__proto__": []}',
    '{"__proto__": "x", "hasOwnProperty": 1}',
  ];
  for (const json of protoItems) {
    const job = pick(UNKNOWN_JOBS);
    const items = [encodeChecked(JSON.parse(json)), ...goodItems(int(3))];
    add(`item ${json}, unknown job`, goodBody(0, items), headersFor(job, `${job}/${hex(64)}`, 0, items.length), 'job');
  }
  // msgpackr's record extension can define keys itself; it is refused whatever the keys.
  inlineItem(
    'an item defining a msgpackr record with a __proto__ key',
    Buffer.concat([
      u8(0xd4, 0x72, 0x40),
      u8(0x91),
      mStr('__proto__'),
      u8(0x40),
      u8(0x81, 0xa8, ...Buffer.from('polluted'), 0xc3),
    ]),
  );

  // 10. Huge declared lengths with short bodies.
  const huge: [string, Buffer][] = [
    ['str32 of 4 GB', Buffer.concat([u8(0xdb), be(0xffffffff, 4), Buffer.from('abc')])],
    ['bin32 of 4 GB', Buffer.concat([u8(0xc6), be(0xffffffff, 4), u8(1, 2)])],
    ['array32 of 4G values', Buffer.concat([u8(0xdd), be(0xffffffff, 4), u8(1)])],
    ['map32 of 4G entries', Buffer.concat([u8(0xdf), be(0xffffffff, 4), u8(1)])],
    ['ext32 of 4 GB', Buffer.concat([u8(0xc9), be(0xffffffff, 4), u8(0xff, 0)])],
    ['str16 of 64 KB', Buffer.concat([u8(0xda), be(0xffff, 2)])],
    ['array16 of 65535 values', Buffer.concat([u8(0xdc), be(0xffff, 2), u8(1, 2, 3)])],
    ['bin8 of 255 bytes', u8(0xc4, 0xff, 1)],
  ];
  for (const [why, v] of huge) {
    body(`body is ${why}`, v);
    inlineItem(`an item is ${why}`, v);
  }
  body(
    'items: array32 declaring 4G items',
    rawMap([mStr('first'), u8(0)], [mStr('items'), Buffer.concat([u8(0xdd), be(0xffffffff, 4), one])]),
  );
  body('an item: bin32 declaring 4 GB', rawBody(u8(0), [Buffer.concat([u8(0xc6), be(0xffffffff, 4), u8(1)])]));
  body('an item ref: str32 declaring 4 GB', rawBody(u8(0), [Buffer.concat([u8(0xdb), be(0xffffffff, 4), u8(0x61)])]));
  body('body: map32 declaring 4G entries', Buffer.concat([u8(0xdf), be(0xffffffff, 4), mStr('first'), u8(0)]));
  body('body: key str32 declaring 4 GB', Buffer.concat([u8(0x82, 0xdb), be(0xffffffff, 4), u8(0x61)]));

  // 11. Extensions fj's codec never writes, reserved bytes, malformed items.
  for (const [type, name] of [
    [0x72, 'record'],
    [0x73, 'Set'],
    [0x78, 'RegExp'],
    [0x65, 'Error'],
    [0x74, 'typed array'],
    [0x70, 'pointer'],
    [0x69, 'id'],
    [0x62, 'bundled strings'],
    [0x42, 'BigInt'],
    [0x01, 'type 1'],
    [0x7f, 'type 127'],
    [0x80, 'type -128'],
  ] as const) {
    inlineItem(
      `an item holding a msgpackr ${name} extension`,
      Buffer.concat([u8(0x92, 0x01), u8(0xc7, 4, type), mStr('abc')]),
    );
    inlineItem(`an item that is a fixext1 ${name} extension`, u8(0xd4, type, 0x00));
  }
  for (const [why, v] of [
    ['fixext2 timestamp', u8(0xd5, 0xff, 0, 0)],
    ['fixext16 timestamp', Buffer.concat([u8(0xd8, 0xff), Buffer.alloc(16)])],
    ['ext8 timestamp of 5 bytes', Buffer.concat([u8(0xc7, 5, 0xff), Buffer.alloc(5)])],
    ['undefined with a non-zero byte', u8(0xd4, 0x00, 0x01)],
    ['fixext4 type 0', u8(0xd6, 0x00, 0, 0, 0, 0)],
  ] as const) {
    inlineItem(`an item that is a ${why}`, v);
  }
  inlineItem('an item that is 0xc1', u8(0xc1));
  inlineItem('an item holding 0xc1', u8(0x93, 0x01, 0xc1, 0x02));
  body('body holding 0xc1 as first', rawBody(u8(0xc1), [one]));
  inlineItem('an item with trailing bytes', Buffer.concat([docItem(), u8(0x00)]));
  inlineItem('an item of two values', Buffer.concat([docItem(), docItem()]));
  for (let i = 0; i < 20; i++) {
    const doc = Buffer.from(encodeChecked({ words: goodItems(3).map((b) => Buffer.from(b).toString('latin1')), n: i }));
    inlineItem(`an item truncated to ${i % doc.length} bytes`, doc.subarray(0, Math.max(1, i % doc.length)));
  }

  // 12. Unknown jobs and unknown tasks: well-formed messages.
  for (let i = 0; i < 30; i++) {
    const job = UNKNOWN_JOBS[i % UNKNOWN_JOBS.length];
    const items = goodItems(1 + int(8));
    const first = i === 0 ? 0 : int(1e6);
    add(
      `well-formed, unknown job ${job}`,
      goodBody(first, items),
      headersFor(job, `${job}/${hex(64)}`, first, items.length),
      'job',
    );
  }
  if (opts.knownJob) {
    // The params hash of a real job is public (it is in every message): an
    // unknown job naming it must not reach the params cached for that job.
    const hash = opts.knownJob.paramsRef.slice(opts.knownJob.paramsRef.indexOf('/') + 1);
    for (const job of UNKNOWN_JOBS)
      add(
        `unknown job ${job} reusing the known job's params hash`,
        goodBody(0, goodItems(2)),
        headersFor(job, `${job}/${hash}`, 0, 2),
        'job',
      );
  }
  for (const name of [
    'no-such-task',
    'constructor',
    '__proto__',
    'toString',
    'hasOwnProperty',
    'valueOf',
    'WordCount',
    `${task.name} `,
    'ünïcode-täsk',
    'x'.repeat(200),
  ]) {
    const job = pick(UNKNOWN_JOBS);
    add(
      `unknown task ${describe(name)}, unknown job`,
      goodBody(0, goodItems(2)),
      headersFor(job, `${job}/${hex(64)}`, 0, 2, { 'fj-task': name }),
      'task',
    );
  }
  for (let i = 0; i < 5; i++) {
    const job = pick(UNKNOWN_JOBS);
    add(
      'other code hash, unknown job',
      goodBody(0, goodItems(2)),
      headersFor(job, `${job}/${hex(64)}`, 0, 2, { 'fj-code': hex(16) }),
      'task',
    );
  }

  // 13. replyTo naming other queues, on well-formed messages of unknown jobs.
  for (const replyTo of [...traps, '', `fj.results.${base.job}`]) {
    for (const stage of ['job', 'task'] as const) {
      const job = pick(UNKNOWN_JOBS);
      const headers = headersFor(job, `${job}/${hex(64)}`, 0, 1, stage === 'task' ? { 'fj-task': 'no-such-task' } : {});
      add(
        `replyTo ${describe(replyTo)}, ${stage === 'job' ? 'unknown job' : 'unknown task'}`,
        goodBody(0, goodItems(1)),
        headers,
        stage,
        { replyTo, messageId: `hostile:${out.length}`, correlationId: 'x' },
      );
    }
  }

  return dedupe(out);
}

/** Drops entries identical to an earlier one (same bytes, headers and properties). */
function dedupe(list: HostileMessage[]): HostileMessage[] {
  const seen = new Set<string>();
  return list.filter((m) => {
    const key = `${m.content.toString('base64')}|${JSON.stringify(m.headers)}|${Object.getPrototypeOf(m.headers) === Object.prototype}|${JSON.stringify(m.properties ?? {})}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Every queue a misbehaving worker could publish a result to because of the corpus (besides the work and dead-letter queues). */
export function trapQueues(
  corpus: HostileMessage[],
  opts: Pick<CorpusOptions, 'queue' | 'knownJob' | 'tag'>,
): string[] {
  const names = new Set<string>();
  for (const m of corpus) {
    const to = m.properties?.replyTo;
    if (to && to !== opts.queue && to !== `${opts.queue}.dead` && !to.startsWith('amq.')) names.add(to);
  }
  for (const job of unknownJobs(opts.tag)) names.add(`fj.results.${job}`);
  if (opts.knownJob) names.add(`fj.results.${opts.knownJob.job}`);
  return [...names];
}

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (Buffer.isBuffer(v)) return 'a Buffer';
  return JSON.stringify(v);
}

/**
 * The headers as a worker receives them: amqplib decodes a field table by
 * assignment (`fields[key] = value`), so a `__proto__` table header becomes
 * the object's prototype rather than an own property.
 */
export function asReceived(headers: Record<string, unknown>): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const key of Object.keys(headers)) if (headers[key] !== undefined) fields[key] = headers[key];
  return fields;
}
