/**
 * `fj resume` against a store others may write to, and against itself:
 * - a job record names code, but resume never loads code a record names: the
 *   user names the task (`--task`), whose fingerprint is checked before the
 *   module is imported;
 * - a refused resume (the job is still attached, or already finished and
 *   kept) touches nothing;
 * - two resumes at once: exactly one attaches, the other is refused, and the
 *   job still finishes with the right output.
 *
 *   npx vitest run --project reliability test/reliability/resume-trust.test.ts
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { codeHashOf } from '../../src/task/code-hash.js';
import type { ChaosOutput } from '../fixtures/chaos.js';
import { brokerAvailable, deleteQueues } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';
import { CHAOS, expected, fj, scenario } from './harness.js';

const available = await brokerAvailable();

describe.runIf(available)('fj resume: trust and refusals', () => {
  const { dir, store, pool } = scenario('resume-trust');
  const storeDir = fileURLToPath(store);
  const common = ['--store', store];

  /** Starts a chaos job on `queue` and kills its coordinator once the job is listed; returns its id. */
  async function orphan(name: string, queue: string, input: object): Promise<string> {
    const file = join(dir, `input-${name}.json`);
    writeFileSync(file, JSON.stringify(input));
    const jobId = `${name}-${Date.now()}`;
    const first = fj(['run', CHAOS, file, '--executor', 'amqp', '--queue', queue, '--job-id', jobId, ...common]);
    await waitFor(
      'the job to be listed by fj status',
      async () => (await fj(['status', jobId, ...common]).exited) === 0,
      30_000,
      200,
    );
    first.child.kill('SIGKILL');
    await first.exited;
    return jobId;
  }

  it('never imports a module a job record names; --task is checked by fingerprint before it is imported', async () => {
    const queue = `${pool.queue}.idle-a`;
    const jobId = await orphan('planted', queue, { n: 20 });
    try {
      // Someone who can write to the store points the job at a module of theirs.
      const marker = join(dir, 'planted-module-ran');
      const planted = join(dir, 'planted.mjs');
      writeFileSync(
        planted,
        `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'ran');\nexport default class X {}\n`,
      );
      const manifestFile = join(storeDir, jobId, 'meta-manifest');
      const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as {
        task: { module: string; name: string; codeHash: string };
      };
      manifest.task.module = `file://${planted}`;
      // and its fingerprint too (the record is unsigned): no fingerprint check stands in for "never load a recorded module"
      manifest.task.codeHash = codeHashOf(planted);
      writeFileSync(manifestFile, JSON.stringify(manifest));

      const bare = fj(['resume', jobId, ...common]);
      expect(await bare.exited, bare.stderr()).toBe(2);
      expect(existsSync(marker)).toBe(false);
      expect(bare.stderr()).toContain(
        `job ${jobId} runs task "chaos" from a module of its own; name that module to resume it: fj resume ${jobId} --task MODULE`,
      );
      expect(existsSync(marker)).toBe(false);

      // Naming a module whose code is not the job's: refused before it is imported.
      const other = join(dir, 'other-chaos.ts');
      writeFileSync(
        other,
        `${readFileSync(CHAOS, 'utf8').replace("'../../src/index.js'", "'fj'")}\nwriteFileSync(${JSON.stringify(marker)}, 'ran');\nimport { writeFileSync } from 'node:fs';\n`,
      );
      const wrong = fj(['resume', jobId, '--task', other, ...common]);
      expect(await wrong.exited, wrong.stderr()).toBe(2);
      expect(wrong.stderr()).toMatch(/the code of task chaos changed since the job started/);
      expect(existsSync(marker)).toBe(false);
    } finally {
      await fj(['cancel', jobId, ...common]).exited;
      await deleteQueues(queue);
    }
  });

  it('a resume refused because the coordinator is still attached touches nothing; the job finishes', async () => {
    if (pool.alive.length < 2) await pool.start(2 - pool.alive.length);
    const file = join(dir, 'input-attached.json');
    const input = { n: 300, ms: 20 };
    writeFileSync(file, JSON.stringify(input));
    const want = await expected(input);
    const jobId = `attached-${Date.now()}`;
    const run = fj(['run', CHAOS, file, '--executor', 'amqp', '--queue', pool.queue, '--job-id', jobId, ...common]);
    await waitFor(
      'the job to be listed by fj status',
      async () => (await fj(['status', jobId, ...common]).exited) === 0,
      30_000,
      200,
    );
    const before = readdirSync(join(storeDir, jobId)).sort();
    const refused = fj(['resume', jobId, '--task', CHAOS, ...common]);
    expect(await refused.exited, refused.stderr()).toBe(2);
    expect(refused.stderr()).toMatch(/still attached to a running coordinator/);
    expect(readdirSync(join(storeDir, jobId)).sort()).toEqual(expect.arrayContaining(before));
    expect(await run.exited, run.stderr()).toBe(0);
    expect(JSON.parse(run.stdout())).toEqual(want);
  });

  it('resuming a finished job kept with --keep is refused and deletes nothing', async () => {
    if (pool.alive.length < 2) await pool.start(2 - pool.alive.length);
    const file = join(dir, 'input-kept.json');
    writeFileSync(file, JSON.stringify({ n: 30 }));
    const jobId = `kept-${Date.now()}`;
    const run = fj([
      'run',
      CHAOS,
      file,
      '--executor',
      'amqp',
      '--queue',
      pool.queue,
      '--job-id',
      jobId,
      '--keep',
      ...common,
    ]);
    expect(await run.exited, run.stderr()).toBe(0);
    const kept = readdirSync(join(storeDir, jobId)).sort();
    expect(kept).toContain('meta-manifest');
    const refused = fj(['resume', jobId, '--task', CHAOS, ...common]);
    expect(await refused.exited, refused.stderr()).toBe(2);
    expect(refused.stderr()).toMatch(/has no results queue on the broker: it finished/);
    expect(readdirSync(join(storeDir, jobId)).sort()).toEqual(kept);
  });

  it('two resumes at once: exactly one attaches, the other is refused, the output is right', async () => {
    const input = { n: 200, ms: 10 };
    const want = await expected(input);
    const jobId = await orphan('twice', pool.queue, input);
    if (pool.alive.length < 2) await pool.start(2 - pool.alive.length);
    const a = fj(['resume', jobId, '--task', CHAOS, ...common]);
    const b = fj(['resume', jobId, '--task', CHAOS, ...common]);
    const codes = await Promise.all([a.exited, b.exited]);
    const winner = codes[0] === 0 ? a : b;
    const loser = codes[0] === 0 ? b : a;
    expect(codes.slice().sort(), `${a.stderr()}\n---\n${b.stderr()}`).toEqual([0, 2]);
    expect(loser.stderr()).toMatch(/still attached to a running coordinator/);
    expect(JSON.parse(winner.stdout()) as ChaosOutput).toEqual(want);
  });
});
