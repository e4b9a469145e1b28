/**
 * Entry of a local-executor worker thread. Loads the task once, then runs
 * batches: decode items, `process` each, encode the results, post them back
 * (buffers transferred, not copied). Nothing here knows about the CLI.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { decode, detach, encodeChecked } from '../codec.js';
import { createLogger, type LogLevel } from '../log.js';
import { loadModule } from '../task/registry.js';
import { loadServices, TaskRuntime, type Services } from './runtime.js';
import { toWire } from './wire-error.js';

/** What the local executor hands a new thread. */
export interface ThreadData {
  moduleUrl: string;
  paramsBytes: Uint8Array;
  services: string | undefined;
  logLevel: LogLevel;
  workerId: string;
}

/** Messages from the executor to a thread. */
export type ToThread = { type: 'batch'; id: number; first: number; bytes: Uint8Array } | { type: 'close' } | { type: 'abort' };
/** Messages from a thread to the executor. */
export type FromThread =
  | { type: 'ready' }
  | { type: 'fatal'; error: ReturnType<typeof toWire> }
  | { type: 'done'; id: number; bytes: Uint8Array; ms: number }
  | { type: 'failed'; id: number; error: ReturnType<typeof toWire> }
  | { type: 'closed' };

const port = parentPort!;
const data = workerData as ThreadData;
const abort = new AbortController();
let runtime: TaskRuntime;
let services: Services;

function post(msg: FromThread, transfer?: ArrayBuffer[]): void {
  port.postMessage(msg, transfer);
}

async function runBatch(id: number, first: number, bytes: Uint8Array): Promise<void> {
  const start = performance.now();
  const items = decode<unknown[]>(bytes);
  const results = new Array<unknown>(items.length);
  try {
    for (let i = 0; i < items.length; i++) {
      const r = runtime.processItem(items[i], first + i, abort.signal);
      results[i] = r instanceof Promise ? await r : r;
    }
  } catch (err) {
    post({ type: 'failed', id, error: toWire(err) });
    return;
  }
  const out = detach(encodeChecked(results));
  post({ type: 'done', id, bytes: out, ms: performance.now() - start }, [out.buffer as ArrayBuffer]);
}

async function main(): Promise<void> {
  try {
    const task = await loadModule(data.moduleUrl);
    services = await loadServices(data.services, data.workerId);
    runtime = new TaskRuntime(task, decode<object>(data.paramsBytes), services.value, createLogger(`${task.name} ${data.workerId}`, data.logLevel));
  } catch (err) {
    post({ type: 'fatal', error: toWire(err) });
    return;
  }
  // Batches run one after another: the executor keeps a second one queued so
  // this thread never waits on the main thread between batches.
  let chain = Promise.resolve();
  port.on('message', (msg: ToThread) => {
    if (msg.type === 'batch') chain = chain.then(() => runBatch(msg.id, msg.first, msg.bytes));
    else if (msg.type === 'abort') abort.abort(new Error('job cancelled'));
    else if (msg.type === 'close') {
      chain = chain.then(async () => {
        await services.close();
        post({ type: 'closed' });
        port.close();
      });
    }
  });
  post({ type: 'ready' });
}

void main();
