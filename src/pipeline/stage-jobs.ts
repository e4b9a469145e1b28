/**
 * What submitting a pipeline and continuing one share: the manifest of a
 * stage's job, and the pipeline's own status record as it moves from stage
 * to stage.
 */
import type { Signer } from '../core/signing.js';
import { writeFreshStatus } from '../detached/queue-job.js';
import { MAX_LABEL } from '../store/job-index.js';
import type { DetachedInfo, Manifest } from '../store/job-records.js';
import type { PlannedStage } from '../store/pipeline-records.js';
import type { PayloadStore } from '../store/store.js';

/**
 * The manifest of a stage's job (its input still to set): the stage's task,
 * pool and settings, the pipeline's retention, a label naming the stage,
 * and the link back to the pipeline. `stage` 0 is the on-error stage;
 * `prev` names the stage before (its output is this one's input).
 */
export function stageManifest(
  s: PlannedStage,
  d: DetachedInfo,
  id: string,
  stage: number,
  count: number,
  created: string,
  prev?: string,
): Omit<Manifest, 'input'> {
  const which = stage === 0 ? 'on-error stage' : `stage ${stage}/${count}`;
  return {
    version: 1,
    task: s.task,
    paramsRef: '',
    queue: s.queue,
    options: s.options,
    created,
    runs: [],
    detached: {
      label: `${d.label}: ${which} ${s.name}`.slice(0, MAX_LABEL),
      submitted: Date.now(),
      resultTtlMs: d.resultTtlMs,
    },
    pipeline: {
      id,
      stage,
      ...(stage > 1
        ? { source: `the output of stage ${stage - 1} (${prev}), as the input of stage ${stage} (${s.name})` }
        : {}),
    },
  };
}

/**
 * Writes pipeline `id`'s status record and index entry: running, at `stage`
 * (`2/3 align`, `on-error report`), started when it was submitted (a delayed
 * pipeline: when it was due).
 */
export async function setPipelineStatus(
  store: PayloadStore,
  id: string,
  manifest: Manifest,
  signer: Signer | undefined,
  stage: string,
): Promise<void> {
  await writeFreshStatus(store, id, manifest, signer, 'running', {
    stage,
    started: manifest.detached!.due ?? manifest.detached!.submitted,
  });
}
