/** `--services`: long-lived components built once per worker and handed to hooks as ctx.services. */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/index.js';
import { brokerAvailable, deleteQueues, startWorkerProc, stopWorkerProc } from '../helpers/broker.js';

const fixtures = join(import.meta.dirname, '..', 'fixtures');
const greet = join(fixtures, 'greet.ts');
const services = join(fixtures, 'services.ts');
const withBroker = await brokerAvailable();
const names = Array.from({ length: 200 }, (_, i) => `n${i}`);
const texts = names.map((n) => `hello ${n}`);

describe('services', () => {
  it('eager builds them once and hands them to process', async () => {
    const out = await run(greet, { names }, { executor: 'eager', services });
    expect(out).toEqual({ texts, builds: 1 });
  });

  it('local builds them once per thread, not per item', async () => {
    const out = (await run(greet, { names }, { executor: 'local', concurrency: 2, services })) as {
      texts: string[];
      builds: number;
    };
    expect(out.texts).toEqual(texts);
    expect(out.builds).toBeGreaterThanOrEqual(1);
    expect(out.builds).toBeLessThanOrEqual(2);
  });

  it('a missing services module is a usage error naming it', async () => {
    const err = await run(greet, { names }, { executor: 'eager', services: join(fixtures, 'nope.ts') }).catch((e) => e);
    expect(err.code).toBe('FJ_USAGE');
    expect(err.message).toContain('nope.ts');
  });

  it.runIf(withBroker)('fj worker --services builds them per worker thread', async () => {
    const queue = `fj.test.${randomUUID()}`;
    const w = await startWorkerProc(['--queue', queue, '--tasks', greet, '--services', services, '--concurrency', '1']);
    try {
      const out = await run(greet, { names }, { executor: 'amqp', queue });
      expect(out).toEqual({ texts, builds: 1 });
    } finally {
      await stopWorkerProc(w);
      await deleteQueues(queue);
    }
  });
});
