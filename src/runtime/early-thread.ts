/**
 * A worker thread started before the CLI has loaded (`fj run` on the local
 * executor), for the thread pool to adopt as its first thread. A thread's
 * own start-up (its isolate, Node's bootstrap, fj's thread runtime: ~150 ms
 * here) is CPU work on a core of its own; started first, it overlaps the
 * main thread's loading of the CLI instead of following it.
 *
 * The thread waits for its {@link ThreadData} (an `init` message) before it
 * does anything a job's settings decide; meanwhile it imports fj's public
 * entry, which the task it will run imports. Never adopted (an eager run, a
 * usage error), it is unreferenced and ends with the process.
 */
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { publicEntry, threadEntry } from '../core/paths.js';

/**
 * What an early thread is given as its `workerData`: it imports `warm`
 * (fj's public entry, which every task module imports) while it waits for
 * an `init` message with its real data.
 */
export interface EarlyData {
  early: true;
  warm: string[];
}

let early: { worker: Worker; broken: boolean } | undefined;

/** Starts the early thread (once); the pool's first thread adopts it ({@link takeEarlyThread}). */
export function startEarlyThread(): void {
  if (early) return;
  const data: EarlyData = { early: true, warm: [pathToFileURL(publicEntry).href] };
  const worker = new Worker(threadEntry, { workerData: data });
  const e = { worker, broken: false };
  const broken = () => void (e.broken = true);
  worker.once('error', broken);
  worker.once('exit', broken);
  worker.unref();
  early = e;
}

/** The early thread, once (undefined when none was started, or it failed before it was adopted). */
export function takeEarlyThread(): Worker | undefined {
  const e = early;
  early = undefined;
  if (!e) return undefined;
  if (e.broken) {
    void e.worker.terminate();
    return undefined;
  }
  e.worker.removeAllListeners('error');
  e.worker.removeAllListeners('exit');
  e.worker.ref();
  return e.worker;
}
