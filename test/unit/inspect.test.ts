/**
 * inspectWork, the gate in front of every work message, and checkMsgpack, its
 * allocation-free msgpack skimmer: what fj writes passes; each kind of hostile
 * message is refused with a reason naming the place; nothing throws.
 */
import { describe, expect, it } from 'vitest';
import { decode, encode, encodeChecked } from '../../src/core/codec.js';
import { checkMsgpack, DEFAULT_MAX_DEPTH, inspectWork, show } from '../../src/broker/inspect.js';
import { encodeBody } from '../../src/broker/messages.js';
import { mulberry32 } from '../../scripts/prng.mjs';
import { asReceived, hostileCorpus } from '../helpers/hostile-corpus.js';

const limits = { maxMessageBytes: 1 << 20, maxDepth: DEFAULT_MAX_DEPTH };
const H64 = 'ab'.repeat(32);
const CODE = '0123456789abcdef';
const where = { task: 't', hook: 'setup' as const, index: 0 };

function headers(over: Record<string, unknown> = {}, count = 2, first = 10): Record<string, unknown> {
  return {
    'fj-protocol': 1,
    'fj-job': 'j1',
    'fj-task': 'wordcount',
    'fj-code': CODE,
    'fj-params': `j1/${H64}`,
    'fj-first': first,
    'fj-count': count,
    ...over,
  };
}
const item = (v: unknown) => encode(v, where);
const body = (items: (Uint8Array | string)[], first = 10) => encodeBody({ first, items });
/** The reason inspectWork refuses with (fails the test if it accepts). */
function reason(content: Buffer, h: Record<string, unknown> | null = headers()): string {
  const r = inspectWork(content, h ?? undefined, limits);
  if (r.ok) throw new Error('expected a refusal, the message was accepted');
  return r.reason;
}
const u8 = (...b: number[]) => Buffer.from(b);
/** A body with raw msgpack values as items (first 10). */
const rawItems = (...items: Buffer[]) =>
  Buffer.concat([
    u8(0x82, 0xa5, ...Buffer.from('first'), 10, 0xa5, ...Buffer.from('items'), 0x90 | items.length),
    ...items,
  ]);

describe('inspectWork accepts what the amqp executor sends', () => {
  it('inline items stay encoded, byte for byte, and refs are returned as strings', () => {
    const items = [item('a b'), item({ x: [1, 2] }), `j1/${H64}`, item('')];
    const r = inspectWork(body(items), headers({}, 4), limits);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r).toMatchObject({ job: 'j1', task: 'wordcount', code: CODE, paramsRef: `j1/${H64}` });
    expect(r.body.first).toBe(10);
    expect(r.body.items.map((s) => (typeof s === 'string' ? s : Buffer.from(s).toString('hex')))).toEqual(
      items.map((s) => (typeof s === 'string' ? s : Buffer.from(s).toString('hex'))),
    );
  });

  it('a 4096-item message, a large first, a 64-hex code hash, headers with a null prototype', () => {
    const items = Array.from({ length: 4096 }, (_, i) => item(i));
    const first = Number.MAX_SAFE_INTEGER - 4096;
    expect(inspectWork(body(items, first), headers({}, 4096, first), limits).ok).toBe(true);
    expect(
      inspectWork(body([item(1)]), Object.assign(Object.create(null), headers({ 'fj-code': H64 }, 1)), limits).ok,
    ).toBe(true);
  });

  it('items holding everything the codec writes, nested as deep as the codec allows', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i <= 512; i++) deep = i % 2 ? [deep] : { k: deep }; // containers at depths 0..512
    const values = [
      undefined,
      null,
      true,
      false,
      0,
      -1,
      255,
      -129,
      65536,
      2 ** 32,
      -(2 ** 40),
      1.5,
      NaN,
      -Infinity,
      'x'.repeat(40),
      'y'.repeat(70_000),
      'é🌍',
      new Date(0),
      new Date(2 ** 34 * 1000),
      new Date(-1),
      new Date(NaN),
      new Uint8Array(300),
      new Uint8Array(70_000),
      [undefined, [], {}],
      Object.create(null),
      JSON.parse('{"__proto__": {"polluted": true}, "constructor": 1}'),
      Array.from({ length: 70_000 }, (_, i) => i),
      deep,
    ];
    values.forEach((v, i) => expect(checkMsgpack(item(v), DEFAULT_MAX_DEPTH), `values[${i}]`).toBeUndefined());
    expect(inspectWork(body(values.map(item)), headers({}, values.length), limits).ok).toBe(true);
  });

  it('a body encoded with another key order or an int first header', () => {
    const swapped = Buffer.concat([
      u8(0x82, 0xa5, ...Buffer.from('items'), 0x91, 0xc4, 1, 0x07, 0xa5, ...Buffer.from('first'), 0xcd, 0x01, 0x00),
    ]);
    const r = inspectWork(swapped, headers({}, 1, 256), limits);
    expect(r.ok && r.body).toEqual({ first: 256, items: [new Uint8Array([7])] });
  });
});

