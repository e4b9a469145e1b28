/**
 * A user's project without @types/node type-checks its use of fj: fj's
 * public types (dist/src/index.d.ts and what it reaches) must not need the
 * `NodeJS` namespace or `node:` modules. `types: []` keeps @types/node out.
 */
import { ForkJoinTask, submit, run, status, cancel, type SubmitOptions } from '../../../dist/src/index.js';

export class Double extends ForkJoinTask<{ values: number[] }, number, number, number[]> {
  setup(input: { values: number[] }): number[] {
    return input.values;
  }
  process(value: number): number {
    return value * 2;
  }
  join(results: number[]): number[] {
    return results;
  }
}

const options: SubmitOptions = { queue: 'q', resultTtlMs: 1000 };
export const uses = [submit, run, status, cancel, options];
