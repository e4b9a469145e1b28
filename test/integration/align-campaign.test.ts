/**
 * The shipped pipeline `align-campaign` (pipelines/align-campaign.ts) on the
 * built-in tasks: raw reads cleaned (`align-prepare`), aligned (`align`),
 * summarised by a fold (`align-summary`), and on failure one record written
 * by `failure-record`. Run as a user runs it, `fj run align-campaign` of the
 * built CLI on worker threads, and compared with the same pipeline eager;
 * and on RabbitMQ, where `align`'s items go only to `$FJ_ALIGN_QUEUE`'s pool.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { PipelineError, run, runPipeline } from '../../src/index.js';
import campaign from '../../pipelines/align-campaign.js';
import Align from '../../tasks/align.js';
import AlignPrepare, { type AlignPrepareInput } from '../../tasks/align-prepare.js';
import AlignSummary from '../../tasks/align-summary.js';
import type { FailureRecordFile } from '../../tasks/failure-record.js';
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
import { loadTask } from '../../src/task/registry.js';

const root = join(import.meta.dirname, '..', '..');
const example = join(root, 'examples', 'align-campaign.json');
const input = JSON.parse(readFileSync(example, 'utf8')) as AlignPrepareInput;
const dir = mkdtempSync(join(tmpdir(), 'fj-align-campaign-'));
const failures = join(dir, 'failures');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The records the on-error stage wrote so far. */
function records(): FailureRecordFile[] {
  if (!existsSync(failures)) return [];
  return readdirSync(failures).map((f) => JSON.parse(readFileSync(join(failures, f), 'utf8')) as FailureRecordFile);
}

/** Three reads, two of them unusable: more than the 20% the prepare stage lets fail. */
const bad = {
  reference: 'ACGTACGTACGTACGTACGTACGTAAAACCCGGGTTT',
  reads: [
    { id: 'good', sequence: 'acgtacgtac gtacgtacgt ac' },
    { id: 'letters', sequence: 'ACGTXACGTACGTACGTACGTACG' },
    { id: 'all-n', sequence: 'NNNNNNNNNNNNNNNNNNNNNNNNNN' },
  ],
};

describe('align-campaign', () => {
  beforeEach(() => {
    rmSync(failures, { recursive: true, force: true });
    process.env.FJ_FAILURE_DIR = failures;
  });

  it('fj run align-campaign on local prints what the pipeline gives eager; the unusable read is left out and named', async () => {
    const r = await runFj(['run', 'align-campaign', example, '-e', 'local', '-c', '2'], {
      env: { FJ_FAILURE_DIR: failures },
    });
    expect(r.code, r.stderr).toBe(0);
    const eager = await runPipeline(campaign, input, { executor: 'eager' });
    expect(JSON.parse(r.stdout)).toEqual(eager.output);
    expect(eager.output).toMatchObject({
      edits: 9,
      aligned: 9,
      unaligned: [],
      best: { id: 'read-05', score: 191 },
      worst: { id: 'read-10', score: 85 },
    });
    expect(eager.output.histogram.reduce((n, b) => n + b.edits, 0)).toBe(9);
    expect(eager.stages.map((s) => [s.stage, s.task, s.stats.items, s.stats.failed])).toEqual([
      ['prepare', 'align-prepare', 9, 1],
      ['align', 'align', 9, 0],
      ['summary', 'align-summary', 9, 0],
    ]);
    // What the README shows on stderr is what fj printed (a terminal also gets the progress bar).
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const stderr = /<!-- stderr: fj run align-campaign examples\/align-campaign\.json -->\s*\n```\n([\s\S]*?)```/.exec(
      readme,
    );
    expect(stderr, 'the marked stderr block').not.toBeNull();
    expect(r.stderr).toBe(stderr![1]);
    expect(r.stderr).toMatch(
      /item 8: stage prepare: .*read read-09: 9 bases once cleaned and trimmed, fewer than minLength 20/,
    );
    expect(records()).toEqual([]); // it did not fail: no record
  });

  it("the README's Pipelines section shows this pipeline and the output it prints", async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const source = readFileSync(join(root, 'pipelines', 'align-campaign.ts'), 'utf8');
    expect(readme).toContain(source.slice(source.indexOf('export default pipeline(')));
    const shown =
      /<!-- output: fj run align-campaign examples\/align-campaign\.json -->\s*\n```json\n([\s\S]*?)```/.exec(readme);
    expect(shown, 'the marked output block').not.toBeNull();
    const eager = await runPipeline(campaign, input, { executor: 'eager' });
    expect(JSON.parse(shown![1])).toEqual(eager.output);
  });

  it('its summary agrees with align run on the cleaned reads by hand', async () => {
    const prepared = await run(AlignPrepare, input, { executor: 'eager', onFailure: 'collect' });
    expect(prepared.edits.map((e) => e.id)).not.toContain('read-09');
    expect(prepared.reference).toMatch(/^[ACGT]+$/); // line breaks dropped, upper case
    expect(prepared.edits.every((e) => /^[ACGT]+$/.test(e.sequence))).toBe(true); // spaces, '-', N ends gone
    const aligned = await run(Align, prepared, { executor: 'eager' });
    const summary = await run(AlignSummary, aligned, { executor: 'eager', checkLaws: true });
    expect(summary.best).toEqual({ id: aligned.summary.bestId, score: aligned.summary.bestScore });
    expect(summary.meanScore).toBeCloseTo(aligned.summary.meanScore, 2);
    expect(summary.aligned).toBe(aligned.summary.aligned);
  });

  it('too many unusable reads: exit 1 naming stage 1, and one failure record with the reads that failed', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify(bad));
    const r = await runFj(['run', 'align-campaign', file, '-e', 'local', '-c', '2'], {
      env: { FJ_FAILURE_DIR: failures },
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^fj: pipeline align-campaign: stage 1 \(prepare\) failed: /m);
    expect(r.stderr).toContain('(the on-error stage failure-record ran)');
    const written = records();
    expect(written).toHaveLength(1);
    expect(r.stderr).toContain(
      `failure record of pipeline align-campaign: ${join(failures, readdirSync(failures)[0])}`,
    );
    const [record] = written;
    expect(record).toMatchObject({
      pipeline: 'align-campaign',
      stage: { number: 1, name: 'prepare', task: 'align-prepare' },
      cancelled: false,
      error: { code: 'FJ_FAILURES' },
      finished: [],
    });
    expect(Date.parse(record.recordedAt)).not.toBeNaN();
    expect(record.failures.length).toBeGreaterThan(0);
    for (const f of record.failures) expect(f.error.message).toMatch(/read (letters|all-n): /);
  });

  it('from a program, eager: a PipelineError naming the stage, and the record written once', async () => {
    const err = (await runPipeline(campaign, bad, { executor: 'eager' }).catch((e: unknown) => e)) as PipelineError;
    expect(err).toBeInstanceOf(PipelineError);
    expect(err.stage).toEqual({ number: 1, name: 'prepare', task: 'align-prepare' });
    expect(err.onErrorFailure).toBeUndefined();
    expect(records()).toHaveLength(1);
  });

  it('a read is refused naming it and the character that is not a base', async () => {
    const err = await run(
      AlignPrepare,
      { reference: 'ACGT', reads: [{ id: 'r1', sequence: 'ACGT ACGU' }] },
      { executor: 'eager' },
    ).catch((e: unknown) => e);
    expect(String((err as Error).message)).toContain('read r1: "U" at position 9 is not a base (A, C, G, T or N)');
  });

  it('a failure record folder that cannot be written is said plainly, beside the stage error', async () => {
    const blocked = join(dir, 'a-file');
    writeFileSync(blocked, '');
    process.env.FJ_FAILURE_DIR = join(blocked, 'sub');
    const err = (await runPipeline(campaign, bad, { executor: 'eager' }).catch((e: unknown) => e)) as PipelineError;
    expect(err.message).toMatch(
      /the on-error stage failure-record failed too: .*cannot write the failure record in .*a-file.sub/,
    );
    expect(err.message).toContain('set FJ_FAILURE_DIR to a folder this process can write');
  });
});

