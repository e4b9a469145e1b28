/**
 * A JavaScript task (never checked by tsc) whose hooks do not fit together
 * is refused when it loads, naming the task and what is wrong.
 */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/index.js';
import { describeTask } from '../../src/task/registry.js';
import type { TaskClass } from '../../src/task/fork-join-task.js';

/** A class built as plain JavaScript would: hooks as methods, no base class checks. */
function jsTask(name: string, hooks: string[]): TaskClass {
  const cls = { [name]: class {} }[name] as unknown as TaskClass;
  for (const hook of ['setup', 'join', ...hooks])
    Object.defineProperty(cls.prototype, hook, { value: () => undefined });
  Object.assign(cls, {
    description: '',
    schema: { type: 'object' },
    params: [],
    taskName: undefined,
    queue: undefined,
    module: undefined,
  });
  return cls;
}

describe('task hook shapes', () => {
  it('process, with or without combine, and seed + fold + combine load', () => {
    expect(describeTask(jsTask('Plain', ['process'])).folds).toBe(false);
    expect(describeTask(jsTask('Merging', ['process', 'combine'])).combines).toBe(true);
    const fold = describeTask(jsTask('Folding', ['seed', 'fold', 'combine']));
    expect([fold.folds, fold.combines]).toEqual([true, true]);
  });

  it('process mixed with fold or seed is refused, naming the task', () => {
    expect(() => describeTask(jsTask('Both', ['process', 'fold', 'seed', 'combine']))).toThrow(UsageError);
    expect(() => describeTask(jsTask('Both2', ['process', 'seed']))).toThrow(
      /task both2: it defines both process and fold\/seed/,
    );
  });

  it('a fold without seed or combine is refused, naming what is missing', () => {
    expect(() => describeTask(jsTask('NoSeed', ['fold', 'combine']))).toThrow(
      /task noseed: it folds but has no seed: a FoldTask needs seed, fold and combine/,
    );
    expect(() => describeTask(jsTask('NoCombine', ['seed', 'fold']))).toThrow(/has no combine/);
  });

  it('neither process nor fold: not a task class', () => {
    expect(() => describeTask(jsTask('Neither', ['seed', 'combine']))).toThrow(/not a task class/);
  });
});
