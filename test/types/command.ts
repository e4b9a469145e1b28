/**
 * Type tests for CommandTask, compiled (never run) by `tsc -p test/types/tsconfig.json`.
 * Every `@ts-expect-error` marks a line that must NOT compile.
 */
import { CommandTask, pipeline, type Command, type ProcessContext } from '../../src/index.js';
import { Files, PyStats, Sum, type FileStats } from '../fixtures/command-stages.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectTrue<T extends true>(): T | void {}

/** `command` gets the item type; `parse` returns the partial type `join` receives. */
export class Lengths extends CommandTask<{ words: string[] }, string, number, number[]> {
  setup(input: { words: string[] }): string[] {
    return input.words;
  }
  command(word: string, _params: Record<string, never>, ctx: ProcessContext): Command {
    expectTrue<Equal<typeof word, string>>();
    return { argv: ['wc', '-c'], stdin: word, timeoutMs: 1000 + ctx.index };
  }
  override parse(stdout: string): number {
    return Number(stdout.trim());
  }
  join(lengths: number[]): number[] {
    return lengths;
  }
}

export class BadParse extends CommandTask<{ words: string[] }, string, number, number[]> {
  setup(input: { words: string[] }): string[] {
    return input.words;
  }
  command(word: string): Command {
    // @ts-expect-error argv is an array, never a shell string
    return { argv: `echo ${word}` };
  }
  // @ts-expect-error parse must return the partial type (number)
  override parse(stdout: string): string {
    return stdout;
  }
  join(lengths: number[]): number[] {
    return lengths;
  }
}

/** A CommandTask is a stage like any other: its input and output types are checked. */
export const stats = pipeline(Files).pipe(PyStats).pipe(Sum);
// @ts-expect-error PyStats takes { files: string[] }, not Sum's output
export const wrong = pipeline(Sum).pipe(PyStats);
export type Stats = FileStats;
