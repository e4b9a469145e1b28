/**
 * What a job does when its pool's workers stop running its code. A job's
 * items go only to workers that run its task's code (its code queue, see
 * broker/amqp.ts `codeQueue`); a rolling deploy can replace the last of
 * them. While the pool has workers but none consumes the job's code queue
 * for {@link NO_CODE_GRACE_MS}, the job fails, naming the versions the
 * pool's workers run (their heartbeats: pool-capacity.ts), or, when
 * `onCodeChange` is `follow` and they run one version, moves to it: its
 * items are published for that code from then on, and what was unanswered
 * is sent again. A pool with no worker at all is not this: the job waits
 * for one (the warning at the start says so).
 */
import { WorkerRefusedError } from '../../core/errors.js';
import type { JobPlan } from '../../dispatch/job-plan.js';
import type { TransportEvents } from '../../dispatch/transport.js';
import { codeQueueSpec, declareQueue } from '../../broker/amqp.js';
import { show } from '../../broker/inspect.js';
import type { LinkSession } from '../../broker/resilient-link.js';
import { workerCommand } from '../../task/task-lookup.js';
import type { PoolCapacity } from './pool-capacity.js';
import type { CodeReading } from './pool-watch.js';
import type { AmqpJob, WorkPublisher } from './publisher.js';

/**
 * How long a job waits while its pool has workers but none runs its code
 * (a rolling deploy replaced the last one, or none ever served the task)
 * before it fails, or follows the new code when the job allows it
 * (`onCodeChange`). Long enough for a worker restarted on the same code to
 * come back.
 */
export const NO_CODE_GRACE_MS = 5000;

/** What the watch needs of its job's transport. */
export interface CodeWatchParts {
  readonly plan: JobPlan;
  readonly job: AmqpJob;
  /** The job's publisher: the code its items go to, and {@link WorkPublisher.follow}. */
  readonly out: WorkPublisher;
  /** The pool's workers by the code they run (their heartbeats). */
  readonly capacity: PoolCapacity;
  /** The link's session while it is up. */
  readonly session: () => LinkSession | undefined;
  /** Whether the job is ending (nothing more is decided). */
  readonly closing: () => boolean;
  /** The dispatcher's events (set once the transport is open). */
  readonly events: () => TransportEvents;
}

export class CodeWatch {
  /** Since when the pool has had workers but none running the job's code; undefined while some do (or none is there). */
  private codeless: number | undefined;
  private deciding = false;

  constructor(private readonly p: CodeWatchParts) {}

  /** A reading of who can run the job's items (pool-watch.ts, a few times a second). */
  reading(r: CodeReading): void {
    const { plan, job, out } = this.p;
    if (this.p.closing()) return;
    const { log, task } = plan;
    if (r.codeConsumers > 0 || !r.poolConsumers) {
      if (this.codeless !== undefined && r.codeConsumers > 0)
        log.info(`a worker of pool ${job.queue} runs task ${show(task.name)}'s code ${out.codeHash} again`);
      this.codeless = undefined;
      return;
    }
    if (this.codeless === undefined) {
      this.codeless = Date.now();
      log.warn(
        `no worker of pool ${job.queue} runs task ${show(task.name)} with this job's code (${out.codeHash}) now (${r.poolConsumers} on the pool run other code or lack the task); ` +
          `the job ${plan.options.onCodeChange === 'follow' ? 'follows the code they run' : 'fails'} in ${NO_CODE_GRACE_MS / 1000} s unless one comes back`,
      );
    }
    if (Date.now() - this.codeless < NO_CODE_GRACE_MS || this.deciding) return;
    this.deciding = true;
    void this.decide(r.poolConsumers).finally(() => (this.deciding = false));
  }

  /** No worker has run the job's code for the grace: follow the pool's one other version (when allowed), else fail naming what runs. */
  private async decide(poolConsumers: number): Promise<void> {
    const { plan, job, out, capacity } = this.p;
    const { log, task, options } = plan;
    const { jobId, queue } = job;
    await capacity.refresh();
    const session = this.p.session();
    if (this.p.closing() || this.codeless === undefined || !session) return;
    const mine = out.codeHash;
    const { running, lacking } = capacity.versions;
    if (running.size === 0 && lacking.length === 0) {
      // No heartbeat of the pool's workers read (between two workers of a rolling deploy, a store slow to answer):
      // nothing says the job's code is gone. Looked at again after the grace.
      this.codeless = undefined;
      log.info(
        `job ${jobId}: the broker counts no consumer of task ${show(task.name)}'s code queue and no worker heartbeat of pool ${queue} was read: waiting`,
      );
      return;
    }
    if (running.has(mine)) {
      // The broker counts no consumer of the code queue, but live workers' heartbeats say they run this code: on a
      // cluster a quorum queue's leader changing (a node lost or cut off) shows 0 consumers for a while. Not a reason to fail.
      this.codeless = undefined;
      log.info(
        `job ${jobId}: the broker counts no consumer of task ${show(task.name)}'s code queue, but ${running.get(mine)!.join(', ')} run its code ${mine}: waiting for them`,
      );
      return;
    }
    const others = [...running].filter(([hash]) => hash !== mine);
    if (options.onCodeChange === 'follow' && others.length === 1) {
      const [hash, names] = others[0];
      await declareQueue(session.ch, codeQueueSpec(queue, task.name, hash, options.queueType));
      const resent = out.follow(hash, session.publisher);
      this.codeless = undefined;
      log.warn(
        `job ${jobId}: no live worker of pool ${queue} runs task ${show(task.name)}'s code ${mine} any more: following the code its workers run now, ${hash} (${names.join(', ')}), as onCodeChange 'follow' allows; ${resent} message(s) sent again. Items answered before ran ${mine}`,
      );
      this.p.events().room();
      return;
    }
    const start = `start one with '${workerCommand(queue, task.moduleUrl)}'`;
    this.p
      .events()
      .fatal(new WorkerRefusedError(noCodeMessage(queue, task.name, mine, poolConsumers, others, lacking, start)));
  }
}

/**
 * Why a job cannot go on: no worker of `pool` runs its `task` with its code
 * `mine`; what they run instead (`others`: code hash and worker names;
 * `lacking`: workers without the task), and how to start one (`start`).
 * Attached runs and detached jobs' coordinators (worker/job-code.ts) say it alike.
 */
export function noCodeMessage(
  pool: string,
  task: string,
  mine: string,
  poolConsumers: number,
  others: Array<[string, readonly string[]]>,
  lacking: readonly string[],
  start: string,
): string {
  if (others.length === 0) {
    const who = lacking.length ? ` (${lacking.join(', ')})` : '';
    return `no worker on pool ${pool} serves task ${show(task)}: ${poolConsumers === 1 ? `its only worker${who} lacks it` : `its ${poolConsumers} workers${who} lack it`}; ${start}`;
  }
  const versions = others.map(([hash, names]) => `${hash} (${names.join(', ')})`).join('; ');
  const without = lacking.length ? `; ${lacking.join(', ')} ${lacking.length === 1 ? 'lacks' : 'lack'} the task` : '';
  return (
    `no worker on pool ${pool} runs task ${show(task)} with this job's code (${mine}): its workers run ${versions}${without}. ` +
    `The job cannot finish with its own code: start a worker with it, submit the job again, or let it move to the new code (onCodeChange 'follow', --on-code-change follow)${others.length > 1 ? ' once the pool runs one version' : ''}`
  );
}
