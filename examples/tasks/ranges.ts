// tasks/ranges.ts
import { ForkJoinTask } from 'fj';

interface Input { below: number; size: number }

// Splits [2, below) into ranges of `size` numbers: the input of tasks/primes.ts.
export default class Ranges extends ForkJoinTask<Input, number, [number, number], { ranges: [number, number][] }, Input> {
  static description = 'Split [2, below) into ranges of size numbers';
  static schema = {
    type: 'object',
    properties: { below: { type: 'integer', minimum: 2 }, size: { type: 'integer', minimum: 1, default: 1000 } },
    required: ['below'], additionalProperties: false,
  };
  static params = ['below', 'size'];

  *setup({ below, size }: Input) {
    for (let lo = 2; lo < below; lo += size) yield lo;
  }
  process(lo: number, { below, size }: Input): [number, number] {
    return [lo, Math.min(lo + size, below)];
  }
  join(ranges: [number, number][]) {
    return { ranges };
  }
}