const available = await brokerAvailable();

describe.runIf(available)('align-campaign on RabbitMQ: align on a pool of its own', () => {
  const main = `fj.test.campaign-main.${randomUUID()}`;
  const alignPool = `fj.test.campaign-align.${randomUUID()}`;
  const store = pathToFileURL(mkdtempSync(join(dir, 'store-'))).href;
  const workers: WorkerProc[] = [];
  const start = async (pool: string) => {
    const w = await startWorkerProc(['--queue', pool, '--store', store, '-c', '1'], { FJ_BROKER_URL: BROKER_URL });
    workers.push(w);
  };

  afterAll(async () => {
    for (const w of workers) await stopWorkerProc(w);
    for (const pool of [main, alignPool]) {
      await deleteQueues(pool);
      for (const name of ['align-prepare', 'align', 'align-summary']) {
        const info = await loadTask(name);
        await deleteQueue(codeQueue(pool, info.name, info.codeHash)).catch(() => {});
      }
    }
  });

  it("stage 2 waits for a worker of $FJ_ALIGN_QUEUE's pool (built-in tasks: no --tasks), then the output is eager's", async () => {
    await start(main); // serves prepare and summary, and align too, but align's items never reach it
    let jobLines = 0;
    let waiting: Promise<void> | undefined;
    let linesWhenAlignPoolStarted = 0;
    const r = await runFj(['run', 'align-campaign', example, '-e', 'amqp', '--queue', main, '--store', store], {
      env: { FJ_BROKER_URL: BROKER_URL, FJ_ALIGN_QUEUE: alignPool, FJ_FAILURE_DIR: failures },
      timeoutMs: 90_000,
      onStderr: (stderr) => {
        jobLines = (stderr.match(/^fj: job [0-9a-f-]{36} /gm) ?? []).length;
        // Stage 2's job exists: give main's worker time to take its items if they went there, then start align's pool.
        if (jobLines === 2 && !waiting)
          waiting = new Promise((r) => setTimeout(r, 1500)).then(() => {
            linesWhenAlignPoolStarted = jobLines;
            return start(alignPool);
          });
      },
    });
    await waiting; // a worker started late is still stopped by afterAll
    expect(r.code, r.stderr).toBe(0);
    expect(jobLines).toBe(3);
    expect(linesWhenAlignPoolStarted).toBe(2); // stage 2 waited: its items were not on main's pool
    const eager = await runPipeline(campaign, input, { executor: 'eager' });
    expect(JSON.parse(r.stdout)).toEqual(eager.output);
    expect(workers).toHaveLength(2);
    expect(records()).toEqual([]);
  }, 120_000);
});
