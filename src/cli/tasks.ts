/** `fj tasks` and `fj validate`. */
import { builtinTaskNames, loadTask } from '../task/registry.js';
import { readJsonInput } from './input.js';

export async function tasksCommand(): Promise<void> {
  const names = builtinTaskNames();
  const infos = await Promise.all(names.map((n) => loadTask(n)));
  const width = Math.max(0, ...infos.map((i) => i.name.length));
  for (const info of infos) process.stdout.write(`${info.name.padEnd(width)}  ${info.description}\n`);
}

export async function validateCommand(task: string, inputPath: string): Promise<void> {
  const info = await loadTask(task);
  const { value, source } = await readJsonInput(inputPath);
  await info.validate(value, source);
  process.stdout.write(`${source}: valid input for ${info.name}\n`);
}
