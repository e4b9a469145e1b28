/**
 * A submitted pipeline's stages as `fj status`, `status()` and the
 * dashboard show them: each stage's job, read from the store like any job
 * (./handle.ts viewOf), beside what the plan says it is.
 */
import type { Signer } from '../core/signing.js';
import { isFinal } from '../store/job-index.js';
import { stageJobId, type PipelinePlan, type StageView } from '../store/pipeline-records.js';
import type { PayloadStore } from '../store/store.js';
import { readManifest } from '../store/job-records.js';
import { viewOf } from './job-view.js';

/**
 * The job of stage `n` of pipeline `id` (0: its on-error stage): its own
 * `<id>.<n>`, or for a stage before where a re-run pipeline started
 * (`plan.from`), the job of that stage of the pipeline it re-runs (and so
 * on, a re-run of a re-run). Undefined when that pipeline's records are gone.
 */
export async function stageJobOf(
  store: PayloadStore,
  id: string,
  plan: PipelinePlan,
  n: number,
  signer: Signer | undefined,
): Promise<string | undefined> {
  let [pid, p] = [id, plan];
  for (let hops = 0; n > 0 && p.from && n < p.from.stage; hops++) {
    if (hops > 100) return undefined; // a loop of records: not made by rerunPipeline
    pid = p.from.pipeline;
    const m = await readManifest(store, pid, signer).catch(() => undefined);
    if (!m?.plan) return undefined;
    p = m.plan;
  }
  return stageJobId(pid, n);
}

/**
 * The stages of pipeline `id` (its `plan`), in order, then its on-error
 * stage if it has one. `ended`: the pipeline has ended, so a stage never
 * queued is `not run` rather than `pending`.
 */
export async function stagesOf(
  store: PayloadStore,
  id: string,
  plan: PipelinePlan,
  ended: boolean,
  signer: Signer | undefined,
): Promise<StageView[]> {
  const planned = plan.stages.map((s, i) => ({ number: i + 1, name: s.name }));
  if (plan.onError) planned.push({ number: 0, name: plan.onError.name });
  return Promise.all(
    planned.map(async ({ number, name }): Promise<StageView> => {
      const job = (await stageJobOf(store, id, plan, number, signer)) ?? stageJobId(id, number);
      const v = await viewOf(store, job, signer).catch(() => undefined);
      if (!v)
        return {
          number,
          name,
          job,
          state: ended ? 'not run' : 'pending',
          done: 0,
          failed: 0,
          total: null,
          current: false,
        };
      return {
        number,
        name,
        job,
        state: v.state,
        done: v.done,
        failed: v.failed,
        total: v.total,
        ...(v.phase ? { phase: v.phase } : {}),
        current: !ended && !isFinal(v.state),
      };
    }),
  );
}
