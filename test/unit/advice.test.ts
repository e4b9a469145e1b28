/**
 * Advice fj prints must name a command that works: the `fj worker` that
 * serves a task (with `--tasks` and the module's path for a task of the
 * user's own), and messages whose grammar holds for one worker and for many.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { noWorkerServes } from '../../src/executors/amqp/amqp-transport.js';
import { builtinTasksDir } from '../../src/core/paths.js';
import { workerCommand } from '../../src/task/task-lookup.js';
import type { TaskInfo } from '../../src/task/registry.js';

describe('workerCommand: the fj worker that serves a task', () => {
  const cwd = '/home/me/project';
  it('a built-in task needs no --tasks', () => {
    expect(workerCommand('q', pathToFileURL(join(builtinTasksDir, 'wordcount.js')).href, cwd)).toBe(
      'fj worker --queue q',
    );
  });
  it("a module of the user's own is named by its path, relative to the working directory", () => {
    expect(workerCommand('trial.nu', pathToFileURL('/home/me/project/tasks/kmers.ts').href, cwd)).toBe(
      'fj worker --queue trial.nu --tasks ./tasks/kmers.ts',
    );
  });
  it('a module elsewhere by its absolute path, quoted when the shell needs it', () => {
    expect(workerCommand('q', pathToFileURL('/srv/my tasks/k.ts').href, cwd)).toBe(
      'fj worker --queue q --tasks "/srv/my tasks/k.ts"',
    );
  });
});

describe('noWorkerServes: who lacks the task', () => {
  const task = { name: 'kmers', moduleUrl: pathToFileURL(join(process.cwd(), 'tasks', 'kmers.ts')).href } as TaskInfo;
  it('one worker: "its only worker (nuw3) lacks it", and the command names the module', () => {
    const m = noWorkerServes('trial.nu', task, ['nuw3'], 1);
    expect(m).toContain('its only worker (nuw3) lacks it;');
    expect(m).toContain("start one with 'fj worker --queue trial.nu --tasks ./tasks/kmers.ts'");
  });
  it('several: "all 2 of its workers (a, b) lack it"', () => {
    expect(noWorkerServes('q', task, ['a', 'b'], 2)).toContain('all 2 of its workers (a, b) lack it;');
  });
});
