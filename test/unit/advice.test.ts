/**
 * Advice fj prints must name a command that works: the `fj worker` that
 * serves a task (with `--tasks` and the module's path for a task of the
 * user's own), and messages whose grammar holds for one worker and for many.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { noWorkerServes } from '../../src/executors/amqp/amqp-transport.js';
import { noCodeMessage } from '../../src/executors/amqp/code-watch.js';
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

describe('noCodeMessage: no worker runs the job’s code', () => {
  const start = "start one with 'fj worker --queue q'";
  it('one worker without the task: "its only worker (nuw3) lacks it", named before the verb', () => {
    expect(noCodeMessage('q', 'kmers', 'c1', 1, [], ['nuw3'], start)).toBe(
      `no worker on pool q serves task "kmers": its only worker (nuw3) lacks it; ${start}`,
    );
    expect(noCodeMessage('q', 'kmers', 'c1', 2, [], ['a', 'b'], start)).toContain('its 2 workers (a, b) lack it;');
    expect(noCodeMessage('q', 'kmers', 'c1', 1, [], [], start)).toContain('its only worker lacks it;');
  });
  it('workers on other code, one without the task: "nuw3 lacks the task"', () => {
    const m = noCodeMessage('q', 'kmers', 'c1', 2, [['c2', ['nuw2']]], ['nuw3'], start);
    expect(m).toContain('its workers run c2 (nuw2); nuw3 lacks the task.');
    expect(noCodeMessage('q', 'kmers', 'c1', 3, [['c2', ['w1']]], ['a', 'b'], start)).toContain(
      '; a, b lack the task.',
    );
  });
});

describe('noWorkerServes: no names known', () => {
  it('says who without empty brackets', () => {
    const task = { name: 'kmers', moduleUrl: pathToFileURL(join(builtinTasksDir, 'wordcount.js')).href } as TaskInfo;
    expect(noWorkerServes('q', task, [], 1)).toContain('its only worker lacks it;');
  });
});