describe('inspectWork refuses, naming the place', () => {
  it('a body over the size limit, before reading anything', () => {
    expect(reason(Buffer.alloc(limits.maxMessageBytes + 1), null)).toBe(
      `body: ${limits.maxMessageBytes + 1} bytes, over the ${limits.maxMessageBytes}-byte limit`,
    );
  });

  it('missing or wrong headers', () => {
    const ok = body([item(1), item(2)]);
    expect(reason(ok, null)).toMatch(/^headers: none/);
    expect(reason(ok, headers({ 'fj-protocol': 2 }))).toBe(
      'header fj-protocol: 2, expected 1 (not an fj protocol 1 message)',
    );
    expect(reason(ok, headers({ 'fj-protocol': '1' }))).toMatch(/^header fj-protocol: "1"/);
    for (const job of [undefined, '', '../x', '..', '.hidden', 'a..b', 'a/b', 'x'.repeat(101), 5])
      expect(reason(ok, headers({ 'fj-job': job }))).toMatch(/^header fj-job: .* is not a job id/);
    for (const task of [undefined, '', 7, 'x'.repeat(201), 'a\nb'])
      expect(reason(ok, headers({ 'fj-task': task }))).toMatch(/^header fj-task: .* is not a task name/);
    for (const code of [undefined, 'XYZ', CODE.toUpperCase(), CODE.slice(1), `${CODE}0`, H64.slice(1)])
      expect(reason(ok, headers({ 'fj-code': code }))).toMatch(/^header fj-code: .* is not a code hash/);
    expect(reason(ok, headers({ 'fj-first': '10' }))).toBe('header fj-first: "10" is not a non-negative safe integer');
    expect(reason(ok, headers({ 'fj-count': 0 }))).toBe('header fj-count: 0 is not a positive integer');
    expect(reason(ok, headers({ 'fj-count': 3 }))).toBe('body: 2 item(s) but header fj-count says 3');
    expect(reason(ok, headers({ 'fj-first': 11 }))).toBe('body: first is 10 but header fj-first says 11');
  });

  it('a params ref outside the job or malformed', () => {
    const ok = body([item(1), item(2)]);
    expect(reason(ok, headers({ 'fj-params': `other-job/${H64}` }))).toBe(
      `header fj-params: ref "other-job/${H64.slice(0, 50)}…" is outside job "j1"`,
    );
    for (const ref of [`../${H64}`, `j1x/${H64}`, '/etc/passwd', H64])
      expect(reason(ok, headers({ 'fj-params': ref }))).toMatch(/^header fj-params: ref .* is outside job "j1"$/);
    for (const ref of ['j1', 'j1/', `j1/../${H64}`, `j1/${H64}/x`, `j1/${H64.toUpperCase()}`, `j1//${H64}`])
      expect(reason(ok, headers({ 'fj-params': ref }))).toMatch(
        /^header fj-params: ref .* is not "j1\/<64 lowercase hex>"$/,
      );
    expect(reason(ok, headers({ 'fj-params': undefined }))).toBe(
      'header fj-params: missing is not a ref (expected "j1/<64 hex>")',
    );
  });

  it('a __proto__ header that replaced the headers object’s prototype', () => {
    const received = asReceived(JSON.parse(`{"__proto__": ${JSON.stringify(headers())}}`));
    expect(received['fj-job']).toBe('j1'); // inherited: what a naive check would read
    expect(reason(body([item(1), item(2)]), received)).toBe(
      'headers: a "__proto__" header replaced the prototype of the headers object',
    );
  });

  it('an item ref outside the job, by index', () => {
    const items = [item(1), item(2), `j1/${H64}`, `other-job/${H64}`];
    expect(reason(body(items), headers({}, 4))).toBe(
      `items[3]: ref "other-job/${H64.slice(0, 50)}…" is outside job "j1"`,
    );
    expect(reason(body([`j1/../${H64}`]), headers({}, 1))).toMatch(
      /^items\[0\]: ref "j1\/\.\.\/.*" is not "j1\/<64 lowercase hex>"$/,
    );
    expect(reason(body(['r'.repeat(1000)]), headers({}, 1))).toBe(
      'items[0]: a string of 1000 bytes, expected a ref "j1/<64 hex>"',
    );
  });

  it('wrong body shapes', () => {
    expect(reason(Buffer.from('not msgpack'), headers())).toBe(
      'body: an integer (0x6e) at byte 0, expected a map {first, items}',
    );
    expect(reason(Buffer.alloc(0))).toBe('body: empty');
    expect(reason(Buffer.from(encodeChecked([1, 2])))).toBe(
      'body: an array (0x92) at byte 0, expected a map {first, items}',
    );
    expect(reason(Buffer.from(encodeChecked({ first: 10 })))).toBe(
      'body: a map of 1 entries, expected exactly first and items',
    );
    expect(reason(Buffer.from(encodeChecked({ first: 10, items: [item(1)], extra: 1 })))).toBe(
      'body: a map of 3 entries, expected exactly first and items',
    );
    expect(reason(Buffer.from(encodeChecked(JSON.parse('{"first": 10, "__proto__": []}'))))).toBe(
      'body: unexpected key "__proto__" (expected exactly first and items)',
    );
    expect(reason(Buffer.from(encodeChecked({ first: 10, constructor: [] })))).toBe(
      'body: unexpected key "constructor" (expected exactly first and items)',
    );
    expect(reason(Buffer.concat([u8(0x82, 0xa5, ...Buffer.from('first'), 1, 0xa5, ...Buffer.from('first'), 1)]))).toBe(
      'body: key first twice',
    );
    for (const first of [-1, 1.5, NaN, 2 ** 53, '10', null, [10]])
      expect(reason(Buffer.from(encodeChecked({ first, items: [item(1), item(2)] })))).toMatch(/^body: first: /);
    expect(reason(Buffer.from(encodeChecked({ first: 10, items: [] })), headers({}, 1))).toBe('body: items: empty');
    expect(reason(Buffer.from(encodeChecked({ first: 10, items: 'x' })))).toBe(
      'body: items: a string (0xa1) at byte 14, expected an array',
    );
    expect(reason(rawItems(u8(0xc4, 1, 1), u8(0x05)))).toBe(
      'items[1]: an integer (0x05) at byte 18, expected encoded bytes or a ref',
    );
    expect(reason(rawItems(u8(0xc4, 1, 1), u8(0xc4, 0)))).toBe('items[1]: empty bytes, expected one encoded value');
    expect(reason(Buffer.concat([body([item(1), item(2)]), u8(0)]))).toMatch(
      /^body: 1 trailing byte\(s\) after the map/,
    );
  });

  it('truncated bodies, at every length', () => {
    const full = body([item('a b'), `j1/${H64}`]);
    for (let n = 0; n < full.length; n++)
      expect(inspectWork(full.subarray(0, n), headers(), limits).ok, `${n} bytes`).toBe(false);
  });

  it('huge declared lengths with short bodies, without allocating them', () => {
    expect(
      reason(
        Buffer.concat([
          u8(
            0x82,
            0xa5,
            ...Buffer.from('first'),
            10,
            0xa5,
            ...Buffer.from('items'),
            0xdd,
            0xff,
            0xff,
            0xff,
            0xff,
            0xc4,
            1,
            1,
          ),
        ]),
      ),
    ).toBe('body: items: an array declaring 4294967295 items with only 3 bytes left');
    expect(reason(rawItems(u8(0xc6, 0xff, 0xff, 0xff, 0xff, 1)), headers({}, 1))).toBe(
      'items[0]: bytes declaring 4294967295 bytes with only 1 left',
    );
    expect(reason(rawItems(u8(0xdb, 0xff, 0xff, 0xff, 0xff, 0x61)), headers({}, 1))).toBe(
      'items[0]: a string of 4294967295 bytes, expected a ref "j1/<64 hex>"',
    );
    expect(reason(rawItems(u8(0xc4, 5, 0xdb, 0xff, 0xff, 0xff, 0xff)), headers({}, 1))).toBe(
      'items[0] at byte 0: str32 declaring 4294967295 bytes with only 0 left',
    );
    expect(reason(u8(0xdf, 0xff, 0xff, 0xff, 0xff))).toBe(
      'body: a map of 4294967295 entries, expected exactly first and items',
    );
  });

  it('deep nesting in the body and inside items', () => {
    expect(reason(Buffer.concat([Buffer.alloc(100_000, 0x91), u8(0)]))).toBe(
      'body: an array (0x91) at byte 0, expected a map {first, items}',
    );
    const deepItems = Buffer.concat([
      u8(0x82, 0xa5, ...Buffer.from('first'), 10, 0xa5, ...Buffer.from('items')),
      Buffer.alloc(100_000, 0x91),
      u8(0),
    ]);
    expect(reason(deepItems)).toBe('items[0]: an array (0x91) at byte 15, expected encoded bytes or a ref');
    const deep = Buffer.concat([Buffer.alloc(100_000, 0x91), u8(0)]);
    expect(reason(rawItems(u8(0xc4, 1, 1), Buffer.concat([u8(0xc6, 0, 0x01, 0x86, 0xa1), deep])))).toBe(
      `items[1] at byte ${DEFAULT_MAX_DEPTH + 1}: nested deeper than ${DEFAULT_MAX_DEPTH} levels`,
    );
  });

  it('extensions the codec never writes, and the reserved byte', () => {
    expect(reason(rawItems(u8(0xc4, 3, 0xd4, 0x72, 0x40)), headers({}, 1))).toBe(
      "items[0] at byte 0: extension type 114 of 1 bytes (fj's codec writes only timestamps and undefined)",
    );
    expect(reason(rawItems(u8(0xc4, 5, 0x92, 0x01, 0xd4, 0x73, 0x00)), headers({}, 1))).toBe(
      "items[0] at byte 2: extension type 115 of 1 bytes (fj's codec writes only timestamps and undefined)",
    );
    expect(reason(rawItems(u8(0xc4, 2, 0x91, 0xc1)), headers({}, 1))).toBe(
      'items[0] at byte 1: the reserved byte 0xc1',
    );
  });
});

