/**
 * Pipelines (src/pipeline/): stages run one after another, each output
 * validated as the next input, each stage on its own executor and pool, and
 * the on-error stage run exactly once when a stage fails or the pipeline is
 * cancelled. Real worker threads, real `fj worker` processes on a real
 * RabbitMQ (two pools), the built CLI.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import {
  attach,
  CancelledError,
  PipelineError,
  pipeline,
  rerunPipeline,
  runPipeline,
  submitPipeline,
  TaskError,
  type PipelineFailure,
} from '../../src/index.js';
import { JOB_MESSAGE } from '../../src/broker/messages.js';
import { waitFor } from '../helpers/wait.js';
import { describeTask } from '../../src/task/registry.js';
import { BrokenReport, Report, Scale, Shout, Sink, Squares, Total, type Totals } from '../fixtures/pipeline-stages.js';
import { runFj } from '../helpers/cli.js';
import {
  BROKER_URL,
  brokerAvailable,
  deleteQueue,
  deleteQueues,
  startWorkerProc,
  stopWorkerProc,
  type WorkerProc,
} from '../helpers/broker.js';
import { codeQueue } from '../../src/broker/amqp.js';
import { openStore } from '../../src/store/open.js';
import { readManifest } from '../../src/store/job-records.js';

const root = join(import.meta.dirname, '..', '..');
const fixture = (name: string) => join(root, 'test', 'fixtures', name);
const dir = mkdtempSync(join(tmpdir(), 'fj-pipeline-test-'));
const reportFile = join(dir, 'report.jsonl');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What the three stages give for `count` items: the sum of 3·i² for i < count. */
function expectedTotal(count: number): number {
  let t = 0;
  for (let i = 0; i < count; i++) t += 3 * i * i;
  return t;
}

/** The on-error stage's runs so far (one JSON line each). */
function reports(): PipelineFailure[] {
  if (!existsSync(reportFile)) return [];
  return readFileSync(reportFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as PipelineFailure);
}

const full = pipeline(Squares).pipe(Scale).pipe(Total).onError(Report);

describe('pipelines, in this process and on worker threads', () => {
  beforeEach(() => {
    rmSync(reportFile, { force: true });
    process.env.FJ_TEST_PIPELINE_REPORT = reportFile;
  });

  it('runs its stages in order, each output the next input (schema defaults filled), the same on eager and local', async () => {
    const eager = await runPipeline(full, { count: 1000 }, { executor: 'eager' });
    const local = await runPipeline(full, { count: 1000 }, { executor: 'local', concurrency: 2 });
    for (const r of [eager, local]) {
      expect(r.output.total).toBe(expectedTotal(1000)); // Scale's factor came from its schema default (3)
      expect(r.output.count).toBe(1000);
      expect(r.stages.map((s) => [s.stage, s.task, s.stats.items, s.stats.failed])).toEqual([
        ['squares', 'squares', 1000, 0],
        ['scale', 'scale', 1000, 0],
        ['total', 'total', 1000, 0],
      ]);
    }
    expect(reports()).toEqual([]); // nothing failed: the on-error stage never ran
  });

  it('a 3-stage pipeline of 120,000 items finishes on local with the output eager gives', async () => {
    const count = 40_000;
    const eager = await runPipeline(full, { count }, { executor: 'eager' });
    const local = await runPipeline(full, { count }, { executor: 'local', concurrency: 2 });
    expect(local.output).toEqual(eager.output);
    expect(local.output.total).toBe(expectedTotal(count));
    expect(local.stages.reduce((n, s) => n + s.stats.items, 0)).toBe(3 * count);
  }, 120_000);

  it.each([
    ['squares', 1, 'FJ_TASK', 0],
    ['scale', 2, 'FJ_TASK', 1],
    ['total', 3, 'FJ_TASK', 2],
    ['total-join', 3, 'FJ_TASK', 2],
  ] as const)(
    'a failure in %s stops the pipeline at stage %i and runs the on-error stage once with what it needs',
    async (failIn, number, code, finished) => {
      const err = await runPipeline(full, { count: 20, failIn }, { executor: 'local', concurrency: 2 }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PipelineError);
      const e = err as PipelineError;
      expect(e.stage.number).toBe(number);
      expect(e.exitCode).toBe(1);
      expect(e.message).toMatch(new RegExp(`^pipeline squares: stage ${number} \\(\\w+\\) failed: `));
      expect(e.message).toContain('(the on-error stage report ran)');
      const runs = reports();
      expect(runs).toHaveLength(1);
      expect(runs[0].stage).toMatchObject({ number, task: e.stage.task });
      expect(runs[0].error.code).toBe(code);
      expect(runs[0].cancelled).toBe(false);
      expect(runs[0].finished.map((f) => f.stage)).toEqual(['squares', 'scale'].slice(0, finished));
      if (finished) expect((runs[0].finished[0].output as { values: number[] }).values).toHaveLength(20);
    },
    30_000,
  );

  it('under collect, the on-error stage gets the failing stage failed items', async () => {
    const err = (await runPipeline(
      full,
      { count: 20, failIn: 'scale' },
      { executor: 'local', onFailure: 'collect', maxFailures: 0 },
    ).catch((e: unknown) => e)) as PipelineError;
    expect(err.stage).toEqual({ number: 2, name: 'scale', task: 'scale' });
    const [run] = reports();
    expect(run.error.code).toBe('FJ_FAILURES');
    expect(run.failures.map((f) => [f.index, f.error.message])).toEqual([
      [7, 'scale.process on item 7 failed: value 49 broke scale on purpose'],
    ]);
  });

  it('a stage setting overrides the run option for that stage only', async () => {
    // collect with up to 1 failure for scale: the failed item is left out, and the pipeline goes on.
    const lenient = pipeline(Squares).pipe(Scale, { onFailure: 'collect', maxFailures: 1 }).pipe(Total);
    const r = await runPipeline(lenient, { count: 20, failIn: 'scale' }, { executor: 'local' });
    expect(r.output.count).toBe(19);
    expect(r.output.total).toBe(expectedTotal(20) - 3 * 49);
    expect(r.stages[1].stats.failures.map((f) => f.index)).toEqual([7]);
  });

  it('a stage rateLimit paces that stage only', async () => {
    const paced = pipeline(Squares).pipe(Scale, { rateLimit: 20 }).pipe(Total);
    const r = await runPipeline(paced, { count: 50 }, { executor: 'eager' });
    expect(r.output.total).toBe(expectedTotal(50));
    // A bucket of one second's items (20 at once), then 20 a second: the other 30 take at least 1.5 s.
    expect(r.stages[1].stats.wallMs).toBeGreaterThanOrEqual(1400);
    expect(r.stages[0].stats.wallMs).toBeLessThan(1000);
    expect(r.stages[2].stats.wallMs).toBeLessThan(1000);
  });

  it('an output that does not fit the next stage fails naming both stages and the JSON path, before any of its items', async () => {
    const bad = pipeline(Squares).pipe(Shout as never);
    const err = (await runPipeline(bad, { count: 3 }, { executor: 'local' }).catch((e: unknown) => e)) as PipelineError;
    expect(err).toBeInstanceOf(PipelineError);
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain('the output of stage 1 (squares), as the input of stage 2 (shout)');
    expect(err.message).toContain('\n  /words: is required'); // the JSON path in the output that does not fit
    expect(err.stage).toEqual({ number: 2, name: 'shout', task: 'shout' });
  });

  it.each([1, 2, 3])(
    'a cancel as stage %i starts ends the pipeline there, once the on-error stage ran, marked cancelled',
    async (number) => {
      const controller = new AbortController();
      const err = (await runPipeline(
        full,
        { count: 40 },
        {
          executor: 'local',
          concurrency: 2,
          signal: controller.signal,
          onProgress: (p) => p.stage?.startsWith(`${number}/3`) && controller.abort(),
        },
      ).catch((e: unknown) => e)) as PipelineError;
      expect(err).toBeInstanceOf(PipelineError);
      expect(err.exitCode).toBe(130);
      expect(err.stage.number).toBe(number);
      const runs = reports();
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({ cancelled: true, stage: { number }, error: { code: 'FJ_CANCELLED' } });
      expect(runs[0].finished).toHaveLength(number - 1);
    },
    30_000,
  );

  it('a cancel during a stage stops it, starts no later stage, and runs the on-error stage once, marked cancelled', async () => {
    const controller = new AbortController();
    const err = (await runPipeline(
      full,
      { count: 40, slowScale: 100 },
      {
        executor: 'local',
        concurrency: 2,
        signal: controller.signal,
        onProgress: (p) => p.stage?.startsWith('2/3') && p.phase === 'items' && p.done > 0 && controller.abort(),
      },
    ).catch((e: unknown) => e)) as PipelineError;
    expect(err).toBeInstanceOf(PipelineError);
    expect(err.exitCode).toBe(130);
    expect(err.message).toMatch(/^pipeline squares: stage 2 \(scale\) was cancelled/);
    const runs = reports();
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ cancelled: true, stage: { number: 2 }, error: { code: 'FJ_CANCELLED' } });
  }, 30_000);

  it('an on-error stage that fails is reported with the stage error and runs once', async () => {
    const p = pipeline(Squares).pipe(Scale).onError(BrokenReport);
    const err = (await runPipeline(p, { count: 20, failIn: 'scale' }, { executor: 'eager' }).catch(
      (e: unknown) => e,
    )) as PipelineError;
    expect(err.message).toContain('value 49 broke scale on purpose');
    expect(err.message).toContain('the on-error stage broken-report failed too');
    expect(err.onErrorFailure).toBeInstanceOf(Error);
    expect(reports()).toHaveLength(1);
  });

  it('a stage that is not a task, or a setting that does not exist, is refused as the pipeline is built', () => {
    expect(() => pipeline(Squares).pipe({} as never)).toThrow(/stage 2 is not a task/);
    expect(() => pipeline(Squares, { queu: 'x' } as never)).toThrow(/stage 1: unknown setting queu \(known: name, /);
    expect(() => pipeline(Squares).onError(Report).onError(Report)).toThrow(/one on-error stage/);
  });

  it('a pipeline is not a promise: awaiting one gives the pipeline back', async () => {
    const p = await Promise.resolve(full);
    expect(p).toBe(full);
  });
});

