/**
 * Type tests for the public generics, compiled (never run) by
 * `tsc -p test/types/tsconfig.json` (`npm run typecheck`).
 *
 * Every `@ts-expect-error` below marks a line that must NOT compile; if the
 * types ever let it through, tsc fails with "Unused '@ts-expect-error'".
 */
import {
  ForkJoinTask,
  run,
  type InputOf,
  type JoinContext,
  type OutputOf,
  type ProcessContext,
  type SetupContext,
} from '../../src/index.js';
import WordCount, { type WordCountInput, type WordCountOutput } from '../../tasks/wordcount.js';

/** True when A and B are the same type (not merely assignable). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Compiles only when its type argument is `true`. */
function expectTrue<T extends true>(): T | void {}

// The helper itself: a wrong equality does not compile.
// @ts-expect-error number is not string
expectTrue<Equal<number, string>>();
// @ts-expect-error assignable is not enough: string is not string | number
expectTrue<Equal<string, string | number>>();

// ---------------------------------------------------------------------------
// Correct tasks compile.

interface LinesInput {
  lines: string[];
}

/** Plain hooks: string items, number partials, number[] output. */
export class LineLengths extends ForkJoinTask<LinesInput, string, number, number[]> {
  setup(input: LinesInput): string[] {
    return input.lines;
  }
  process(line: string, _params: Record<string, never>, ctx: ProcessContext): number {
    return line.length + 0 * ctx.index;
  }
  join(lengths: number[]): number[] {
    return lengths;
  }
}

interface RangeParams {
  separator: string;
}

/** Async generator setup, async hooks, params bound into process and join, services typed. */
export class Range extends ForkJoinTask<
  { n: number; separator: string },
  number,
  string,
  string,
  RangeParams,
  { prefix: string }
> {
  static override params = ['separator'] as const;

  async *setup(input: { n: number; separator: string }, ctx: SetupContext): AsyncGenerator<number> {
    for (let i = 0; i < input.n && !ctx.signal.aborted; i++) yield i;
  }
  async process(item: number, params: RangeParams, ctx: ProcessContext<{ prefix: string }>): Promise<string> {
    return `${ctx.services.prefix}${item}${params.separator}`;
  }
  async join(parts: string[], { separator }: RangeParams, ctx: JoinContext<{ prefix: string }>): Promise<string> {
    ctx.log.debug(`joining with ${separator}`);
    return parts.join('');
  }
}

/** A sync generator setup and a derived params() override. */
export class Squares extends ForkJoinTask<{ max: number }, number, number, number, { max: number }> {
  *setup({ max }: { max: number }): Generator<number> {
    for (let i = 0; i <= max; i++) yield i;
  }
  override params(input: { max: number }): { max: number } {
    return { max: input.max };
  }
  process(n: number): number {
    return n * n;
  }
  join(squares: number[]): number {
    return squares.reduce((a, b) => a + b, 0);
  }
}

// ---------------------------------------------------------------------------
// The Item generic ties setup to process.

/** setup yields numbers, but the task declares string items. */
export class SetupYieldsWrongItems extends ForkJoinTask<LinesInput, string, number, number> {
  // @ts-expect-error setup must yield the Item type (string), not numbers
  setup(input: LinesInput): number[] {
    return input.lines.map((l) => l.length);
  }
  process(line: string): number {
    return line.length;
  }
  join(lengths: number[]): number {
    return lengths.length;
  }
}

/** setup yields strings (the Item), but process takes numbers. */
export class ProcessTakesWrongItems extends ForkJoinTask<LinesInput, string, number, number> {
  setup(input: LinesInput): string[] {
    return input.lines;
  }
  // @ts-expect-error process must take the Item type (string), not number
  process(n: number): number {
    return n;
  }
  join(lengths: number[]): number {
    return lengths.length;
  }
}

/** A generator setup yielding the wrong item type. */
export class GeneratorYieldsWrongItems extends ForkJoinTask<{ n: number }, string, number, number> {
  // @ts-expect-error setup's generator must yield strings
  *setup({ n }: { n: number }): Generator<number> {
    yield n;
  }
  process(s: string): number {
    return s.length;
  }
  join(ns: number[]): number {
    return ns.length;
  }
}

