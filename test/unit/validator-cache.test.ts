/**
 * The disk cache of compiled validators (src/task/validator.ts): a cached
 * validator behaves exactly like a freshly compiled one — defaults, problem
 * lists, the 100,000-problem stop, the linear recursive-$ref merge — and the
 * cache is used only from a private directory, never trusted when broken.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError, UsageError } from '../../src/index.js';
import { compiler as realCompiler } from '../../src/task/schema.js';
import { loadValidator, MAX_COUNTED_PROBLEMS, type Compiler, type InputValidator } from '../../src/task/validator.js';

const schema = {
  type: 'object',
  properties: {
    names: { type: 'array', items: { type: 'string' } },
    sep: { type: 'string', minLength: 1, default: ',' },
  },
  required: ['names'],
  additionalProperties: false,
};

/** A recursive schema: ajv compiles `node` as its own function and merges its errors. */
const tree = {
  $ref: '#/definitions/node',
  definitions: {
    node: {
      type: 'object',
      properties: { v: { type: 'string' }, kids: { type: 'array', items: { $ref: '#/definitions/node' } } },
      additionalProperties: false,
    },
  },
};

let dir: string;
let saved: string | undefined;
let compiles: number;
const counting = async (): Promise<Compiler> => ({
  compile: (s, o) => (compiles++, realCompiler.compile(s, o)),
  standalone: (s, o) => realCompiler.standalone(s, o),
});
const refuse = async (): Promise<Compiler> => {
  throw new Error('compiled although the cache holds the validator');
};

function problems(v: InputValidator, input: unknown): InputError {
  try {
    v(input);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error('the input was accepted');
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fj-cache-'));
  saved = process.env.FJ_CACHE_DIR;
  process.env.FJ_CACHE_DIR = join(dir, 'cache');
  compiles = 0;
});
afterEach(() => {
  if (saved === undefined) delete process.env.FJ_CACHE_DIR;
  else process.env.FJ_CACHE_DIR = saved;
  rmSync(dir, { recursive: true, force: true });
});