describe('a stage that streams from the one before it (no barrier)', () => {
  beforeEach(() => {
    rmSync(reportFile, { force: true });
    process.env.FJ_TEST_PIPELINE_REPORT = reportFile;
  });
  const squaresSum = (count: number) => (count * (count - 1) * (2 * count - 1)) / 6;

  it.each(['eager', 'local'] as const)('takes the results as its items, in order, on %s', async (executor) => {
    const p = pipeline(Squares).pipe(Sink, { stream: true });
    const r = await runPipeline(p, { count: 3000 }, { executor, concurrency: 2 });
    expect(r.output).toMatchObject({ sum: squaresSum(3000), count: 3000 });
    expect(r.stages.map((s) => [s.stage, s.stats.items])).toEqual([
      ['squares', 3000],
      ['sink', 3000],
    ]);
  });

  it('its first items run before the previous stage ends', async () => {
    const seen: { stage: string; done: number }[] = [];
    const p = pipeline(Squares).pipe(Sink, { stream: true });
    await runPipeline(
      p,
      { count: 200, slowSquares: 10 },
      {
        executor: 'local',
        concurrency: 2,
        onProgress: (e) => e.phase === 'items' && seen.push({ stage: e.stage!, done: e.done }),
      },
    );
    const firstSink = seen.findIndex((e) => e.stage.startsWith('2/2') && e.done > 0);
    expect(firstSink).toBeGreaterThan(-1);
    const squaresBefore = seen.slice(0, firstSink).filter((e) => e.stage.startsWith('1/2'));
    expect(squaresBefore.at(-1)?.done ?? 0).toBeLessThan(200); // stage 1 had not finished when stage 2 had results
  }, 60_000);

  it('backpressure: a fast first stage stays within its buffer of a slow second one', async () => {
    let squares = 0;
    let sink = 0;
    let lag = 0;
    const p = pipeline(Squares).pipe(Sink, { stream: true, buffer: 100 });
    const r = await runPipeline(
      p,
      { count: 3000, slowSink: 1 },
      {
        executor: 'local',
        concurrency: 2,
        onProgress: (e) => {
          if (e.stage?.startsWith('1/2')) squares = e.done;
          else sink = e.done;
          lag = Math.max(lag, squares - sink);
        },
      },
    );
    expect(r.output.count).toBe(3000);
    // Without the buffer stage 1 ends at once, 3,000 results ahead; with it, at most the buffer plus stage 2's items in flight.
    expect(lag).toBeLessThan(1000);
  }, 60_000);

  it('memory: with stage 1 over 100x faster than stage 2 and results of 16 KB, the results held stay within the buffer', async () => {
    // A full collection before each sample, so the heap measured is what is held, not garbage not yet collected.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const count = 2000;
    const pad = 16_384; // all of stage 1's results held at once: 2,000 x 16 KB = 32 MB
    /** Items a second, from the first result to the last one seen. */
    const rate = (seen: [number, number][]) => {
      const first = seen.find(([, done]) => done > 0)!;
      const last = seen.at(-1)!;
      return ((last[1] - first[1]) / (last[0] - first[0])) * 1000;
    };
    // Stage 1 alone: how fast it gives its results when nothing holds it back.
    const alone: [number, number][] = [];
    await runPipeline(
      pipeline(Squares),
      { count, pad },
      {
        executor: 'local',
        concurrency: 2,
        onProgress: (e) => e.phase === 'items' && alone.push([performance.now(), e.done]),
      },
    );
    gc();
    const base = process.memoryUsage().heapUsed;
    let peak = 0;
    const sampler = setInterval(() => {
      gc();
      peak = Math.max(peak, process.memoryUsage().heapUsed - base);
    }, 100);
    let squares = 0;
    let lag = 0;
    const sunk: [number, number][] = [];
    const controller = new AbortController();
    // Stage 2 takes 100 ms an item on one slot; it runs 4 s after its first result (stage 1 unheld would end in under 1 s), then the run is cancelled.
    const p = pipeline(Squares).pipe(Sink, { stream: true, buffer: 100, concurrency: 1 });
    const err = await runPipeline(
      p,
      { count, pad, slowSink: 100 },
      {
        executor: 'local',
        concurrency: 2,
        signal: controller.signal,
        onProgress: (e) => {
          if (e.stage?.startsWith('1/2')) squares = e.done;
          else if (e.phase === 'items') {
            sunk.push([performance.now(), e.done]);
            if (e.done > 0 && sunk.length && performance.now() - sunk.find(([, d]) => d > 0)![0] > 4000)
              controller.abort();
          }
          lag = Math.max(lag, squares - (sunk.at(-1)?.[1] ?? 0));
        },
      },
    )
      .catch((e: unknown) => e)
      .finally(() => clearInterval(sampler));
    expect((err as PipelineError).exitCode).toBe(130);
    // The premise: stage 1 gives its results over 100 times as fast as stage 2 takes them.
    expect(rate(alone) / rate(sunk)).toBeGreaterThan(100);
    expect(lag).toBeLessThan(200); // the buffer (100) and stage 2's item in flight, not the 2,000 stage 1 could give
    expect(peak).toBeLessThan(8 * 2 ** 20); // a few MB held, not 32 MB
  }, 90_000);

  it('a failure in either stage stops both, names the stage, and runs the on-error stage once', async () => {
    for (const [failIn, number] of [
      ['squares', 1],
      ['sink', 2],
    ] as const) {
      rmSync(reportFile, { force: true });
      const p = pipeline(Squares).pipe(Sink, { stream: true }).onError(Report);
      const err = (await runPipeline(p, { count: 500, failIn, slowSink: 2 }, { executor: 'local' }).catch(
        (e: unknown) => e,
      )) as PipelineError;
      expect(err).toBeInstanceOf(PipelineError);
      expect(err.stage.number).toBe(number);
      expect(err.message).toContain('on purpose');
      expect(reports().map((f) => f.stage.number)).toEqual([number]);
    }
  }, 60_000);

  it('a cancel stops both stages and runs the on-error stage once', async () => {
    const controller = new AbortController();
    const p = pipeline(Squares).pipe(Sink, { stream: true }).onError(Report);
    const err = (await runPipeline(
      p,
      { count: 400, slowSink: 20 },
      {
        executor: 'local',
        signal: controller.signal,
        onProgress: (e) => e.stage?.startsWith('2/2') && e.done > 0 && controller.abort(),
      },
    ).catch((e: unknown) => e)) as PipelineError;
    expect(err.exitCode).toBe(130);
    expect(reports()).toHaveLength(1);
    expect(reports()[0].cancelled).toBe(true);
  }, 60_000);

  it('is refused where it cannot hold: after a stage that folds, on the first stage, in a submitted pipeline', async () => {
    await expect(
      runPipeline(
        pipeline(Squares)
          .pipe(Scale)
          .pipe(Total)
          .pipe(Sink as never, { stream: true }),
        { count: 3 },
      ),
    ).rejects.toThrow(/stage 4 \(sink\) streams from stage 3 \(total\), which folds its results/);
    expect(() => pipeline(Squares, { stream: true })).toThrow(/the first stage has no stage to stream from/);
    await expect(submitPipeline(pipeline(Squares).pipe(Sink, { stream: true }), { count: 3 })).rejects.toThrow(
      /stage 2 \(sink\) streams from the stage before it: a submitted pipeline runs its stages one after another/,
    );
  });
});

