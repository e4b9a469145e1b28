/**
 * What runs an item, wherever it runs: in the eager executor's own thread, in
 * a local worker thread, or in an `fj worker` process. Loads the task once,
 * decodes its params once, builds services once, then processes items with
 * the codec round trip on both sides of `process`.
 */
import { pathToFileURL } from 'node:url';
import { isAbsolute, resolve } from 'node:path';
import { assertPlain } from '../core/codec.js';
import { TaskError, UsageError } from '../core/errors.js';
import type { AnyTask } from '../task/fork-join-task.js';
import type { TaskInfo } from '../task/registry.js';
import { importModule } from '../task/module-loader.js';
import type { Logger, ProcessContext, SeedContext, ServicesFactory } from '../task/types.js';

/** A task instance with whichever of its hooks it has (ForkJoinTask: process; FoldTask: seed and fold). */
interface TaskHooks extends AnyTask {
  process?(item: unknown, params: object, ctx: ProcessContext): unknown;
  seed?(params: object, ctx: SeedContext): unknown;
  fold?(acc: unknown, item: unknown, params: object, ctx: ProcessContext): unknown;
}

/** Loaded services plus the way to release them. */
export interface Services {
  readonly value: unknown;
  close(): Promise<void>;
}

/**
 * Builds services from a module whose default export is a
 * {@link ServicesFactory}. No module: `ctx.services` is `undefined`.
 */
export async function loadServices(spec: string | undefined, workerId: string): Promise<Services> {
  if (!spec) return { value: undefined, close: async () => {} };
  const url = spec.startsWith('file:') ? spec : pathToFileURL(isAbsolute(spec) ? spec : resolve(spec)).href;
  let factory: unknown;
  try {
    factory = (await importModule(url)).default;
  } catch (err) {
    throw new UsageError(`cannot load services module ${spec}: ${(err as Error).message}`, { cause: err });
  }
  if (typeof factory !== 'function')
    throw new UsageError(`services module ${spec} must export a function as default (it builds the services)`);
  const value = await (factory as ServicesFactory)({ workerId });
  return {
    value,
    close: async () => {
      const close = (value as { close?: () => unknown } | undefined)?.close;
      if (typeof close === 'function') await close.call(value);
    },
  };
}

/** Runs items of one task with one set of params. */
export class TaskRuntime {
  readonly task: TaskInfo;
  private readonly instance: TaskHooks;

  constructor(
    task: TaskInfo,
    readonly params: object,
    readonly services: unknown,
    readonly log: Logger,
  ) {
    this.task = task;
    this.instance = new task.cls() as TaskHooks;
  }

  /**
   * Processes one decoded item; returns the result, checked for the wire
   * unless the task combines (then `combine` consumes it, and its output is
   * what gets checked). Throws {@link TaskError} (hook failure, original error as `cause`) or
   * CodecError (unserializable result).
   */
  processItem(item: unknown, index: number, signal: AbortSignal): unknown | Promise<unknown> {
    const ctx: ProcessContext = { index, signal, log: this.log, services: this.services };
    let out: unknown;
    try {
      out = this.instance.process!(item, this.params, ctx);
    } catch (err) {
      throw new TaskError({ task: this.task.name, hook: 'process', index }, err);
    }
    if (this.combines) {
      if (!(out instanceof Promise)) return out;
      return out.catch((err) => {
        throw new TaskError({ task: this.task.name, hook: 'process', index }, err);
      });
    }
    if (out instanceof Promise) {
      return out.then(
        (value) => this.checked(value, index),
        (err) => {
          throw new TaskError({ task: this.task.name, hook: 'process', index }, err);
        },
      );
    }
    return this.checked(out, index);
  }

  /** Whether the task folds its items (a `FoldTask`): see fold-batch.ts. */
  get folds(): boolean {
    return this.task.folds;
  }

  /** A fresh accumulator for the batch whose first item is `index` (`seed`). Throws {@link TaskError} of hook `seed`. */
  seed(index: number, signal: AbortSignal): unknown {
    try {
      return this.instance.seed!(this.params, { index, signal, log: this.log, services: this.services });
    } catch (err) {
      throw new TaskError({ task: this.task.name, hook: 'seed', index }, err);
    }
  }

  /** Folds item `index` into `acc` (`fold`); returns the accumulator, unchecked. Throws {@link TaskError} of hook `fold`. */
  foldItem(acc: unknown, item: unknown, index: number, signal: AbortSignal): unknown | Promise<unknown> {
    const ctx: ProcessContext = { index, signal, log: this.log, services: this.services };
    let out: unknown;
    try {
      out = this.instance.fold!(acc, item, this.params, ctx);
    } catch (err) {
      throw new TaskError({ task: this.task.name, hook: 'fold', index }, err);
    }
    if (!(out instanceof Promise)) return out;
    return out.catch((err) => {
      throw new TaskError({ task: this.task.name, hook: 'fold', index }, err);
    });
  }

  /** Checks a batch's accumulator for the wire (CodecError of hook `fold`, naming the batch's first item). */
  checkedAcc(value: unknown, index: number): unknown {
    assertPlain(value, { task: this.task.name, hook: 'fold', index });
    return value;
  }

  /** Whether the task defines `combine` (as a method: the same test as TaskInfo.combines). */
  get combines(): boolean {
    return this.task.combines;
  }

  /**
   * Merges two or more partial results with the task's `combine` (the
   * partials of a batch whose first item is `index`); returns the merged
   * partial, checked for the wire. Throws {@link TaskError} (hook
   * `combine`) or CodecError.
   */
  combine(partials: unknown[], index: number, signal: AbortSignal): unknown | Promise<unknown> {
    const where = { task: this.task.name, hook: 'combine' as const, index };
    const ctx = { index, signal, log: this.log, services: this.services };
    let out: unknown;
    try {
      out = this.instance.combine!(partials, this.params, ctx);
    } catch (err) {
      throw new TaskError(where, err);
    }
    const check = (value: unknown) => (assertPlain(value, where), value);
    if (out instanceof Promise) {
      return out.then(check, (err) => {
        throw new TaskError(where, err);
      });
    }
    return check(out);
  }

  /** Checks one item's result for the wire (CodecError naming the item). */
  checked(value: unknown, index: number): unknown {
    assertPlain(value, { task: this.task.name, hook: 'process', index });
    return value;
  }
}
