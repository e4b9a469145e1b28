/**
 * Type tests for FoldTask, compiled (never run) by `tsc -p test/types/tsconfig.json`.
 * Every `@ts-expect-error` marks a line that must NOT compile.
 */
import { FoldTask, ForkJoinTask, run, type OutputOf, type ProcessContext, type SeedContext } from '../../src/index.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectTrue<T extends true>(): T | void {}

interface LinesInput {
  lines: string[];
}

/** A correct fold: number accumulator, items folded in place, params and services typed. */
export class TotalLength extends FoldTask<
  LinesInput,
  string,
  { n: number },
  number,
  { scale: number },
  { unit: string }
> {
  static override params = ['scale'];
  setup(input: LinesInput): string[] {
    return input.lines;
  }
  seed(params: { scale: number }, ctx: SeedContext<{ unit: string }>): { n: number } {
    return { n: 0 * params.scale * ctx.index };
  }
  fold(
    acc: { n: number },
    line: string,
    { scale }: { scale: number },
    ctx: ProcessContext<{ unit: string }>,
  ): { n: number } {
    acc.n += line.length * scale + 0 * ctx.services.unit.length;
    return acc;
  }
  combine(accs: { n: number }[]): { n: number } {
    return { n: accs.reduce((a, b) => a + b.n, 0) };
  }
  join(accs: { n: number }[]): number {
    return accs.reduce((a, b) => a + b.n, 0);
  }
}

/** An async fold compiles too. */
export class AsyncFold extends FoldTask<LinesInput, string, number, number> {
  setup(input: LinesInput): string[] {
    return input.lines;
  }
  seed(): number {
    return 0;
  }
  async fold(acc: number, line: string): Promise<number> {
    return acc + line.length;
  }
  combine(accs: number[]): number {
    return accs.reduce((a, b) => a + b, 0);
  }
  join(accs: number[]): number {
    return accs.reduce((a, b) => a + b, 0);
  }
}

export async function runsFold(): Promise<void> {
  const n = await run(TotalLength, { lines: ['ab'] }, { executor: 'eager' });
  expectTrue<Equal<typeof n, number>>();
  expectTrue<Equal<OutputOf<typeof TotalLength>, number>>();
}

// ---------------------------------------------------------------------------
// Neither process nor fold.

// @ts-expect-error a ForkJoinTask without process does not compile
export class Neither extends ForkJoinTask<LinesInput, string, number, number> {
  setup(input: LinesInput): string[] {
    return input.lines;
  }
  join(parts: number[]): number {
    return parts.length;
  }
}

// @ts-expect-error a FoldTask without seed, fold and combine does not compile
export class EmptyFold extends FoldTask<LinesInput, string, number, number> {
  setup(input: LinesInput): string[] {
    return input.lines;
  }
  join(parts: number[]): number {
    return parts.length;
  }
}

// @ts-expect-error a fold needs a seed
export class FoldWithoutSeed extends FoldTask<LinesInput, string, number, number> {
  setup(input: LinesInput): string[] {
    return input.lines;
  }
  fold(acc: number, line: string): number {
    return acc + line.length;
  }
  combine(accs: number[]): number {
    return accs.length;
  }
  join(parts: number[]): number {
    return parts.length;
  }
}

// @ts-expect-error a fold needs combine (the merge of accumulators)
export class FoldWithoutCombine extends FoldTask<LinesInput, string, number, number> {
  setup(input: LinesInput): string[] {
    return input.lines;
  }
  seed(): number {
    return 0;
  }
  fold(acc: number, line: string): number {
    return acc + line.length;
  }
  join(parts: number[]): number {
    return parts.length;
  }
}

// ---------------------------------------------------------------------------
// Mixed wrongly.

export class ProcessInAFold extends FoldTask<LinesInput, string, number, number> {
  setup(input: LinesInput): string[] {
    return input.lines;
  }
  seed(): number {
    return 0;
  }
  fold(acc: number, line: string): number {
    return acc + line.length;
  }
  // @ts-expect-error a FoldTask has no process
  process(line: string): number {
    return line.length;
  }
  combine(accs: number[]): number {
    return accs.length;
  }
  join(parts: number[]): number {
    return parts.length;
  }
}

export class FoldInAProcessTask extends ForkJoinTask<LinesInput, string, number, number> {
  setup(input: LinesInput): string[] {
    return input.lines;
  }
  process(line: string): number {
    return line.length;
  }
  // @ts-expect-error a ForkJoinTask has no fold (extend FoldTask)
  fold(acc: number, line: string): number {
    return acc + line.length;
  }
  join(parts: number[]): number {
    return parts.length;
  }
}

export class SeedInAProcessTask extends ForkJoinTask<LinesInput, string, number, number> {
  setup(input: LinesInput): string[] {
    return input.lines;
  }
  process(line: string): number {
    return line.length;
  }
  // @ts-expect-error a ForkJoinTask has no seed (extend FoldTask)
  seed(): number {
    return 0;
  }
  join(parts: number[]): number {
    return parts.length;
  }
}

// ---------------------------------------------------------------------------
// The accumulator type ties seed, fold, combine and join together.

export class FoldReturnsWrongType extends FoldTask<LinesInput, string, number, number> {
  setup(input: LinesInput): string[] {
    return input.lines;
  }
  seed(): number {
    return 0;
  }
  // @ts-expect-error fold must return the accumulator (number)
  fold(acc: number, line: string): string {
    return line + acc;
  }
  combine(accs: number[]): number {
    return accs.length;
  }
  join(parts: number[]): number {
    return parts.length;
  }
}

export class SeedReturnsWrongType extends FoldTask<LinesInput, string, number, number> {
  setup(input: LinesInput): string[] {
    return input.lines;
  }
  // @ts-expect-error seed must return the accumulator (number)
  seed(): string {
    return '';
  }
  fold(acc: number, line: string): number {
    return acc + line.length;
  }
  combine(accs: number[]): number {
    return accs.length;
  }
  join(parts: number[]): number {
    return parts.length;
  }
}

export class FoldTakesWrongItem extends FoldTask<LinesInput, string, number, number> {
  setup(input: LinesInput): string[] {
    return input.lines;
  }
  seed(): number {
    return 0;
  }
  // @ts-expect-error fold takes the Item type (string) as its second argument
  fold(acc: number, item: number): number {
    return acc + item;
  }
  combine(accs: number[]): number {
    return accs.length;
  }
  join(parts: number[]): number {
    return parts.length;
  }
}

export class JoinTakesWrongAccs extends FoldTask<LinesInput, string, number, number> {
  setup(input: LinesInput): string[] {
    return input.lines;
  }
  seed(): number {
    return 0;
  }
  fold(acc: number, line: string): number {
    return acc + line.length;
  }
  combine(accs: number[]): number {
    return accs.length;
  }
  // @ts-expect-error join receives accumulators (number[])
  join(parts: string[]): number {
    return parts.length;
  }
}