describe('checkMsgpack', () => {
  it('allows containers down to maxDepth, not one level more', () => {
    const nest = (levels: number) => Buffer.concat([Buffer.alloc(levels, 0x91), u8(0x01)]);
    expect(checkMsgpack(nest(4), 3)).toBeUndefined(); // containers at depths 0..3
    expect(checkMsgpack(nest(5), 3)).toBe('at byte 4: nested deeper than 3 levels');
    expect(checkMsgpack(u8(0x81, 0xa1, 0x61), 3)).toBe('at byte 3: truncated: a value is missing');
    expect(checkMsgpack(u8(0x93, 0x01), 3)).toBe('at byte 0: fixarray declaring 3 values with only 1 bytes left');
    expect(checkMsgpack(nest(1_000_000), DEFAULT_MAX_DEPTH)).toBe(
      `at byte ${DEFAULT_MAX_DEPTH + 1}: nested deeper than ${DEFAULT_MAX_DEPTH} levels`,
    );
    expect(checkMsgpack(nest(100_000), 200_000)).toBeUndefined(); // iterative: no stack to overflow
  });

  it('refuses truncation, trailing bytes, 0xc1, lying lengths; offsets are relative to start', () => {
    const v = Buffer.from(item({ a: [1, 'x', { b: new Date(5) }], c: new Uint8Array(3) }));
    for (let n = 0; n < v.length; n++)
      expect(checkMsgpack(v.subarray(0, n), 9), `${n} bytes`).toMatch(/^at byte \d+: /);
    expect(checkMsgpack(Buffer.concat([v, u8(0)]), 9)).toBe(`at byte ${v.length}: 1 trailing byte(s) after the value`);
    const framed = Buffer.concat([u8(0xee, 0xee), u8(0x92, 0x01, 0xc1), u8(0xee)]);
    expect(checkMsgpack(framed, 9, 2, 5)).toBe('at byte 2: the reserved byte 0xc1');
    expect(checkMsgpack(u8(0xdd, 0xff, 0xff, 0xff, 0xff, 0x00), 9)).toBe(
      'at byte 0: array32 declaring 4294967295 values with only 1 bytes left',
    );
    expect(checkMsgpack(u8(0xc9, 0xff, 0xff, 0xff, 0xff, 0xff), 9)).toBe(
      'at byte 0: ext32 declaring 4294967295 bytes with only 0 left',
    );
  });

  it('accepts only timestamps and undefined among extensions', () => {
    expect(checkMsgpack(u8(0xd4, 0x00, 0x00), 1)).toBeUndefined();
    expect(checkMsgpack(u8(0xd4, 0x00, 0x01), 1)).toMatch(/extension type 0 of 1 bytes/);
    expect(checkMsgpack(u8(0xd5, 0xff, 0, 0), 1)).toMatch(/extension type -1 of 2 bytes/);
    for (const t of [0x72, 0x73, 0x78, 0x65, 0x74, 0x70, 0x69, 0x62, 0x42, 0x01])
      expect(checkMsgpack(u8(0xd4, t, 0), 1)).toMatch(/^at byte 0: extension type/);
  });

  it("refuses a short string whose last UTF-8 sequence is cut (msgpackr's JavaScript decoder reads past it)", () => {
    // fixstr of 3 bytes: 'a', then a 4-byte lead with one byte left; then a value the decoder would run into.
    expect(checkMsgpack(u8(0x92, 0xa3, 0x61, 0xf0, 0x9f, 0x01), 3)).toBe(
      'at byte 1: a string whose last UTF-8 sequence runs past its end',
    );
    expect(checkMsgpack(u8(0xd9, 0x02, 0x61, 0xe2), 3)).toBe(
      'at byte 0: a string whose last UTF-8 sequence runs past its end',
    );
    expect(checkMsgpack(u8(0xda, 0x00, 0x01, 0xc3), 3)).toMatch(/runs past its end/);
    // Whole sequences pass, those that are not UTF-8 too (decoded as U+FFFD), and what passes decodes.
    for (const ok of [
      u8(0xa3, 0xe2, 0x82, 0xac), // '€'
      u8(0xa3, 0xed, 0xa0, 0x80), // a surrogate's bytes: not UTF-8, whole
      u8(0xa2, 0x80, 0xff), // stray bytes
      Buffer.from([0xd9, 70, ...new Array<number>(69).fill(0x61), 0xf0]), // over 64 bytes: TextDecoder's
    ]) {
      expect(checkMsgpack(ok, 3), ok.toString('hex')).toBeUndefined();
      expect(() => decode(ok), ok.toString('hex')).not.toThrow();
    }
    expect(decode(u8(0xa3, 0xe2, 0x82, 0xac))).toBe('€');
  });

  it('never throws on random bytes, and what it accepts msgpackr decodes', () => {
    const rnd = mulberry32(7);
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      const b = Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 24) }, () => Math.floor(rnd() * 256)));
      const why = checkMsgpack(b, 8);
      if (why === undefined) {
        accepted++;
        expect(() => decode(b), b.toString('hex')).not.toThrow();
      }
    }
    expect(accepted).toBeGreaterThan(100);
  });
});

