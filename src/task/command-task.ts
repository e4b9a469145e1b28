/**
 * `CommandTask`: a task whose `process` runs a program per item — a Python
 * script, an aligner, any command-line tool — and parses what it prints
 * (./command.ts runs it).
 */
import { UnrecoverableError } from '../core/errors.js';
import { runCommand, type Command } from './command.js';
import { ForkJoinTask } from './fork-join-task.js';
import type { MaybePromise, ProcessContext } from './types.js';

/**
 * The base class of a task that runs a program for each item (see the
 * README's "Stages that run programs"). Write `setup` and `join` as for any
 * {@link ForkJoinTask}; instead of `process`, write `command` (what to run
 * for an item) and, unless the program prints one JSON value, `parse`:
 *
 * ```ts
 * export default class Align extends CommandTask<Input, Pair, Score, Output> {
 *   static module = import.meta.url;
 *   setup(input: Input) { return input.pairs; }
 *   command(pair: Pair): Command {
 *     return { argv: ['python3', 'align.py', pair.query, pair.target], timeoutMs: 60_000 };
 *   }
 *   join(scores: Score[]) { return { scores }; }
 * }
 * ```
 *
 * Per item, fj runs the program with no shell (see {@link Command}), kills
 * it and its process group when the item's `ctx.signal` aborts (the item
 * timeout, a cancel) or its own `timeoutMs` passes, and fails the item when
 * it exits with a non-zero code or dies of a signal (the message quotes the
 * end of its stderr; the item is retried as `retries` allows), cannot be
 * started, or prints more than `maxStdoutBytes` (neither is retried).
 *
 * @typeParam Input - the validated input (schema defaults applied).
 * @typeParam Item - one unit of work, yielded by `setup`, given to `command`.
 * @typeParam Partial - what `parse` returns for one item's output.
 * @typeParam Output - what `join` returns: the job's output.
 * @typeParam Params - the metadata bound into `command`, `parse` and `join`.
 * @typeParam Services - what the services module builds (`ctx.services`).
 */
export abstract class CommandTask<
  Input = unknown,
  Item = unknown,
  Partial = unknown,
  Output = unknown,
  Params extends object = Record<string, never>,
  Services = unknown,
> extends ForkJoinTask<Input, Item, Partial, Output, Params, Services> {
  /** What to run for `item`: its argv (no shell), and optionally its stdin, cwd, env, timeout and stdout limit. */
  abstract command(item: Item, params: Params, ctx: ProcessContext<Services>): MaybePromise<Command>;

  /**
   * Turns what the program printed on stdout into the item's partial
   * result. The default reads one JSON value (surrounding whitespace
   * allowed) and fails the item, quoting the item and the start of stdout,
   * when stdout is not JSON. Override it for another format (a TSV line, a
   * path to a result file).
   */
  parse(stdout: string, item: Item, _params: Params): MaybePromise<Partial> {
    try {
      return JSON.parse(stdout) as Partial;
    } catch (err) {
      const what = stdout.trim() ? `${(err as Error).message}; it begins ${quote(stdout, 200)}` : 'stdout was empty';
      throw new UnrecoverableError(
        `the program's stdout for item ${quote(JSON.stringify(item) ?? String(item), 120)} is not JSON (${what}): ` +
          'print one JSON value on stdout and logs on stderr, or override parse()',
      );
    }
  }

  /** Runs the item's command and parses its stdout. A `CommandTask` writes `command` and `parse` instead. */
  async process(item: Item, params: Params, ctx: ProcessContext<Services>): Promise<Partial> {
    const command = await this.command(item, params, ctx);
    const { stdout } = await runCommand(command, { signal: ctx.signal });
    return this.parse(stdout, item, params);
  }
}

function quote(text: string, max: number): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}
