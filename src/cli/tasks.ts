/** `fj tasks` and `fj validate`. */
import { builtinTaskNames, loadTask } from '../task/registry.js';
import { readJsonInput } from './input.js';
import type { Streams } from './streams.js';

/** Lists the built-in tasks and their descriptions on `io.stdout`. */
export async function tasksCommand(io: Streams): Promise<void> {
  const names = builtinTaskNames();
  const infos = await Promise.all(names.map((n) => loadTask(n)));
  const width = Math.max(0, ...infos.map((i) => i.name.length));
  for (const info of infos) io.stdout.write(`${info.name.padEnd(width)}  ${info.description}\n`);
}

/** Validates the input at `inputPath` against `task`'s schema; says so on `io.stdout`. */
export async function validateCommand(task: string, inputPath: string, io: Streams): Promise<void> {
  const info = await loadTask(task);
  const { value, source } = await readJsonInput(inputPath);
  await info.validate(value, source);
  io.stdout.write(`${source}: valid input for ${info.name}\n`);
}
