/**
 * The codec every executor uses: what survives the round trip unchanged, and
 * what is refused with a CodecError naming the hook, the item and the path.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertPlain, clonesExactly, decode, encode, roundTrip } from '../../src/core/codec.js';
import { CodecError, FjError, type Where } from '../../src/index.js';

const where: Where = { task: 'demo', hook: 'process', index: 5 };

/** The CodecError `fn` throws (fails the test if it throws nothing or something else). */
function codecError(fn: () => unknown): CodecError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CodecError);
    return err as CodecError;
  }
  throw new Error('expected a CodecError, nothing was thrown');
}

describe('round trip', () => {
  it.each([
    ['a string', 'héllo wörld 🌍'],
    ['an empty string', ''],
    ['an integer', 42],
    ['a negative float', -1.5],
    ['a large safe integer', Number.MAX_SAFE_INTEGER],
    ['true', true],
    ['false', false],
    ['null', null],
    ['an empty array', []],
    ['an empty object', {}],
    ['a plain object', { name: 'fj', version: 1, tags: ['a', 'b'], nested: { ok: true, none: null } }],
    ['nested arrays', [[1, [2, [3, [4, []]]]], ['x', ['y']], [[[]]]]],
    ['an array of objects', [{ a: 1 }, { b: [2, { c: 3 }] }]],
  ])('keeps %s equal', (_, value) => {
    expect(roundTrip(value, where)).toStrictEqual(value);
  });

  it('keeps NaN and the infinities', () => {
    expect(roundTrip([Number.NaN, Infinity, -Infinity], where)).toStrictEqual([Number.NaN, Infinity, -Infinity]);
  });

  it('keeps a Date as a Date with the same time', () => {
    const date = new Date('2024-02-29T12:34:56.789Z');
    const back = roundTrip({ when: date, list: [date] }, where);
    expect(back.when).toBeInstanceOf(Date);
    expect(back.when.getTime()).toBe(date.getTime());
    expect(back.list[0].getTime()).toBe(date.getTime());
  });

  it('keeps a Uint8Array as a Uint8Array with the same bytes', () => {
    const bytes = new Uint8Array([0, 1, 127, 128, 255]);
    const back = roundTrip({ bytes }, where);
    expect(back.bytes).toBeInstanceOf(Uint8Array);
    expect(Array.from(back.bytes)).toEqual([0, 1, 127, 128, 255]);
  });

  it('keeps a null-prototype object, keys that name Object.prototype members included', () => {
    const counts: Record<string, number> = Object.create(null);
    counts['constructor'] = 1;
    counts['toString'] = 2;
    counts['hasOwnProperty'] = 3;
    counts['__proto__'] = 4;
    counts.word = 5;
    const back = roundTrip(counts, where);
    expect(Object.keys(back)).toEqual(['constructor', 'toString', 'hasOwnProperty', '__proto__', 'word']);
    expect(JSON.stringify(back)).toBe('{"constructor":1,"toString":2,"hasOwnProperty":3,"__proto__":4,"word":5}');
    // `__proto__` came back as data, not as a prototype.
    expect(Object.getOwnPropertyDescriptor(back, '__proto__')?.value).toBe(4);
    expect(({} as Record<string, unknown>).word).toBeUndefined();
  });

  it('keeps an own `__proto__` key nested in arrays and objects (from JSON input, say)', () => {
    const value = JSON.parse('{"list":[{"__proto__":{"polluted":true}}],"s":"__proto__"}') as unknown;
    const back = roundTrip(value, where) as { list: Record<string, unknown>[] };
    expect(JSON.stringify(back)).toBe('{"list":[{"__proto__":{"polluted":true}}],"s":"__proto__"}');
    expect(Object.getPrototypeOf(back.list[0])).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('keeps an object with more keys than a 16-bit map size holds (100,000)', () => {
    const wide: Record<string, number> = {};
    for (let i = 0; i < 100_000; i++) wide[`w${i}`] = i;
    const back = roundTrip(wide, { hook: 'process', index: 0 });
    expect(Object.keys(back)).toHaveLength(100_000);
    expect(back).toEqual(wide);
  });

  it('decodes what encode produced, on its own (no state shared between messages)', () => {
    const a = encode({ x: 1, y: 'same keys' }, where);
    const b = encode({ x: 2, y: 'same keys' }, where);
    expect(decode(b)).toEqual({ x: 2, y: 'same keys' });
    expect(decode(a)).toEqual({ x: 1, y: 'same keys' });
  });
});

describe('values that cannot travel', () => {
  class Point {
    constructor(readonly x: number) {}
  }

  it.each([
    ['a function', { a: [() => 1] }, /^a function/],
    ['a named function', { a: [function double() {}] }, /^a function \(double\)/],
    ['a class instance', { a: [new Point(1)] }, /^an instance of Point/],
    ['a Map', { a: [new Map([['k', 1]])] }, /^a Map/],
    ['a Set', { a: [new Set([1])] }, /^a Set/],
    ['a symbol', { a: [Symbol('s')] }, /^a symbol/],
    ['a RegExp', { a: [/x/] }, /^an instance of RegExp/],
    // Not plain data (a job's output is JSON): refused where the hook returns it, not as an "internal error" at the end.
    ['a bigint', { a: [7n] }, /^a bigint \(return it as a string/],
    ['a bigint beyond 64 bits', { a: [2n ** 64n] }, /^a bigint/],
  ])('%s: CodecError naming the hook, the item index and the path /a/0', (_, value, what) => {
    const err = codecError(() => encode(value, where));
    expect(err.code).toBe('FJ_CODEC');
    expect(err).toBeInstanceOf(FjError);
    expect(err.exitCode).toBe(1);
    expect(err.where).toEqual(where);
    expect(err.path).toBe('/a/0');
    expect(err.what).toMatch(what);
    expect(err.message).toMatch(/^demo\.process on item 5: value at \/a\/0 cannot be serialized: /);
  });

  it('names the root as / when the value itself is refused', () => {
    const err = codecError(() => encode(new Map(), { hook: 'setup', index: 0 }));
    expect(err.path).toBe('');
    expect(err.message).toMatch(/^setup on item 0: value at \/ cannot be serialized: a Map/);
  });

  it('escapes / and ~ in keys of the path (JSON pointer)', () => {
    const err = codecError(() => assertPlain({ 'a/b': { '~c': [0, new Set()] } }, where));
    expect(err.path).toBe('/a~1b/~0c/1');
  });

  it('refuses a value hidden deep inside nested arrays and objects', () => {
    const err = codecError(() => encode({ rows: [{ cells: [1, 2, { f: Math.max }] }] }, { hook: 'join' }));
    expect(err.path).toBe('/rows/0/cells/2/f');
    expect(err.message).toMatch(/^join: value at \/rows\/0\/cells\/2\/f/);
  });

  it('refuses a cyclic object with a CodecError, not a stack overflow', () => {
    const node: { name: string; next?: unknown } = { name: 'a' };
    node.next = { name: 'b', back: node };
    const err = codecError(() => encode(node, where));
    expect(err.what).toMatch(/cycle/);
    expect(err.path.startsWith('/next/back/next/back')).toBe(true);
  });

  it('refuses a cyclic array with a CodecError', () => {
    const list: unknown[] = [1];
    list.push(list);
    const err = codecError(() => encode(list, where));
    expect(err.what).toMatch(/cycle/);
  });

  it('accepts sharing without a cycle (the same object twice) and sends two copies', () => {
    const shared = { v: 1 };
    const back = roundTrip({ a: shared, b: shared }, where);
    expect(back).toEqual({ a: { v: 1 }, b: { v: 1 } });
    expect(back.a).not.toBe(back.b);
  });
});

describe('clonesExactly: batches a worker thread gets by structured clone instead of msgpack', () => {
  /** Element by element with Object.is: what a thread would see either way. */
  const same = (a: unknown[], b: unknown[]) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

  it('accepts well-formed strings, finite numbers, booleans and null, which arrive the same either way', () => {
    const values = ['héllo wörld 🌍', '', 'a,b', 0, 42, -1.5, 2 ** 60, Number.MAX_VALUE, true, false, null];
    expect(clonesExactly(values)).toBe(true);
    expect(same(structuredClone(values), roundTrip(values, where))).toBe(true);
  });

  it.each([
    ['a lone surrogate', ['ok', 'a\ud800b']],
    ['-0', [1, -0]],
  ])(
    'refuses %s, which msgpack changes (so the thread must get the msgpack version, as eager does)',
    (_name, values) => {
      expect(clonesExactly(values)).toBe(false);
      expect(same(structuredClone(values), roundTrip(values, where))).toBe(false);
    },
  );

  it.each([
    ['an object', [{ a: 1 }]],
    ['an array', [[1, 2]]],
    ['undefined', [undefined]],
    ['NaN', [Number.NaN]],
    ['Infinity', [Number.POSITIVE_INFINITY]],
    ['a Date', [new Date(0)]],
  ])('leaves %s to msgpack', (_name, values) => {
    expect(clonesExactly(values)).toBe(false);
  });
});

describe("msgpackr's native string decoder", () => {
  // In a fresh process of the built codec: the module counts what it decoded, so this test's own process cannot tell.
  const script = `
    const { decode, encode, ACCELERATE_AFTER_BYTES } = await import(${JSON.stringify(join(import.meta.dirname, '..', '..', 'dist', 'src', 'core', 'codec.js'))});
    const msgpackr = await import('msgpackr/pack');
    const where = { hook: 'process', index: 0 };
    const small = encode(['a few words'], where);
    decode(small);
    const before = msgpackr.isNativeAccelerationEnabled;
    const doc = 'lorem ipsum dolor sit amet '.repeat(40);
    const big = encode(Array.from({ length: Math.ceil(ACCELERATE_AFTER_BYTES / doc.length) + 1 }, () => doc), where);
    const out = decode(big);
    for (let i = 0; i < 100 && !msgpackr.isNativeAccelerationEnabled; i++) await new Promise((r) => setTimeout(r, 20));
    const again = decode(big);
    console.log(JSON.stringify({ before, after: msgpackr.isNativeAccelerationEnabled, same: JSON.stringify(out) === JSON.stringify(again), length: again.length }));
  `;

  it('is not loaded for a small job, and is loaded once a process has decoded ACCELERATE_AFTER_BYTES', () => {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: join(import.meta.dirname, '..', '..'),
      encoding: 'utf8',
    });
    const r = JSON.parse(out) as { before: boolean; after: boolean; same: boolean; length: number };
    expect(r).toMatchObject({ before: false, after: true, same: true });
    expect(r.length).toBeGreaterThan(200);
  });
});
