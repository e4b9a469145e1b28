/**
 * Errors cross threads and hosts as plain data (worker/wire-error.ts): every
 * documented code must come back as its own class, with its fields, so
 * callers can tell errors apart by class and never by message.
 */
import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  CodecError,
  FailuresError,
  type FjError,
  InputError,
  InternalError,
  TimeoutError,
  JobEndedError,
  isRetryable,
  NotFoundError,
  PipelineError,
  TaskError,
  TransportError,
  UnrecoverableError,
  UsageError,
  WorkerRefusedError,
} from '../../src/core/errors.js';
import { fromWire, toWire } from '../../src/core/wire-error.js';

/** One of each documented class, with the fields it carries. */
const samples: FjError[] = [
  new UsageError('bad flag'),
  new InputError('input.json is invalid', ['/a: must be string', '/b: must be integer']),
  new CodecError({ task: 't', hook: 'process', index: 3 }, '/x', 'a Map'),
  new TaskError({ task: 't', hook: 'process', index: 7 }, new RangeError('boom')),
  new TransportError('broker gone'),
  new NotFoundError('ref j/abc not found'),
  new FailuresError('2 of 10 items failed', [{ index: 1, attempts: 2, error: { name: 'Error', message: 'x' } }]),
  new CancelledError('job cancelled by fj cancel'),
  new WorkerRefusedError('other code'),
  new UnrecoverableError('bad data'),
  new InternalError('items left without a result'),
  new TimeoutError('gave up waiting for job j after 5 s'),
  new JobEndedError('job j had already ended: succeeded'),
];

describe('error classes across the wire', () => {
  it('covers every code documented in errors.ts', () => {
    expect(new Set(samples.map((e) => e.code))).toEqual(
      new Set([
        'FJ_USAGE',
        'FJ_INPUT',
        'FJ_CODEC',
        'FJ_TASK',
        'FJ_TRANSPORT',
        'FJ_NOT_FOUND',
        'FJ_FAILURES',
        'FJ_CANCELLED',
        'FJ_WORKER_REFUSED',
        'FJ_UNRECOVERABLE',
        'FJ_INTERNAL',
        'FJ_TIMEOUT',
        'FJ_ENDED',
      ]),
    );
  });

  for (const err of samples) {
    it(`${err.code} comes back as ${err.constructor.name}, same message, code and exit code`, () => {
      const back = fromWire(structuredClone(toWire(err)));
      expect(back).toBeInstanceOf(err.constructor);
      expect(back).toMatchObject({ message: err.message, code: err.code, exitCode: err.exitCode, name: err.name });
      expect(isRetryable(back)).toBe(isRetryable(err));
    });
  }

  it('keeps the fields of the classes that carry more', () => {
    const [, input, codec, task, , , failures] = samples.map((e) => fromWire(toWire(e)));
    expect((input as InputError).problems).toEqual(['/a: must be string', '/b: must be integer']);
    expect(codec).toMatchObject({ where: { task: 't', hook: 'process', index: 3 }, path: '/x', what: 'a Map' });
    expect(task).toMatchObject({ hook: 'process', index: 7 });
    expect((task as TaskError).cause).toMatchObject({ name: 'RangeError', message: 'boom' });
    expect((failures as FailuresError).failures).toEqual([
      { index: 1, attempts: 2, error: { name: 'Error', message: 'x' } },
    ]);
  });

  it('NotFoundError is a TransportError; an UnrecoverableError from a hook is not retried, even rebuilt in another thread', () => {
    expect(new NotFoundError('x')).toBeInstanceOf(TransportError);
    const fromHook = new TaskError({ hook: 'process', index: 0 }, new UnrecoverableError('no'));
    expect(isRetryable(fromHook)).toBe(false);
    expect(isRetryable(fromWire(toWire(fromHook)))).toBe(false);
    expect(isRetryable(new TaskError({ hook: 'process', index: 0 }, new Error('flaky')))).toBe(true);
  });

  it('a PipelineError comes back with its stage, its cause (the stage’s error, with its class) and the on-error stage’s failure', () => {
    const stageError = new TaskError({ task: 'scale', hook: 'process', index: 4 }, new RangeError('boom'));
    const err = new PipelineError(
      'pipeline p: stage 2 (scale) failed: boom',
      1,
      { pipeline: 'p', stage: { number: 2, name: 'scale', task: 'scale' }, onErrorFailure: new UsageError('no') },
      { cause: stageError },
    );
    const back = fromWire(structuredClone(toWire(err)));
    expect(back).toBeInstanceOf(PipelineError);
    expect(back).toMatchObject({ message: err.message, code: 'FJ_PIPELINE', exitCode: 1, pipeline: 'p' });
    expect((back as PipelineError).stage).toEqual({ number: 2, name: 'scale', task: 'scale' });
    expect(back.cause).toBeInstanceOf(TaskError);
    expect(back.cause).toMatchObject({ hook: 'process', index: 4, message: stageError.message });
    expect((back as PipelineError).onErrorFailure).toBeInstanceOf(UsageError);
    // Data that nests pipelines in pipelines is rebuilt one level deep, no further.
    const wire = toWire(err);
    const nested = { ...wire, stageError: { ...wire, stageError: wire } };
    const deep = fromWire(nested);
    expect(deep.cause).toBeInstanceOf(PipelineError);
    expect(deep.cause?.constructor === PipelineError && (deep.cause as PipelineError).cause).toBeUndefined();
  });

  it('an error that is not fj’s comes back as InternalError with the original as its cause', () => {
    const back = fromWire(toWire(new SyntaxError('odd')));
    expect(back).toBeInstanceOf(InternalError);
    expect(back.cause).toMatchObject({ name: 'SyntaxError', message: 'odd' });
  });
});
