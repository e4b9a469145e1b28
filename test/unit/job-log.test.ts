import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/log.js';
import { JobLog } from '../../src/worker/job-log.js';
import { waitFor } from '../helpers/wait.js';

function logged(): { lines: string[]; jobs: JobLog } {
  const lines: string[] = [];
  return {
    lines,
    jobs: new JobLog(
      createLogger('w', 'info', (l) => lines.push(l.trimEnd())),
      50,
    ),
  };
}

describe("a worker's job log", () => {
  it('a start line at the first message, an end line once the job is quiet here, with items and failures', async () => {
    const { lines, jobs } = logged();
    jobs.start('j1', 'sleepy');
    jobs.start('j1', 'sleepy');
    jobs.done('j1', 10, 1);
    expect(lines).toEqual(['fj info [w] job j1 (task sleepy): started here']);
    jobs.done('j1', 5, 0);
    await waitFor('the end line', () => lines.length === 2, 5_000, 10);
    expect(lines[1]).toMatch(
      /^fj info \[w\] job j1 \(task sleepy\): done here: 15 items in 2 messages, 1 failed, \d+\.\d s from its first message to its last result$/,
    );
  });

  it("logs a cancel only for a job it has seen (every worker hears every job's cancels)", () => {
    const { lines, jobs } = logged();
    jobs.cancelled('other', '');
    expect(lines).toEqual([]);
    jobs.start('mine', 'sleepy');
    jobs.cancelled('mine', ': aborting 1 message(s) in hand');
    expect(lines.at(-1)).toBe('fj info [w] job mine cancelled: aborting 1 message(s) in hand');
  });

  it('close() writes the end line of a job still open', () => {
    const { lines, jobs } = logged();
    jobs.start('j', 't');
    jobs.done('j', 3, 0);
    jobs.close();
    expect(lines.at(-1)).toMatch(/job j \(task t\): done here: 3 items in 1 messages, 0 failed/);
  });
});
