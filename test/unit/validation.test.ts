/**
 * Input validation: every violation listed with its JSON path, defaults
 * applied to a copy (never to the caller's object), and nothing run at all
 * when the input is invalid.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readJsonInput } from '../../src/cli/input.js';
import { ForkJoinTask, InputError, run, runJob, validate } from '../../src/index.js';
import { MAX_PROBLEMS } from '../../src/task/validator.js';
import WordCount from '../../tasks/wordcount.js';
import Recorder from '../fixtures/recorder.js';

/** The InputError `promise` rejects with (fails the test otherwise). */
async function inputError(promise: Promise<unknown>): Promise<InputError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error('expected an InputError, the input was accepted');
}

describe('wordcount input', () => {
  it('lists every violation with its JSON path', async () => {
    const err = await inputError(validate(WordCount, { documents: ['ok', 7, 'fine', null, ['nested']] }));
    expect(err.problems).toEqual([
      '/documents/1: must be string',
      '/documents/3: must be string',
      '/documents/4: must be string',
    ]);
    expect(err.message).toBe(
      'input does not match the schema (3 problems):\n  /documents/1: must be string\n  /documents/3: must be string\n  /documents/4: must be string',
    );
    expect(err.code).toBe('FJ_INPUT');
    expect(err.exitCode).toBe(2);
  });

  it('names a missing documents', async () => {
    const err = await inputError(validate(WordCount, { delimiter: ',' }));
    expect(err.problems).toEqual(['/documents: is required']);
    expect(err.message).toMatch(/^input does not match the schema \(1 problem\):/);
  });

  it('names an unknown property', async () => {
    const err = await inputError(validate(WordCount, { documents: [], delimitr: ',' }));
    expect(err.problems).toEqual(['/delimitr: is not allowed here (unknown property)']);
  });

  it('reports problems of different kinds together, and names the source', async () => {
    const err = await inputError(validate(WordCount, { documents: 'one doc', delimiter: '', extra: 1 }, 'in.json'));
    expect(err.problems).toHaveLength(3);
    expect(err.problems).toEqual(
      expect.arrayContaining([
        '/documents: must be array',
        '/delimiter: must NOT have fewer than 1 characters',
        '/extra: is not allowed here (unknown property)',
      ]),
    );
    expect(err.message).toMatch(/^in\.json does not match the schema \(3 problems\):/);
  });

  it('refuses input that is not an object', async () => {
    for (const input of [null, [], 'documents', 3]) {
      const err = await inputError(validate(WordCount, input));
      expect(err.problems).toEqual(['/: must be object']);
    }
  });

  it(`lists at most ${MAX_PROBLEMS} problems, then how many more, and counts them all`, async () => {
    const documents = Array.from({ length: 35 }, (_, i) => i);
    const err = await inputError(validate(WordCount, { documents }));
    expect(err.problems).toHaveLength(MAX_PROBLEMS + 1);
    expect(err.problems.slice(0, MAX_PROBLEMS)).toEqual(
      Array.from({ length: MAX_PROBLEMS }, (_, i) => `/documents/${i}: must be string`),
    );
    expect(err.problems.at(-1)).toBe(`... and ${35 - MAX_PROBLEMS} more`);
    expect(err.message).toMatch(/^input does not match the schema \(35 problems\):/);
  });

  it('reports 100,000 bad documents quickly', async () => {
    const started = Date.now();
    const err = await inputError(validate(WordCount, { documents: Array.from({ length: 100_000 }, (_, i) => i) }));
    expect(err.message).toMatch(/\(100000 problems\)/);
    expect(err.problems.at(-1)).toBe(`... and ${100_000 - MAX_PROBLEMS} more`);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('refuses input that is not plain data with an InputError', async () => {
    const err = await inputError(validate(WordCount, { documents: [() => 'a function'] }));
    expect(err.message).toMatch(/^input is not plain data/);
  });

  it('applies the default delimiter " " to a copy and leaves the caller\'s object alone', async () => {
    const input = { documents: ['a b'] };
    const frozen = JSON.stringify(input);
    const valid = await validate(WordCount, input);
    expect(valid).toEqual({ documents: ['a b'], delimiter: ' ' });
    expect(valid).not.toBe(input);
    expect(JSON.stringify(input)).toBe(frozen);
  });

  it('keeps a delimiter that is given', async () => {
    expect(await validate(WordCount, { documents: [], delimiter: ';' })).toEqual({ documents: [], delimiter: ';' });
  });

  it('validates by task name too (the built-in wordcount)', async () => {
    const err = await inputError(validate('wordcount', { documents: [1] }));
    expect(err.problems).toEqual(['/documents/0: must be string']);
  });

  it('run() counts with the default delimiter and does not modify the input', async () => {
    const input = { documents: ['a b a', 'b'] };
    const frozen = JSON.stringify(input);
    const out = await run(WordCount, input, { executor: 'eager' });
    expect(out).toEqual({ word_count: { a: 2, b: 2 } });
    expect(JSON.stringify(input)).toBe(frozen);
  });
});

describe('a schema given as an object', () => {
  class Point extends ForkJoinTask<{ x: number; y: number; label: string }, number, number, number> {
    static override schema = {
      type: 'object',
      properties: {
        x: { type: 'number' },
        y: { type: 'number', default: 0 },
        label: { type: 'string', enum: ['a', 'b'], default: 'a' },
      },
      required: ['x'],
      additionalProperties: false,
    };
    setup(input: { x: number; y: number }): number[] {
      return [input.x, input.y];
    }
    process(n: number): number {
      return n;
    }
    join(ns: number[]): number {
      return ns.reduce((a, b) => a + b, 0);
    }
  }

  it('applies defaults and lists enum violations with the allowed values', async () => {
    expect(await validate(Point, { x: 1 })).toEqual({ x: 1, y: 0, label: 'a' });
    const err = await inputError(validate(Point, { x: 'one', label: 'c' }));
    expect(err.problems).toEqual([
      '/x: must be number',
      '/label: must be equal to one of the allowed values: ["a","b"]',
    ]);
  });
});

describe('nothing runs for invalid input', () => {
  let dir: string;
  const log = () => join(dir, 'calls.log');
  const calls = () => (existsSync(log()) ? readFileSync(log(), 'utf8').trim().split('\n') : []);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fj-validation-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(['eager', 'local'] as const)('%s: a valid input runs every hook (the recorder works)', async (executor) => {
    const out = await run(Recorder, { recordDir: dir, values: [1, 2, 3] }, { executor, concurrency: 1 });
    expect(out).toBe(6);
    expect(calls().sort()).toEqual(['join', 'params', 'process 1', 'process 2', 'process 3', 'setup']);
  });

  it.each(['eager', 'local'] as const)(
    '%s: an invalid input rejects with InputError and no hook runs',
    async (executor) => {
      const err = await inputError(
        runJob(Recorder, { recordDir: dir, values: [1, 'two', 3.5] }, { executor, concurrency: 1 }),
      );
      expect(err.problems).toEqual(['/values/1: must be integer', '/values/2: must be integer']);
      expect(existsSync(log())).toBe(false);
    },
  );
});

describe('reading an input file (fj run reads it while the task loads)', () => {
  it('once its signal aborts, the reading stops and nothing is parsed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fj-read-'));
    try {
      const bad = join(dir, 'bad.json');
      writeFileSync(bad, '{"documents": [');
      await expect(readJsonInput(bad)).rejects.toThrow(/invalid JSON/); // parsed: the error says so
      const reason = new Error('the task is unknown');
      await expect(readJsonInput(bad, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
      const later = new AbortController();
      const reading = readJsonInput(bad, { signal: later.signal });
      later.abort(reason); // while the file is still being read
      await expect(reading).rejects.toBe(reason);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
