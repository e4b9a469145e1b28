/**
 * `fj resume`: a coordinator built from a job's records. Reads the job's
 * manifest from the store, checks that the task's code and the input file
 * are unchanged, and returns what `run()` needs to re-attach.
 *
 * Records are data, never a pointer to code: whoever can write to the store
 * must not choose what runs. The task is the one the resuming user names
 * (`--task`), or a built-in task by name; its code fingerprint is compared
 * with the manifest's before the module is imported.
 */
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { decode } from '../core/codec.js';
import { UsageError } from '../core/errors.js';
import { checkJobId } from '../core/job-id.js';
import { readManifest, sha256, type Manifest } from '../store/job-records.js';
import { normalizeOptions, type RunOptions } from '../core/job-options.js';
import { builtinTasksDir } from '../core/paths.js';
import { signerFrom } from '../core/signing.js';
import { openStore } from '../store/open.js';
import { codeHashOf } from '../task/code-hash.js';
import { builtinTaskNames, loadTask, taskFile, type TaskInfo } from '../task/registry.js';

/** A job to resume: its task, input and settings, from its records. */
export interface ResumableJob {
  task: TaskInfo;
  input: unknown;
  inputFile: { file: string; sha256: string } | undefined;
  queue: string;
  /** The job's own settings (retries, policy, limits), as it started with them. */
  options: RunOptions;
  /** Whether it is a detached job (`submit()`): resumed as its cluster coordinator would, its end kept for `fj result`. */
  detached: boolean;
}

/**
 * Reads job `jobId`'s records. Rejects with UsageError when the job is
 * unknown, or its task or input file changed. Touches nothing.
 */
export async function jobForResume(jobId: string, options: RunOptions, taskSpec?: string): Promise<ResumableJob> {
  checkJobId(jobId);
  const opts = normalizeOptions({ ...options, executor: 'amqp' });
  const store = await openStore(opts.store || undefined);
  let manifest;
  let input: unknown;
  try {
    manifest = await readManifest(store, jobId, signerFrom(opts.signingKey));
    if (manifest.plan)
      throw new UsageError(
        `${jobId} is a pipeline: it runs no items of its own, its stages' jobs do; 'fj status ${jobId}' names the stage it is at: resume that job ('fj resume ${jobId}.N')`,
      );
    if ('ref' in manifest.input) input = decode(await store.get(manifest.input.ref));
    else {
      const file = manifest.input.file;
      const text = await readFile(file).catch(() => {
        throw new UsageError(`job ${jobId}: its input file ${file} cannot be read any more`);
      });
      if (sha256(text) !== manifest.input.sha256)
        throw new UsageError(
          `job ${jobId}: its input file ${file} changed since the job started; resume needs the same input`,
        );
      input = JSON.parse(text.toString('utf8'));
    }
  } finally {
    await store.close();
  }
  const t = manifest.task;
  const spec = taskSpec ?? taskToLoad(jobId, manifest, 'resume', 'resume it');
  const file = taskFile(spec);
  if (!file) throw new UsageError(`--task ${spec}: not a built-in task and no such file`);
  const changed = (now: string) =>
    new UsageError(
      `job ${jobId}: the code of task ${t.name} changed since the job started (${t.codeHash} then, ${now} now); resume needs the same code`,
    );
  const before = codeHashOf(file); // checked before the module is imported
  if (before !== t.codeHash) throw changed(before);
  const task = await loadTask(spec);
  if (task.name !== t.name)
    throw new UsageError(
      `job ${jobId} runs task ${JSON.stringify(t.name)}, not ${JSON.stringify(task.name)} (--task ${spec})`,
    );
  if (task.codeHash !== t.codeHash) throw changed(task.codeHash);
  const m = manifest.options;
  return {
    detached: manifest.detached !== undefined,
    task,
    input,
    inputFile: 'file' in manifest.input ? manifest.input : undefined,
    queue: manifest.queue,
    options: jobSettings(m),
  };
}

/** A job's own settings (retries, policy, limits) from its manifest, as run options. */
export function jobSettings(m: Manifest['options']): RunOptions {
  return {
    retries: m.retries,
    retryDelayMs: m.retryDelayMs,
    onFailure: m.onFailure as RunOptions['onFailure'],
    maxFailures: m.maxFailures as RunOptions['maxFailures'],
    maxResults: m.maxResults,
    itemTimeoutMs: m.itemTimeoutMs,
    rateLimit: m.rateLimit,
    inlineLimit: m.inlineLimit,
    onCodeChange: m.onCodeChange as RunOptions['onCodeChange'],
    weight: m.weight,
    priority: m.priority,
    tenant: m.tenant,
    queueType: m.queueType as RunOptions['queueType'],
  };
}

/**
 * The task to load for job `jobId` when the user named none: its task's
 * name when that is a built-in task; else UsageError asking for `--task`
 * (`command` is the fj command that needs it, `purpose` what it does), since
 * fj never loads code that a store record names.
 */
export function taskToLoad(jobId: string, manifest: Manifest, command: string, purpose: string): string {
  const t = manifest.task;
  if ((!t.module || isBuiltin(t.module)) && builtinTaskNames().includes(t.name)) return t.name;
  throw new UsageError(
    `job ${jobId} runs task ${JSON.stringify(t.name)} from a module of its own; name that module to ${purpose}: fj ${command} ${jobId} --task MODULE (fj never loads code that a store record names)`,
  );
}

function isBuiltin(moduleUrl: string): boolean {
  return moduleUrl.startsWith(pathToFileURL(builtinTasksDir).href);
}