// ---------------------------------------------------------------------------
// The Partial generic ties process to join.

/** process returns numbers, but join takes strings. */
export class JoinTakesWrongResults extends ForkJoinTask<LinesInput, string, number, number> {
  setup(input: LinesInput): string[] {
    return input.lines;
  }
  process(line: string): number {
    return line.length;
  }
  // @ts-expect-error join receives the partial results (number[]), not string[]
  join(parts: string[]): number {
    return parts.length;
  }
}

/** combine merges partials into a partial: here it takes and returns numbers. */
export class SummedLengths extends ForkJoinTask<LinesInput, string, number, number> {
  setup(input: LinesInput): string[] {
    return input.lines;
  }
  process(line: string): number {
    return line.length;
  }
  override combine(parts: number[]): number {
    return parts.reduce((a, b) => a + b, 0);
  }
  join(parts: number[]): number {
    return parts.reduce((a, b) => a + b, 0);
  }
}

/** combine must return the Partial type, not the Output. */
export class CombineReturnsOutput extends ForkJoinTask<LinesInput, string, number, { total: number }> {
  setup(input: LinesInput): string[] {
    return input.lines;
  }
  process(line: string): number {
    return line.length;
  }
  // @ts-expect-error combine returns a Partial (number), not the Output
  override combine(parts: number[]): { total: number } {
    return { total: parts.length };
  }
  join(parts: number[]): { total: number } {
    return { total: parts.length };
  }
}

/** process returns a string where the task declares number partials. */
export class ProcessReturnsWrongResult extends ForkJoinTask<LinesInput, string, number, number> {
  setup(input: LinesInput): string[] {
    return input.lines;
  }
  // @ts-expect-error process must return the Partial type (number)
  process(line: string): string {
    return line;
  }
  join(lengths: number[]): number {
    return lengths.length;
  }
}

/** join returns something other than the declared Output. */
export class JoinReturnsWrongOutput extends ForkJoinTask<LinesInput, string, number, number> {
  setup(input: LinesInput): string[] {
    return input.lines;
  }
  process(line: string): number {
    return line.length;
  }
  // @ts-expect-error join must return the Output type (number)
  join(lengths: number[]): string {
    return String(lengths.length);
  }
}

/** process reads a param the task does not declare. */
export class UnknownParam extends ForkJoinTask<LinesInput, string, number, number, { min: number }> {
  setup(input: LinesInput): string[] {
    return input.lines;
  }
  process(line: string, params: { min: number }): number {
    // @ts-expect-error `max` is not one of the params
    return Math.min(line.length, params.max);
  }
  join(lengths: number[]): number {
    return lengths.length;
  }
}

// ---------------------------------------------------------------------------
// run() returns the task's Output and takes its Input.

export async function runTypes(): Promise<void> {
  const counts = await run(WordCount, { documents: ['a b'], delimiter: ' ' }, { executor: 'eager' });
  expectTrue<Equal<typeof counts, WordCountOutput>>();
  const a: number = counts.word_count.a;

  // Fields with schema defaults (delimiter) may be left out.
  const defaulted = await run(WordCount, { documents: ['a b'] });
  expectTrue<Equal<typeof defaulted, WordCountOutput>>();

  const lengths = await run(LineLengths, { lines: ['x'] });
  expectTrue<Equal<typeof lengths, number[]>>();
  const joined = await run(Range, { n: 3, separator: ',' });
  expectTrue<Equal<typeof joined, string>>();

  // @ts-expect-error run(WordCount) resolves to WordCountOutput, not a number
  const wrong: number = await run(WordCount, { documents: [], delimiter: ' ' });

  // @ts-expect-error the input must match the task's Input: documents are strings
  await run(WordCount, { documents: [1], delimiter: ' ' });

  // @ts-expect-error an unknown executor name
  await run(LineLengths, { lines: [] }, { executor: 'cloud' });

  void [a, wrong];
}

// InputOf / OutputOf work on the class and on its instances.
expectTrue<Equal<InputOf<typeof WordCount>, WordCountInput>>();
expectTrue<Equal<InputOf<WordCount>, WordCountInput>>();
expectTrue<Equal<OutputOf<typeof WordCount>, WordCountOutput>>();
expectTrue<Equal<OutputOf<LineLengths>, number[]>>();