describe('the hostile corpus', () => {
  const corpus = hostileCorpus({
    queue: 'q',
    task: { name: 'wordcount', code: CODE },
    knownJob: { job: 'known', paramsRef: `known/${H64}` },
    replyTraps: ['trap'],
    maxMessageBytes: limits.maxMessageBytes,
  });

  it('is deterministic, has at least 500 distinct messages, and covers every stage', () => {
    const again = hostileCorpus({
      queue: 'q',
      task: { name: 'wordcount', code: CODE },
      knownJob: { job: 'known', paramsRef: `known/${H64}` },
      replyTraps: ['trap'],
      maxMessageBytes: limits.maxMessageBytes,
    });
    expect(again.map((m) => m.content.toString('base64'))).toEqual(corpus.map((m) => m.content.toString('base64')));
    expect(corpus.length).toBeGreaterThanOrEqual(500);
    expect(new Set(corpus.map((m) => m.stage))).toEqual(new Set(['inspect', 'job', 'task', 'any']));
  });

  it('inspectWork refuses every `inspect` message and lets the well-formed ones through to the job and task checks', () => {
    const protoNames = Object.getOwnPropertyNames(Object.prototype).sort();
    for (const m of corpus) {
      const r = inspectWork(m.content, asReceived(m.headers), limits);
      if (m.stage === 'inspect') expect(r.ok, m.why).toBe(false);
      if (m.stage === 'job' || m.stage === 'task') expect(r.ok ? '' : r.reason, m.why).toBe('');
      if (!r.ok) expect(r.reason, m.why).not.toMatch(/[\u0000-\u001f\u007f]/); // safe to log: no newlines or escapes
    }
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoNames);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('show', () => {
  it('quotes hostile values escaped and truncated', () => {
    expect(show('a\nb\u001b[2J')).toBe('"a\\nb\\u001b[2J"');
    expect(show('x'.repeat(100))).toBe(`"${'x'.repeat(60)}…"`);
    expect([show(undefined), show(null), show([1]), show({}), show(Buffer.alloc(3)), show(5)]).toEqual([
      'missing',
      'null',
      'an array',
      'a table',
      '3 bytes',
      '5',
    ]);
  });
});
