/**
 * Entry of a worker thread (local executor, and `fj worker`'s pool). Holds
 * one runtime per loaded (task, params) pair, then runs batches: decode the
 * items, `process` each, encode the results, post them back (buffers
 * transferred, not copied). Nothing here knows about the CLI or the broker.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { decode, detach, encodeChecked } from '../codec.js';
import { createLogger, type LogLevel } from '../log.js';
import { loadModule } from '../task/registry.js';
import { loadServices, TaskRuntime, type Services } from './runtime.js';
import { toWire, type WireError } from './wire-error.js';

/** What the pool hands a new thread. */
export interface ThreadData {
  services: string | undefined;
  logLevel: LogLevel;
  workerId: string;
}

/** Messages from the pool to a thread. */
export type ToThread =
  | { type: 'load'; key: string; moduleUrl: string; className: string; paramsBytes: Uint8Array }
  | { type: 'unload'; key: string }
  /**
   * `bytes` is a msgpack array of items; with `perItem`, an array of
   * individually encoded items, and the results come back the same way (so
   * an `fj worker` forwards them to the broker without decoding them).
   */
  | { type: 'batch'; key: string; id: number; first: number; bytes: Uint8Array; perItem: boolean }
  | { type: 'close' }
  | { type: 'abort' };
/** Messages from a thread to the pool. */
export type FromThread =
  | { type: 'ready' }
  | { type: 'fatal'; error: WireError }
  | { type: 'done'; id: number; bytes: Uint8Array; ms: number }
  | { type: 'failed'; id: number; error: WireError };

const port = parentPort!;
const data = workerData as ThreadData;
const abort = new AbortController();
const runtimes = new Map<string, Promise<TaskRuntime>>();
let services: Services;

function post(msg: FromThread, transfer?: ArrayBuffer[]): void {
  port.postMessage(msg, transfer);
}

async function load(moduleUrl: string, className: string, paramsBytes: Uint8Array): Promise<TaskRuntime> {
  const task = await loadModule(moduleUrl, className);
  return new TaskRuntime(task, decode<object>(paramsBytes), services.value, createLogger(`${task.name} ${data.workerId}`, data.logLevel));
}

async function runBatch(key: string, id: number, first: number, bytes: Uint8Array, perItem: boolean): Promise<void> {
  try {
    const runtime = await runtimes.get(key)!;
    const start = performance.now();
    const items = perItem ? decode<Uint8Array[]>(bytes).map((b) => decode(b)) : decode<unknown[]>(bytes);
    const results = new Array<unknown>(items.length);
    for (let i = 0; i < items.length; i++) {
      const r = runtime.processItem(items[i], first + i, abort.signal);
      results[i] = r instanceof Promise ? await r : r;
    }
    const out = detach(encodeChecked(perItem ? results.map((r) => encodeChecked(r)) : results));
    post({ type: 'done', id, bytes: out, ms: performance.now() - start }, [out.buffer as ArrayBuffer]);
  } catch (err) {
    post({ type: 'failed', id, error: toWire(err) });
  }
}

async function main(): Promise<void> {
  try {
    services = await loadServices(data.services, data.workerId);
  } catch (err) {
    post({ type: 'fatal', error: toWire(err) });
    return;
  }
  // Batches run one after another: the pool keeps a second one queued so
  // this thread never waits for the next between batches.
  let chain = Promise.resolve();
  port.on('message', (msg: ToThread) => {
    switch (msg.type) {
      case 'load': {
        const loading = load(msg.moduleUrl, msg.className, msg.paramsBytes);
        loading.catch(() => {}); // reported by the batches that need it
        runtimes.set(msg.key, loading);
        break;
      }
      case 'unload':
        runtimes.delete(msg.key);
        break;
      case 'batch':
        chain = chain.then(() => runBatch(msg.key, msg.id, msg.first, msg.bytes, msg.perItem));
        break;
      case 'abort':
        abort.abort(new Error('job cancelled'));
        break;
      case 'close':
        chain = chain.then(async () => {
          await services.close();
          port.close();
        });
    }
  });
  post({ type: 'ready' });
}

void main();
