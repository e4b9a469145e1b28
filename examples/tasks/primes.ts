// tasks/primes.ts
import { ForkJoinTask, type ProcessContext } from 'fj';

interface Input { ranges: [number, number][]; verbose: boolean }
interface Params { verbose: boolean }

export default class Primes extends ForkJoinTask<Input, [number, number], number, { primes: number }, Params> {
  static description = 'Count the primes in a list of ranges';
  static schema = 'primes';          // schemas/primes.schema.json, found by looking upward from this file
  static params = ['verbose'];       // input keys bound into process and join, stored once per job

  setup(input: Input) {              // an array, any iterable, or a (async) generator
    return input.ranges;
  }
  process([lo, hi]: [number, number], params: Params, ctx: ProcessContext) {
    let n = 0;
    for (let i = Math.max(2, lo); i < hi; i++) if (isPrime(i)) n++;
    if (params.verbose) ctx.log.info(`item ${ctx.index}: ${n}`);
    return n;                        // must be plain data: it crosses threads and hosts
  }
  join(counts: number[]) {           // results arrive in item order
    return { primes: counts.reduce((a, b) => a + b, 0) };
  }
}
function isPrime(n: number) { for (let d = 2; d * d <= n; d++) if (n % d === 0) return false; return true; }
