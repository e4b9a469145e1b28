/** `fj run`: argv options -> RunOptions -> runOwnedInput() (runJob without the input copy); output JSON on stdout or --out. */
import { writeFile } from 'node:fs/promises';
import { runOwnedInput } from '../run.js';
import { loadTask } from '../task/registry.js';
import type { ExecutorName, RunOptions } from '../options.js';
import { readJsonInput } from './input.js';
import { progressBar } from './progress.js';

/** Options of `fj run`, as commander parses them. */
export interface RunFlags {
  executor: ExecutorName;
  concurrency?: number;
  out?: string;
  stats?: string;
  services?: string;
  progress: boolean;
  verbose?: boolean;
  broker?: string;
  store?: string;
  queue?: string;
  jobId?: string;
  keep?: boolean;
  inlineLimit?: number;
}

export async function runCommand(task: string, inputPath: string, flags: RunFlags): Promise<void> {
  const info = await loadTask(task); // an unknown task is reported before the input is read
  const { value, source } = await readJsonInput(inputPath);
  const bar = flags.progress && process.stderr.isTTY ? progressBar(task) : undefined;
  const options: RunOptions = {
    executor: flags.executor,
    concurrency: flags.concurrency,
    services: flags.services,
    logLevel: flags.verbose ? 'debug' : 'warn',
    broker: flags.broker,
    store: flags.store,
    queue: flags.queue,
    jobId: flags.jobId,
    keep: flags.keep,
    inlineLimit: flags.inlineLimit,
    onProgress: bar?.onProgress,
  };
  const controller = new AbortController();
  const onSignal = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  let result;
  try {
    result = await runOwnedInput(info.cls, value, { ...options, signal: controller.signal }, source);
  } finally {
    bar?.stop();
    process.off('SIGINT', onSignal);
  }
  const json = `${JSON.stringify(result.output, null, 2)}\n`;
  if (flags.out) await writeFile(flags.out, json);
  else process.stdout.write(json);
  if (flags.stats) await writeFile(flags.stats, `${JSON.stringify(result.stats, null, 2)}\n`);
}
