/** `fj tasks` and `fj validate`. */
import { resolve } from 'node:path';
import { UsageError } from '../core/errors.js';
import { builtinTaskNames, loadAllTasks, loadTask, type TaskInfo } from '../task/registry.js';
import { builtinPipelineNames, TASKS_DIR, taskModulesIn } from '../task/task-lookup.js';
import { loadPipeline, resolvePipeline } from '../pipeline/run-pipeline.js';
import { readJsonInput } from './input.js';
import type { Streams } from './streams.js';

/** Options of `fj tasks`. */
export interface TasksFlags {
  /** List the task modules of this folder instead of the built-in tasks. */
  dir?: string;
}

/**
 * Lists tasks and their descriptions on `io.stdout`: those of the modules
 * named (every task class each exports), of the modules in `--dir`, or, with
 * neither, the built-in tasks and pipelines.
 */
export async function tasksCommand(modules: string[], flags: TasksFlags, io: Streams): Promise<void> {
  let infos: TaskInfo[];
  if (modules.length || flags.dir !== undefined) {
    const inDir = flags.dir === undefined ? [] : taskModulesIn(resolve(flags.dir));
    if (flags.dir !== undefined && !inDir.length)
      throw new UsageError(`--dir ${flags.dir}: no task modules (.ts, .mts, .js, .mjs, .cjs) there`);
    infos = [];
    for (const spec of [...modules, ...inDir]) infos.push(...(await loadAllTasks(spec)));
  } else infos = await Promise.all(builtinTaskNames().map((n) => loadTask(n)));
  // With the built-in tasks, the built-in pipelines and their stages (`fj run NAME` runs one).
  const pipelines = modules.length || flags.dir !== undefined ? [] : await builtinPipelines();
  const width = Math.max(0, ...infos.map((i) => i.name.length), ...pipelines.map(([name]) => name.length));
  for (const info of infos) io.stdout.write(`${info.name.padEnd(width)}  ${info.description}\n`.replace(/ +\n$/, '\n'));
  for (const [name, line] of pipelines) io.stdout.write(`${name.padEnd(width)}  ${line}\n`);
  // The project's own tasks are listed only when asked for (listing loads them); a hint says how.
  const own = modules.length || flags.dir !== undefined ? [] : taskModulesIn(resolve(TASKS_DIR));
  if (own.length)
    io.stderr.write(
      `fj: ./${TASKS_DIR} holds ${own.length} task module(s) too: 'fj tasks --dir ${TASKS_DIR}' lists them\n`,
    );
}

/** fj's built-in pipelines, each with a line naming its stages: `pipeline: prepare | align | summary; on error: failure-record`. */
async function builtinPipelines(): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for (const name of builtinPipelineNames()) {
    const p = await loadPipeline(name);
    if (!p) continue;
    const { stages, errorStage } = await resolvePipeline(p);
    out.push([
      name,
      `pipeline: ${stages.map((s) => s.name).join(' | ')}${errorStage ? `; on error: ${errorStage.name}` : ''}`,
    ]);
  }
  return out;
}

/** Validates the input at `inputPath` against `task`'s schema; says so on `io.stdout`. */
export async function validateCommand(task: string, inputPath: string, io: Streams): Promise<void> {
  const info = await loadTask(task);
  const { value, source } = await readJsonInput(inputPath);
  await info.validate(value, source);
  io.stdout.write(`${source}: valid input for ${info.name}\n`);
}
