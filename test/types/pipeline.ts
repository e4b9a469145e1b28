/**
 * Type tests for pipelines, compiled (never run) by `tsc -p test/types/tsconfig.json`.
 * Every `@ts-expect-error` marks a line that must NOT compile.
 */
import { ForkJoinTask, pipeline, runPipeline, type PipelineFailure } from '../../src/index.js';
import { Report, Scale, Shout, Sink, Squares, Total, type Totals } from '../fixtures/pipeline-stages.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectTrue<T extends true>(): T | void {}

/** Stages whose inputs take the previous outputs compile, and the pipeline's output is the last stage's. */
export const good = pipeline(Squares).pipe(Scale, { queue: 'scale' }).pipe(Total).onError(Report);
export async function output(): Promise<void> {
  const { output } = await runPipeline(good, { count: 3 });
  expectTrue<Equal<typeof output, Totals>>();
}

// A stage whose input does not accept the previous output does not compile.
// @ts-expect-error Shout takes { words: string[] }, Squares gives Values
export const mismatched = pipeline(Squares).pipe(Shout);

/** An on-error task must take a PipelineFailure. */
// @ts-expect-error Total takes Values, not a PipelineFailure
export const badOnError = pipeline(Squares).onError(Total);

/** The pipeline's input is its first stage's (schema defaults may be left out). */
export async function input(): Promise<void> {
  // @ts-expect-error count must be a number
  await runPipeline(good, { count: 'three' });
}

/** A stage given by name compiles, with its types unknown from there on. */
export const named = pipeline(Squares).pipe('wordcount').pipe(Shout);

/** An on-error task of one's own, typed by PipelineFailure. */
export class Finish extends ForkJoinTask<PipelineFailure, string, string, string> {
  setup(f: PipelineFailure): string[] {
    return [`${f.pipeline} stage ${f.stage.number} (${f.stage.name}): ${f.error.code}`];
  }
  process(line: string): string {
    return line;
  }
  join(lines: string[]): string {
    return lines.join('\n');
  }
}
export const finished = pipeline(Squares).onError(Finish);

/** A stage that streams takes the last stage's per-item results as items, and its input. */
export const streaming = pipeline(Squares).pipe(Sink, { stream: true });
// @ts-expect-error Scale's items are numbers, Squares' per-item results are [number, string]
export const badStream = pipeline(Squares).pipe(Scale, { stream: true });