describe('fj run PIPELINE', () => {
  it('runs the module default pipeline, prints the last output and writes each stage figures to --stats', async () => {
    const input = join(dir, 'in.json');
    const stats = join(dir, 'stats.json');
    writeFileSync(input, JSON.stringify({ count: 300 }));
    const r = await runFj(['run', fixture('pipelines/pipeline.ts'), input, '-e', 'local', '--stats', stats]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ total: expectedTotal(300), count: 300 });
    const doc = JSON.parse(readFileSync(stats, 'utf8')) as { stages: { stage: string; stats: { items: number } }[] };
    expect(doc.stages.map((s) => [s.stage, s.stats.items])).toEqual([
      ['squares', 300],
      ['scale', 300],
      ['total', 300],
    ]);
  });

  it('a failing stage: exit 1, one line naming the pipeline and the stage, the on-error stage run once', async () => {
    const input = join(dir, 'fail.json');
    writeFileSync(input, JSON.stringify({ count: 20, failIn: 'scale' }));
    const report = join(dir, 'cli-report.jsonl');
    const r = await runFj(['run', fixture('pipelines/pipeline.ts'), input, '-e', 'local'], {
      env: { FJ_TEST_PIPELINE_REPORT: report },
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^fj: pipeline pipeline: stage 2 \(scale\) failed: scale\.process on item 7 failed: value 49/,
    );
    expect(r.stderr).toContain('(the on-error stage report ran)');
    expect(r.stderr).not.toMatch(/ at .*\.js:\d+/); // no stack trace for a task's failure
    expect(readFileSync(report, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('two stage classes of the pipeline module with one task name are refused before any work', async () => {
    const input = join(dir, 'one.json');
    writeFileSync(input, JSON.stringify({ n: 1 }));
    const r = await runFj(['run', fixture('pipelines/pipeline-one-module.ts'), input]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "fj: stages 1 and 2 run two task classes named 'pipeline-one-module' (First and Second; a class without a static taskName is named after its module's file): give each a static taskName\n",
    );
  });

  it('--job-id is refused for a pipeline (it runs a job per stage)', async () => {
    const input = join(dir, 'in2.json');
    writeFileSync(input, JSON.stringify({ count: 3 }));
    const r = await runFj(['run', fixture('pipelines/pipeline.ts'), input, '--job-id', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('fj: --job-id names one job; a pipeline runs a job for each of its stages\n');
  });
});

describe('a pipeline where a task is expected', () => {
  it('fj worker --tasks says it is a pipeline and what to give instead', async () => {
    const r = await runFj(
      ['worker', '--tasks', fixture('pipelines/pipeline.ts'), '--queue', `fj.test.${randomUUID()}`],
      {
        env: { FJ_BROKER_URL: BROKER_URL },
      },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /pipeline\.ts exports a pipeline, not a task: 'fj run' runs a pipeline; 'fj worker --tasks' takes the modules of its stages' tasks/,
    );
  });
});

const available = await brokerAvailable();

describe.runIf(available)('pipelines on RabbitMQ, a stage on a pool of its own', () => {
  const poolA = `fj.test.pipe-a.${randomUUID()}`;
  const poolB = `fj.test.pipe-b.${randomUUID()}`;
  const store = pathToFileURL(mkdtempSync(join(dir, 'store-'))).href;
  const stages = fixture('pipeline-stages.ts');
  const workers: WorkerProc[] = [];
  const opts = { executor: 'amqp' as const, queue: poolA, broker: BROKER_URL, store };
  const where = { queue: poolA, broker: BROKER_URL, store };
  let startA: (name: string) => Promise<WorkerProc>;
  const byName = new Map<string, WorkerProc>();

  /** Puts job `jobId`'s message on `pool`'s jobs queue again, as a redelivery would. */
  async function publishJobMessage(pool: string, jobId: string): Promise<void> {
    const conn = await amqp.connect(BROKER_URL);
    try {
      const ch = await conn.createConfirmChannel();
      ch.sendToQueue(`${pool}.jobs`, Buffer.from(JSON.stringify({ job: jobId })), {
        messageId: jobId,
        type: JOB_MESSAGE,
      });
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }
  }

  /** Whether `queue` does not exist on the broker. */
  async function queueGone(queue: string): Promise<boolean> {
    const conn = await amqp.connect(BROKER_URL);
    try {
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      return await ch.checkQueue(queue).then(
        () => false,
        () => true,
      );
    } finally {
      await conn.close().catch(() => {});
    }
  }

  /** Messages waiting in `queue`. */
  async function queueDepth(queue: string): Promise<number> {
    const conn = await amqp.connect(BROKER_URL);
    try {
      return (await (await conn.createChannel()).checkQueue(queue)).messageCount;
    } finally {
      await conn.close();
    }
  }

  beforeAll(async () => {
    const start = async (pool: string, name: string) => {
      const w = await startWorkerProc(
        ['--queue', pool, '--store', store, '--tasks', stages, '-c', '2', '--name', name],
        {
          FJ_TEST_WORKER: name,
          FJ_BROKER_URL: BROKER_URL,
          FJ_TEST_PIPELINE_REPORT: reportFile, // a submitted pipeline's on-error stage runs its setup in a worker
        },
      );
      byName.set(name, w);
      return w;
    };
    startA = (name: string) => start(poolA, name);
    workers.push(...(await Promise.all([start(poolA, 'wa1'), start(poolA, 'wa2'), start(poolB, 'wb1')])));
  }, 60_000);

  afterAll(async () => {
    for (const w of workers) await stopWorkerProc(w);
    for (const pool of [poolA, poolB]) {
      await deleteQueues(pool);
      for (const cls of [Squares, Scale, Total, Shout, Report, BrokenReport, Sink]) {
        const info = describeTask(cls);
        await deleteQueue(codeQueue(pool, info.name, info.codeHash)).catch(() => {});
      }
    }
  });

  beforeEach(() => {
    rmSync(reportFile, { force: true });
    process.env.FJ_TEST_PIPELINE_REPORT = reportFile;
  });

  it("stage 2's items reach only its pool's workers, stages 1 and 3 only the other pool's; output as eager", async () => {
    const p = pipeline(Squares).pipe(Scale, { queue: poolB }).pipe(Total).onError(Report);
    const r = await runPipeline(p, { count: 400 }, opts);
    expect(r.output.total).toBe(expectedTotal(400));
    expect(r.output.ranOn.scale).toEqual(['wb1']);
    expect(r.output.ranOn.squares.every((w) => w === 'wa1' || w === 'wa2')).toBe(true);
    expect(r.output.ranOn.total.every((w) => w === 'wa1' || w === 'wa2')).toBe(true);
  }, 60_000);

  it('a 3-stage pipeline of 102,000 items finishes on amqp with the output eager gives', async () => {
    const p = pipeline(Squares).pipe(Scale, { queue: poolB }).pipe(Total);
    const count = 34_000;
    const eager = await runPipeline(p, { count }, { executor: 'eager' });
    const r = await runPipeline(p, { count }, opts);
    expect({ total: r.output.total, count: r.output.count }).toEqual({
      total: eager.output.total,
      count: eager.output.count,
    });
    expect(r.output.total).toBe(expectedTotal(count));
    expect(r.stages.reduce((n, s) => n + s.stats.items, 0)).toBe(3 * count);
  }, 120_000);

  it('a stage that streams, on its own pool: its first items run before stage 1 ends, on its pool only; output as eager', async () => {
    const seen: { stage: string; done: number }[] = [];
    const p = pipeline(Squares).pipe(Sink, { stream: true, queue: poolB });
    const input = { count: 200, slowSquares: 20 };
    const eager = await runPipeline(p, input, { executor: 'eager' });
    const r = await runPipeline(p, input, {
      ...opts,
      onProgress: (e) => e.phase === 'items' && seen.push({ stage: e.stage!, done: e.done }),
    });
    expect({ sum: r.output.sum, count: r.output.count }).toEqual({ sum: eager.output.sum, count: eager.output.count });
    expect(r.output.ranOn).toEqual(['wb1']);
    const firstSink = seen.findIndex((e) => e.stage.startsWith('2/2') && e.done > 0);
    expect(firstSink).toBeGreaterThan(-1);
    const squaresBefore = seen.slice(0, firstSink).filter((e) => e.stage.startsWith('1/2'));
    expect(squaresBefore.at(-1)?.done ?? 0).toBeLessThan(200); // stage 1 had not ended when stage 2 had results
  }, 60_000);

  it('a failure in the amqp stage runs the on-error stage once, in this process', async () => {
    const p = pipeline(Squares).pipe(Scale, { queue: poolB }).pipe(Total).onError(Report);
    const err = (await runPipeline(p, { count: 30, failIn: 'scale' }, opts).catch((e: unknown) => e)) as PipelineError;
    expect(err).toBeInstanceOf(PipelineError);
    expect(err.stage.number).toBe(2);
    expect(err.message).toContain('on item 7');
    expect(reports()).toHaveLength(1);
  }, 60_000);

  it('fj run -e amqp of a pipeline names each stage job as it starts', async () => {
    const input = join(dir, 'amqp.json');
    writeFileSync(input, JSON.stringify({ count: 50 }));
    const r = await runFj(
      ['run', fixture('pipelines/pipeline-pools.ts'), input, '-e', 'amqp', '--queue', poolA, '--store', store],
      { env: { FJ_BROKER_URL: BROKER_URL, FJ_TEST_SCALE_POOL: poolB }, timeoutMs: 60_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ total: expectedTotal(50), ranOn: { scale: ['wb1'] } });
    expect(r.stderr.match(/^fj: job [0-9a-f-]{36} \(fj status \| cancel \| resume/gm)).toHaveLength(3);
  }, 90_000);

  describe('submitted (fj submit): each stage a detached job, the next queued by the worker that ends one', () => {
    const p = () => pipeline(Squares).pipe(Scale, { queue: poolB }).pipe(Total).onError(Report);

    it('ends with the last stage output, each stage on its pool; the pipeline and its stage jobs are jobs to look at', async () => {
      const handle = await submitPipeline(p(), { count: 400 }, where);
      const out = (await handle.result({ timeoutMs: 60_000 })) as Totals;
      expect(out.total).toBe(expectedTotal(400));
      expect(out.ranOn.scale).toEqual(['wb1']);
      expect((await handle.status()).state).toBe('succeeded');
      for (const n of [1, 2, 3])
        expect((await (await attach(`${handle.id}.${n}`, where)).status()).state).toBe('succeeded');
      expect(reports()).toEqual([]);
    }, 90_000);

    it('a stage weight, priority and rate limit are its job settings: kept in its job records, the pipeline options elsewhere', async () => {
      const shared = pipeline(Squares)
        .pipe(Scale, { queue: poolB, priority: 7, weight: 3, rateLimit: 500 })
        .pipe(Total);
      const handle = await submitPipeline(shared, { count: 20 }, { ...where, priority: -2 });
      expect(((await handle.result({ timeoutMs: 60_000 })) as Totals).total).toBe(expectedTotal(20));
      const records = await openStore(store);
      try {
        const options = async (n: number) => (await readManifest(records, `${handle.id}.${n}`, undefined))?.options;
        expect(await options(2)).toMatchObject({ priority: 7, weight: 3, rateLimit: 500 });
        expect(await options(1)).toMatchObject({ priority: -2 });
        expect((await options(1))?.weight).toBeUndefined(); // 1, the default, is not written
        expect(await options(3)).toMatchObject({ priority: -2 });
      } finally {
        await records.close();
      }
    }, 90_000);

    it('fj submit of a pipeline module prints its id; fj result --wait prints its last output, or exits 1 naming the failed stage', async () => {
      const env = { env: { FJ_BROKER_URL: BROKER_URL, FJ_TEST_SCALE_POOL: poolB }, timeoutMs: 60_000 };
      const submitted = async (input: object) => {
        const file = join(dir, `submit-${randomUUID()}.json`);
        writeFileSync(file, JSON.stringify(input));
        const s = await runFj(
          ['submit', fixture('pipelines/pipeline-pools.ts'), file, '--queue', poolA, '--store', store],
          env,
        );
        expect(s.code, s.stderr).toBe(0);
        expect(s.stdout).toMatch(/^\S+\n$/);
        return s.stdout.trim();
      };
      // Stage 2: 80 items of 100 ms on pool B's 2 slots, 4 s: running while fj result looks.
      const id = await submitted({ count: 80, slowScale: 100 });
      const early = await runFj(['result', id, '--store', store], env);
      expect(early.code).toBe(124);
      expect(early.stderr).toMatch(
        new RegExp(
          `^fj: pipeline ${id} has not ended yet \\((queued|running), at stage [12]/3 \\w+\\): 'fj result ${id} --wait' waits for it\n`,
        ),
      );
      const r = await runFj(['result', id, '--wait', '--timeout', '60', '--store', store], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe(
        `fj: pipeline ${id} has not ended yet; waiting (Ctrl-C stops waiting, the pipeline goes on)\n`,
      );
      expect(JSON.parse(r.stdout)).toMatchObject({ total: expectedTotal(80), count: 80, ranOn: { scale: ['wb1'] } });
      const again = await runFj(['result', id, '--store', store], env); // ended: no --wait needed
      expect(again.code, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ total: expectedTotal(80) });
      const failed = await submitted({ count: 20, failIn: 'scale' });
      const f = await runFj(['result', failed, '--wait', '--timeout', '60', '--store', store], env);
      expect(f.code).toBe(1);
      expect(f.stdout).toBe('');
      expect(f.stderr).toMatch(/^fj: pipeline \S+: stage 2 \(scale\) failed: .*value 49 broke scale on purpose/m);
      expect(f.stderr).toContain('(the on-error stage report ran)');
      expect(f.stderr).not.toMatch(/ at .*\.js:\d+/);
      expect(reports()).toHaveLength(1);
    }, 90_000);

    it("its stage jobs are kept under the pipeline's retention (--result-ttl)", async () => {
      const resultTtlMs = 4_321_000;
      const handle = await submitPipeline(p(), { count: 20, failIn: 'scale' }, { ...where, resultTtlMs });
      await handle.result({ timeoutMs: 60_000 }).catch(() => {});
      const s = await openStore(store);
      try {
        for (const id of [handle.id, `${handle.id}.1`, `${handle.id}.2`, `${handle.id}.on-error`])
          expect([id, (await readManifest(s, id)).detached?.resultTtlMs]).toEqual([id, resultTtlMs]);
      } finally {
        await s.close();
      }
    }, 90_000);

    it('an on-error stage that fails: reported beside the stage error, run once, and the pipeline ends (no loop)', async () => {
      const bad = pipeline(Squares).pipe(Scale, { queue: poolB }).pipe(Total).onError(BrokenReport);
      const handle = await submitPipeline(bad, { count: 20, failIn: 'scale' }, where);
      const err = (await handle.result({ timeoutMs: 60_000 }).catch((e: unknown) => e)) as PipelineError;
      expect(err).toBeInstanceOf(PipelineError);
      expect(err.message).toContain('value 49 broke scale on purpose');
      expect(err.message).toContain('the on-error stage broken-report failed too');
      expect(err.message).toContain('the report could not be written');
      expect((await handle.status()).state).toBe('failed');
      expect((await (await attach(`${handle.id}.on-error`, where)).status()).state).toBe('failed');
      await new Promise((r) => setTimeout(r, 1000)); // no second run comes later
      expect(reports()).toHaveLength(1);
    }, 90_000);

    it('fj forget of an ended pipeline forgets its stages jobs too', async () => {
      const handle = await submitPipeline(p(), { count: 20 }, where);
      await handle.result({ timeoutMs: 60_000 });
      const r = await runFj(['forget', handle.id, '--store', store], { env: { FJ_BROKER_URL: BROKER_URL } });
      expect(r.code, r.stderr).toBe(0);
      for (const id of [handle.id, `${handle.id}.1`, `${handle.id}.2`, `${handle.id}.3`])
        expect(
          await attach(id, where).then(
            () => 'still there',
            (e: Error) => e.message,
          ),
        ).toMatch(/no job/);
    }, 90_000);

    it('a failed stage: its on-error stage runs once on a worker, then the pipeline fails naming the stage', async () => {
      const handle = await submitPipeline(p(), { count: 30, failIn: 'scale' }, where);
      const err = await handle.result({ timeoutMs: 60_000 }).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(
        /^pipeline squares: stage 2 \(scale\) failed: .*value 49 broke scale on purpose[\s\S]*\(the on-error stage report ran\)$/,
      );
      expect((err as { exitCode: number }).exitCode).toBe(1);
      // The error runPipeline() throws: a PipelineError naming the stage, its cause the stage's TaskError.
      expect(err).toBeInstanceOf(PipelineError);
      expect(err).toMatchObject({ pipeline: 'squares', stage: { number: 2, name: 'scale', task: 'scale' } });
      expect((err as PipelineError).cause).toBeInstanceOf(TaskError);
      expect((err as PipelineError).cause).toMatchObject({ hook: 'process', code: 'FJ_TASK' });
      expect((err as PipelineError).onErrorFailure).toBeUndefined();
      const runs = reports();
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({
        stage: { number: 2, name: 'scale' },
        cancelled: false,
        error: { code: 'FJ_TASK' },
      });
      expect(runs[0].finished.map((f) => f.stage)).toEqual(['squares']);
      const later = await attach(`${handle.id}.3`, where)
        .then(async (h) => h.status())
        .catch((e: Error) => e.message);
      expect(later).toMatch(/no job/); // no later stage was queued
      // fj resume of the pipeline names its stage job instead (fj rerun of one: the test below).
      const env = { env: { FJ_BROKER_URL: BROKER_URL } };
      const resume = await runFj(['resume', handle.id, '--store', store], env);
      expect(resume.code).toBe(2);
      expect(resume.stderr).toContain(`${handle.id} is a pipeline: it runs no items of its own`);
    }, 90_000);

    it('a stage no worker of its pool serves: the stage fails naming the pool and the task, the on-error stage runs once, the pipeline ends', async () => {
      // wb1 (pool B's only worker) serves the stages module, which has no task of this name.
      class Unserved extends Scale {
        static override taskName = 'unserved-scale';
        static override module = import.meta.url;
      }
      const handle = await submitPipeline(
        pipeline(Squares).pipe(Unserved, { queue: poolB }).pipe(Total).onError(Report),
        { count: 5 },
        where,
      );
      const err = await handle.result({ timeoutMs: 30_000 }).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(
        new RegExp(
          `^pipeline squares: stage 2 \\(unserved-scale\\) failed: .*no worker on pool ${poolB.replace(/\./g, '\\.')} can coordinate task unserved-scale[\\s\\S]*\\(the on-error stage report ran\\)$`,
        ),
      );
      expect(reports()).toHaveLength(1);
      expect(reports()[0]).toMatchObject({ stage: { number: 2, name: 'unserved-scale' }, cancelled: false });
      // Its results queue, declared when the stage was queued, went with its end.
      await waitFor(
        'the stage job results queue to go',
        async () => (await queueGone(`fj.results.${handle.id}.2`)) || undefined,
        10_000,
      );
    }, 60_000);

    it('fj status lists its stages (number, name, job, state, items, the current one marked), --json too; fj jobs puts its stage jobs under it', async () => {
      const handle = await submitPipeline(p(), { count: 60, slowScale: 100 }, where);
      const id = handle.id;
      const env = { env: { FJ_BROKER_URL: BROKER_URL } };
      await waitFor('stage 2 to run', async () => (await handle.status()).stage?.startsWith('2/3'), 30_000);
      const stage2 = await attach(`${id}.2`, where);
      await waitFor('its job to be coordinated', async () => (await stage2.status()).state === 'running', 30_000);
      const s = await runFj(['status', id, '--store', store], env);
      expect(s.code, s.stderr).toBe(0);
      expect(s.stdout).toContain(`pipeline ${id}\n  state:      running\n  stage:      2/3 scale\n`);
      expect(s.stdout).not.toMatch(/items:|results queue|coordinator:/); // a pipeline runs no items of its own
      expect(s.stdout).toMatch(new RegExp(`\\n    1 +squares +${id}\\.1 +succeeded +60/60\\n`));
      expect(s.stdout).toMatch(new RegExp(`\\n    2 +scale +${id}\\.2 +running \\(\\w+\\) +\\d+/60 +<- current\\n`));
      expect(s.stdout).toMatch(new RegExp(`\\n    3 +total +${id}\\.3 +pending +-\\n`));
      expect(s.stdout).toMatch(new RegExp(`\\n    on-error +report +${id}\\.on-error +pending +-\\n`));
      const running = await runFj(['jobs', '--state', 'running', '--store', store, '--limit', '50'], env);
      expect(running.code, running.stderr).toBe(0);
      const runningIds = running.stdout
        .split('\n')
        .slice(1)
        .filter(Boolean)
        .map((l) => l.split(/\s{2,}/)[0]);
      expect(runningIds).toEqual(expect.arrayContaining([id, `└ ${id}.2`]));
      expect(runningIds).not.toContain(`└ ${id}.1`); // succeeded: not running
      expect(runningIds.indexOf(`└ ${id}.2`)).toBe(runningIds.indexOf(id) + 1);
      await handle.result({ timeoutMs: 60_000 });
      const j = await runFj(['status', id, '--store', store, '--json'], env);
      const report = JSON.parse(j.stdout) as {
        stages: { number: number; job: string; state: string; done: number; current: boolean }[];
      };
      expect(report.stages.map((t) => [t.number, t.job, t.state, t.done, t.current])).toEqual([
        [1, `${id}.1`, 'succeeded', 60, false],
        [2, `${id}.2`, 'succeeded', 60, false],
        [3, `${id}.3`, 'succeeded', 60, false],
        [0, `${id}.on-error`, 'not run', 0, false],
      ]);
      const all = await runFj(['jobs', '--store', store, '--limit', '50'], env);
      const ids = all.stdout
        .split('\n')
        .slice(1)
        .filter(Boolean)
        .map((l) => l.split(/\s{2,}/)[0]);
      const at = ids.indexOf(id);
      expect(ids.slice(at, at + 4)).toEqual([id, `└ ${id}.1`, `└ ${id}.2`, `└ ${id}.3`]);
      const json = JSON.parse((await runFj(['jobs', '--store', store, '--json', '--limit', '50'], env)).stdout) as {
        jobs: { id: string; pipeline?: { id: string; stage: number } }[];
      };
      expect(json.jobs.find((v) => v.id === `${id}.2`)?.pipeline).toEqual({ id, stage: 2 });
      expect(json.jobs.find((v) => v.id === id)?.pipeline).toBeUndefined();
    }, 90_000);

    it('fj rerun of a failed pipeline: a new pipeline from the failed stage (its failed items only, its kept results seeded), then the stages after it', async () => {
      const breakFile = join(dir, 'scale-broken');
      writeFileSync(breakFile, '');
      const count = 400;
      const handle = await submitPipeline(p(), { count, breakFile }, where);
      const err = (await handle.result({ timeoutMs: 60_000 }).catch((e: unknown) => e)) as Error;
      expect(err.message).toMatch(/^pipeline squares: stage 2 \(scale\) failed: .*value 49 broke scale/);
      const kept = (await (await attach(`${handle.id}.2`, where)).status()).done;
      const ran = () => readFileSync(`${breakFile}.ran`, 'utf8').split('\n').filter(Boolean).length;
      // A re-run while the fault is still there fails at stage 2 again; its on-error stage gets stage 1's output, from the first pipeline's job.
      const second = await rerunPipeline(p(), handle.id, where);
      await expect(second.result({ timeoutMs: 60_000 })).rejects.toThrow(/^pipeline squares: stage 2 \(scale\) failed/);
      const runs = reports();
      expect(runs).toHaveLength(2);
      expect(runs[1].finished.map((f) => f.stage)).toEqual(['squares']);
      expect((runs[1].finished[0].output as { values: number[] }).values).toHaveLength(count);
      const ranFirst = ran();
      rmSync(breakFile); // the fault is fixed
      const env = { env: { FJ_BROKER_URL: BROKER_URL } };
      // The re-run of the re-run (its stage 1 two pipelines back) runs stage 2's failed items, then stage 3.
      const bare = await runFj(['rerun', second.id, '--store', store], env);
      expect(bare.code).toBe(2); // the pipeline's module is its own: fj never loads code a store record names
      expect(bare.stderr).toContain(`fj rerun ${second.id} --task MODULE`);
      const kept2 = (await (await attach(`${second.id}.2`, where)).status()).done;
      const r = await runFj(
        ['rerun', second.id, '--task', fixture('pipelines/pipeline-pools.ts'), '--store', store, '--wait'],
        {
          env: { FJ_BROKER_URL: BROKER_URL },
          timeoutMs: 90_000,
        },
      );
      expect(r.code, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as Totals).total).toBe(expectedTotal(count));
      const again = /^fj: pipeline (\S+) submitted/m.exec(r.stderr)![1];
      // Stage 1 did not run again: the new pipeline's stage 1 is the first one's job.
      await expect(attach(`${again}.1`, where)).rejects.toThrow(/no job/);
      const s = await runFj(['status', again, '--store', store, '--json'], env);
      const stages = (JSON.parse(s.stdout) as { stages: { number: number; job: string; state: string }[] }).stages;
      expect(stages.map((t) => [t.number, t.job, t.state])).toEqual([
        [1, `${handle.id}.1`, 'succeeded'],
        [2, `${again}.2`, 'succeeded'],
        [3, `${again}.3`, 'succeeded'],
        [0, `${again}.on-error`, 'not run'],
      ]);
      // Stage 2 ran only the items the failed job left without a result: its kept results were seeded.
      const rerun2 = await (await attach(`${again}.2`, where)).status();
      expect(rerun2.done).toBe(count);
      expect(kept).toBeGreaterThan(0);
      expect(ran() - ranFirst).toBe(count - kept2);
      expect(reports()).toHaveLength(2); // the on-error stage ran once for each failure, not for the re-run that succeeded
    }, 120_000);

    it('an output that does not fit the next stage fails it naming both stages and the path', async () => {
      const bad = pipeline(Squares).pipe(Shout as never, { queue: poolB });
      const handle = await submitPipeline(bad, { count: 3 }, where);
      const err = (await handle.result({ timeoutMs: 60_000 }).catch((e: unknown) => e)) as Error;
      expect(err.message).toContain('the output of stage 1 (squares), as the input of stage 2 (shout)');
      expect(err.message).toContain('\n  /words: is required');
      expect((err as unknown as { exitCode: number }).exitCode).toBe(2);
    }, 90_000);

    it.each([
      [1, 'squares', { slowSquares: 100 }],
      [2, 'scale', { slowScale: 100 }],
      [3, 'total', { slowTotal: 100 }],
    ] as const)(
      'fj cancel of the pipeline during stage %i stops that stage, queues no later one, and runs the on-error stage once, its input naming the stage',
      async (number, name, slow) => {
        const handle = await submitPipeline(p(), { count: 80, ...slow }, where);
        await waitFor(
          `stage ${number} to run`,
          async () => (await handle.status()).stage?.startsWith(`${number}/3`),
          30_000,
          50,
        );
        const stage = await attach(`${handle.id}.${number}`, where);
        await waitFor(
          `stage ${number} to run items`,
          async () => {
            const v = await stage.status();
            return v.state === 'running' && v.done > 0;
          },
          30_000,
          50,
        );
        const c = await runFj(['cancel', handle.id, '--store', store], { env: { FJ_BROKER_URL: BROKER_URL } });
        expect(c.code, c.stderr).toBe(0);
        expect(c.stderr).toContain(`fj: pipeline ${handle.id} cancelled (its stage job ${handle.id}.${number} stops)`);
        const err = (await handle.result({ timeoutMs: 60_000 }).catch((e: unknown) => e)) as Error;
        expect(err).toBeInstanceOf(CancelledError);
        expect(err.message).toMatch(new RegExp(`^pipeline squares: stage ${number} \\(${name}\\) was cancelled`));
        expect((await stage.status()).state).toBe('cancelled');
        if (number < 3) await expect(attach(`${handle.id}.${number + 1}`, where)).rejects.toThrow(/no job/);
        await new Promise((r) => setTimeout(r, 500)); // exactly once: no second run comes later
        const runs = reports();
        expect(runs).toHaveLength(1);
        expect(runs[0]).toMatchObject({
          cancelled: true,
          stage: { number, name },
          error: { code: 'FJ_CANCELLED' },
        });
        expect(runs[0].finished.map((f) => f.stage)).toEqual(['squares', 'scale'].slice(0, number - 1));
      },
      90_000,
    );

    it.each([
      ['squares', 1, 'squares'],
      ['scale', 2, 'scale'],
      ['total', 3, 'total'],
      ['total-join', 3, 'total'],
    ] as const)(
      'a failure in %s: the pipeline fails at stage %i, no later stage is queued, the on-error stage runs once on a worker, its input naming the stage',
      async (failIn, number, name) => {
        const handle = await submitPipeline(p(), { count: 30, failIn }, where);
        const err = (await handle.result({ timeoutMs: 60_000 }).catch((e: unknown) => e)) as PipelineError;
        expect(err).toBeInstanceOf(PipelineError);
        expect(err.stage).toEqual({ number, name, task: name });
        expect(err.message).toMatch(new RegExp(`^pipeline squares: stage ${number} \\(${name}\\) failed: `));
        expect(err.message).toContain('(the on-error stage report ran)');
        if (number < 3) await expect(attach(`${handle.id}.${number + 1}`, where)).rejects.toThrow(/no job/);
        expect((await (await attach(`${handle.id}.on-error`, where)).status()).state).toBe('succeeded');
        await new Promise((r) => setTimeout(r, 500)); // exactly once: no second run comes later
        const runs = reports();
        expect(runs).toHaveLength(1);
        expect(runs[0]).toMatchObject({ stage: { number, name }, cancelled: false, error: { code: 'FJ_TASK' } });
        expect(runs[0].finished.map((f) => f.stage)).toEqual(['squares', 'scale'].slice(0, number - 1));
        if (failIn === 'total-join') expect(runs[0].error.message).toContain('the join of total broke on purpose');
      },
      90_000,
    );

    it('a stage message delivered again after the pipeline ended changes nothing (each stage ran once)', async () => {
      const handle = await submitPipeline(p(), { count: 50 }, where);
      await handle.result({ timeoutMs: 60_000 });
      const before = await Promise.all([1, 2, 3].map(async (n) => (await attach(`${handle.id}.${n}`, where)).status()));
      await publishJobMessage(poolA, `${handle.id}.1`);
      await waitFor('the message to be taken', async () => (await queueDepth(`${poolA}.jobs`)) === 0, 20_000);
      await new Promise((r) => setTimeout(r, 500)); // the worker that took it acts on it
      const after = await Promise.all([1, 2, 3].map(async (n) => (await attach(`${handle.id}.${n}`, where)).status()));
      expect(after.map((v) => v.finished)).toEqual(before.map((v) => v.finished));
      expect((await handle.status()).state).toBe('succeeded');
    }, 90_000);

    it('kill -9 of the worker coordinating stage 1: another takes it over, and the pipeline ends as eager', async () => {
      // 200 items of 100 ms on 4 slots: ~5 s, long enough to be seen running between its status writes.
      const handle = await submitPipeline(p(), { count: 200, slowSquares: 100 }, where);
      const stage1 = await attach(`${handle.id}.1`, where);
      let seen: unknown;
      const coordinator = await waitFor(
        'stage 1 to be coordinated, 20 of its items done',
        async () => {
          const v = await stage1.status();
          seen = { state: v.state, done: v.done, coordinator: v.coordinator, phase: v.phase };
          return v.state === 'running' && v.done > 20 && v.coordinator ? v.coordinator : undefined;
        },
        60_000,
      ).catch((err: Error) => {
        throw new Error(
          `${err.message}; stage 1 last seen: ${JSON.stringify(seen)}\n${workers
            .map((w) => w.log())
            .join('\n')
            .slice(-4000)}`,
        );
      });
      const victim = byName.get(coordinator);
      expect(victim, `coordinator ${coordinator}`).toBeDefined();
      victim!.child.kill('SIGKILL');
      await victim!.exited;
      workers.push(await startA('wa3'));
      const out = (await handle.result({ timeoutMs: 90_000 })) as Totals;
      expect(out.total).toBe(expectedTotal(200));
      expect((await stage1.status()).coordinator).not.toBe(coordinator);
    }, 120_000);
  });
});
