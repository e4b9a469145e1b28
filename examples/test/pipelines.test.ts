// test/pipelines.test.ts
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPipeline, PipelineError } from 'fj';
import countPrimes from '../pipelines/count-primes.js';

describe('my pipeline', () => {
  it('splits [2, 10000) into ranges, then counts the primes in them', async () => {
    const { output, stages } = await runPipeline(countPrimes, { below: 10000 }, { executor: 'eager' });
    expect(output).toEqual({ primes: 1229 });
    expect(stages.map((s) => [s.stage, s.stats.items])).toEqual([['ranges', 10], ['primes', 10]]);
  });
  it('writes one failure record when a stage fails (here stage 1 refuses its input)', async () => {
    const dir = (process.env.FJ_FAILURE_DIR = mkdtempSync(join(tmpdir(), 'failures-')));
    const err = await runPipeline(countPrimes, { below: 0 }, { executor: 'eager' }).catch((e) => e);
    expect(err).toBeInstanceOf(PipelineError);
    expect(err.stage).toMatchObject({ number: 1, name: 'ranges' });
    expect(readdirSync(dir)).toHaveLength(1);
  });
});
