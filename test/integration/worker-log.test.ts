/**
 * What an `fj worker` logs, read from a real worker's stderr: every line with
 * its time (text) or as one JSON object (`--log-format json`), a task's own
 * info lines, and a start and an end line per job it served.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BROKER_URL, brokerAvailable, deleteQueues, startWorkerProc, stopWorkerProc } from '../helpers/broker.js';
import { runJob } from '../../src/index.js';

const CHATTY = join(import.meta.dirname, '..', 'fixtures', 'chatty.ts');
const withBroker = await brokerAvailable();

describe.runIf(withBroker)('fj worker logs', () => {
  async function serveOneJob(format: 'text' | 'json'): Promise<{ lines: string[]; jobId: string }> {
    const queue = `fj.test.worker-log.${randomUUID()}`;
    const worker = await startWorkerProc([
      '--broker',
      BROKER_URL,
      '--queue',
      queue,
      '--concurrency',
      '1',
      '--log-format',
      format,
      '--tasks',
      CHATTY,
    ]);
    const jobId = randomUUID();
    try {
      const { output } = await runJob(
        CHATTY,
        { count: 300, ms: 0 },
        { executor: 'amqp', broker: BROKER_URL, queue, jobId },
      );
      expect(output).toBe(300);
    } finally {
      await stopWorkerProc(worker); // a stopping worker writes the end line of every job it served
      await deleteQueues(queue);
    }
    return {
      lines: worker
        .log()
        .split('\n')
        .filter((l) => l.trim() !== ''),
      jobId,
    };
  }

  it(
    "text: every line starts with its time; a start and an end line for the job; the task's info shows",
    { timeout: 60_000 },
    async () => {
      const { lines, jobId } = await serveOneJob('text');
      const log = lines.join('\n');
      for (const l of lines)
        expect(l, log).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z fj (error|warn|info|debug) \[/);
      expect(log).toContain(`job ${jobId} (task chatty): started here`);
      expect(log).toMatch(
        new RegExp(`job ${jobId} \\(task chatty\\): done here: 300 items in \\d+ messages, 0 failed, \\d+\\.\\d s`),
      );
      expect(log).toMatch(/fj info \[chatty [^\]]+\] first item/);
    },
  );

  it('--log-format json: one JSON object per line, with time, level, scope and msg', { timeout: 60_000 }, async () => {
    const { lines, jobId } = await serveOneJob('json');
    const records = lines.map((l) => JSON.parse(l) as { time: string; level: string; scope: string; msg: string });
    for (const r of records) {
      expect(Object.keys(r)).toEqual(['time', 'level', 'scope', 'msg']);
      expect(Number.isNaN(Date.parse(r.time))).toBe(false);
    }
    expect(records.some((r) => r.msg === `job ${jobId} (task chatty): started here`)).toBe(true);
    expect(records.some((r) => r.msg.startsWith(`job ${jobId} (task chatty): done here: 300 items`))).toBe(true);
    expect(records.some((r) => r.level === 'warn' && r.msg.startsWith('reached item 250'))).toBe(true);
  });
});