describe('validator cache', () => {
  it('compiles once, then loads the same validator from disk without ajv', async () => {
    const fresh = await loadValidator(schema, 's.json', counting);
    expect(compiles).toBe(1);
    const files = readdirSync(join(dir, 'cache'));
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^[0-9a-f]{64}\.cjs$/);
    const cached = await loadValidator(schema, 's.json', refuse);

    const a = { names: ['x'] };
    const b = { names: ['x'] };
    fresh(a);
    cached(b);
    expect(b).toEqual({ names: ['x'], sep: ',' }); // defaults applied in place
    expect(b).toEqual(a);
    const bad = { names: [1, 'ok', null], sep: '', extra: true };
    expect(problems(cached, structuredClone(bad)).message).toBe(problems(fresh, structuredClone(bad)).message);
    expect(problems(cached, structuredClone(bad)).problems).toEqual([
      '/extra: is not allowed here (unknown property)',
      '/names/0: must be string',
      '/names/2: must be string',
      '/sep: must NOT have fewer than 1 characters',
    ]);
  });

  it('a cached validator still stops counting at 100,000 problems', async () => {
    await loadValidator(schema, 's.json', counting);
    const cached = await loadValidator(schema, 's.json', refuse);
    const err = problems(cached, { names: Array.from({ length: MAX_COUNTED_PROBLEMS + 50_000 }, (_, i) => i) });
    expect(err.message).toMatch(/over 100000 problems, stopped counting/);
  });

  it('a cached recursive schema merges errors in linear time (50,000 bad nodes)', async () => {
    await loadValidator(tree, 'tree.json', counting);
    const code = readFileSync(join(dir, 'cache', readdirSync(join(dir, 'cache'))[0]), 'utf8');
    expect(code).not.toMatch(/vErrors\.concat\(/);
    const cached = await loadValidator(tree, 'tree.json', refuse);
    const started = Date.now();
    const err = problems(cached, { kids: Array.from({ length: 50_000 }, () => ({ v: 1 })) });
    expect(err.message).toMatch(/\(50000 problems\)/);
    expect(Date.now() - started).toBeLessThan(5000); // quadratic took ~50 s
  });

  it('another schema gets its own entry', async () => {
    await loadValidator(schema, 's.json', counting);
    await loadValidator({ ...schema, required: [] }, 's2.json', counting);
    expect(compiles).toBe(2);
    expect(readdirSync(join(dir, 'cache'))).toHaveLength(2);
  });

  it('is not used from a directory others can write to, and writes nothing there', async () => {
    const open = join(dir, 'cache');
    await loadValidator(schema, 's.json', counting);
    chmodSync(open, 0o777);
    await loadValidator(schema, 's.json', counting);
    expect(compiles).toBe(2);
    rmSync(open, { recursive: true });
    mkdirSync(open, { mode: 0o777 });
    chmodSync(open, 0o777);
    await loadValidator(schema, 's.json', counting);
    expect(readdirSync(open)).toEqual([]);
  });

  it('is not used below a directory others can write to', async () => {
    const shared = join(dir, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o775); // group-writable, not sticky: a group member could swap what is below
    process.env.FJ_CACHE_DIR = join(shared, 'cache');
    await loadValidator(schema, 's.json', counting);
    await loadValidator(schema, 's.json', counting);
    expect(compiles).toBe(2);
    expect(readdirSync(join(shared, 'cache'))).toEqual([]);
  });

  it('does not follow a symlinked entry', async () => {
    await loadValidator(schema, 's.json', counting);
    const cache = join(dir, 'cache');
    const name = readdirSync(cache)[0];
    renameSync(join(cache, name), join(dir, 'elsewhere.cjs'));
    symlinkSync(join(dir, 'elsewhere.cjs'), join(cache, name));
    await loadValidator(schema, 's.json', counting);
    expect(compiles).toBe(2);
  });

  it('ignores a relative FJ_CACHE_DIR (it would depend on the working directory)', async () => {
    process.env.FJ_CACHE_DIR = 'relative/cache';
    await loadValidator(schema, 's.json', counting);
    await loadValidator(schema, 's.json', counting);
    expect(compiles).toBe(2);
  });

  it('ignores a broken entry: compiles again and replaces it', async () => {
    await loadValidator(schema, 's.json', counting);
    const file = join(dir, 'cache', readdirSync(join(dir, 'cache'))[0]);
    writeFileSync(file, 'this is not javascript {');
    const v = await loadValidator(schema, 's.json', counting);
    expect(compiles).toBe(2);
    expect(problems(v, { names: [1] }).problems).toEqual(['/names/0: must be string']);
    expect(readFileSync(file, 'utf8')).toMatch(/^"use strict";module\.exports/);
  });

  it('FJ_CACHE_DIR=off: nothing is written, not even to the default location', async () => {
    // Where the cache would go without the setting: XDG_CACHE_HOME, else HOME/.cache.
    const home = { HOME: process.env.HOME, XDG_CACHE_HOME: process.env.XDG_CACHE_HOME };
    process.env.HOME = join(dir, 'home');
    process.env.XDG_CACHE_HOME = join(dir, 'xdg');
    try {
      process.env.FJ_CACHE_DIR = 'off';
      await loadValidator(schema, 's.json', counting);
      await loadValidator(schema, 's.json', counting);
      expect(compiles).toBe(2);
      expect(readdirSync(dir)).toEqual([]); // no cache, no home cache, no XDG cache
    } finally {
      for (const [k, v] of Object.entries(home))
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
  });

  it('a cached file writable by others, inside a private directory, is not used (and is replaced)', async () => {
    await loadValidator(schema, 's.json', counting);
    const [name] = readdirSync(join(dir, 'cache'));
    const file = join(dir, 'cache', name);
    chmodSync(file, 0o666);
    await loadValidator(schema, 's.json', counting);
    expect(compiles).toBe(2);
  });

  // Root can read and write any directory: only the owner check keeps another user's code out.
  it.runIf(process.getuid?.() === 0)(
    'a cache directory owned by another user (nobody) is not used, and nothing is written there',
    async () => {
      await loadValidator(schema, 's.json', counting);
      const [name] = readdirSync(join(dir, 'cache'));
      const NOBODY = 65534;
      // Their directory holds an entry under the right name whose validator accepts anything.
      const theirs = join(dir, 'theirs');
      mkdirSync(theirs, { mode: 0o755 });
      const planted = '"use strict";module.exports=function validate(){return true};';
      writeFileSync(join(theirs, name), planted, { mode: 0o644 });
      chownSync(theirs, NOBODY, NOBODY);
      chownSync(join(theirs, name), NOBODY, NOBODY);
      process.env.FJ_CACHE_DIR = theirs;
      compiles = 0;
      const v = await loadValidator(schema, 's.json', counting);
      expect(compiles).toBe(1);
      expect(problems(v, { names: [1] }).problems).toEqual(['/names/0: must be string']);
      expect(readdirSync(theirs)).toEqual([name]);
      expect(readFileSync(join(theirs, name), 'utf8')).toBe(planted);

      // An empty one of theirs stays empty.
      const empty = join(dir, 'theirs-empty');
      mkdirSync(empty, { mode: 0o700 });
      chownSync(empty, NOBODY, NOBODY);
      process.env.FJ_CACHE_DIR = empty;
      await loadValidator(schema, 's.json', counting);
      await loadValidator(schema, 's.json', counting);
      expect(compiles).toBe(3);
      expect(readdirSync(empty)).toEqual([]);
    },
  );

  it('a cached validator of a schema with patterns loads without the ReDoS checker (its key holds the rules it passed)', () => {
    const withPattern = { type: 'object', properties: { id: { type: 'string', pattern: '^[a-z]+(-[a-z]+)*$' } } };
    // Fresh processes on dist/, as fj runs (this one may have loaded recheck, and vitest's transform changes the codegen fingerprint).
    // Each prints how many of recheck's modules it loaded (its package.json, read for the cache key, is not one): the first compiles (and checks the pattern), the second must not.
    const run = (compiler: string) =>
      execFileSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          [
            "const { loadValidator } = await import('./dist/src/task/validator.js');",
            `const v = await loadValidator(${JSON.stringify(withPattern)}, 'p.json', ${compiler});`,
            "v({ id: 'a-b' });",
            "const { createRequire } = await import('node:module');",
            "console.log(Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('/recheck/') && k.endsWith('.js')).length);",
          ].join('\n'),
        ],
        { encoding: 'utf8', env: { ...process.env, FJ_CACHE_DIR: join(dir, 'cache') } },
      ).trim();
    expect(Number(run("async () => (await import('./dist/src/task/schema.js')).compiler"))).toBeGreaterThan(0);
    expect(run("async () => { throw new Error('compiled although the cache holds the validator'); }")).toBe('0');
  });

  it('a broken schema is a UsageError naming its file, and is not cached', async () => {
    await expect(loadValidator({ type: 'strin' }, 'bad.schema.json', counting)).rejects.toThrow(UsageError);
    await expect(loadValidator({ type: 'strin' }, 'bad.schema.json', counting)).rejects.toThrow(
      /invalid JSON schema bad\.schema\.json/,
    );
    expect(() => readdirSync(join(dir, 'cache'))).toThrow(); // never created
  });
});
