/**
 * Validation of submitted input off the dashboard's event loop. ajv tests a
 * schema's `pattern`s with JavaScript's backtracking engine: a pattern the
 * ReDoS check passes can still take seconds on a hostile string, and in the
 * dashboard's own thread one such POST would stall every page and stream. So
 * inputs are validated on one thread of their own (validate-thread.ts), one
 * at a time, each within `validateTimeoutMs`: past it the thread is
 * terminated (a new one starts for the next) and the input refused (400).
 * At most {@link MAX_WAITING} inputs wait their turn; more are 503.
 */
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FjError, InputError, InternalError, UsageError } from '../core/errors.js';
import { packageRoot } from '../core/paths.js';
import type { TaskInfo } from '../task/registry.js';
import type { ValidateAnswer, ValidateRequest } from './validate-thread.js';

/** The thread's entry, compiled. */
const ENTRY = join(packageRoot, 'dist', 'src', 'dashboard', 'validate-thread.js');
/** How long loading a task's module and compiling its schema on the thread may take, before the input's own time limit starts. */
const LOAD_TIMEOUT_MS = 60_000;
/** Inputs waiting for the thread beyond the one it validates; one more is refused (503). */
export const MAX_WAITING = 16;

/** Too many inputs wait to be validated: HTTP 503. */
export class ValidationBusyError extends FjError {
  constructor(message: string) {
    super(message, 'FJ_BUSY', 1);
  }
}

interface Pending {
  req: ValidateRequest;
  task: string;
  resolve: (input: unknown) => void;
  reject: (err: Error) => void;
}

/** Validates inputs on a thread of their own, each within a time limit (see the module's comment). */
export class ThreadValidator {
  private worker: Worker | undefined;
  private readonly queue: Pending[] = [];
  private current: { p: Pending; timer: NodeJS.Timeout } | undefined;
  private nextId = 1;

  constructor(private readonly timeoutMs: number) {}

  /** The input validated against `info`'s schema, its defaults applied (a copy); rejects with InputError as `info.validate` does. */
  validate(info: TaskInfo, input: unknown, source?: string): Promise<unknown> {
    if (!info.moduleUrl) throw new InternalError(`task ${info.name} has no module to validate its input on a thread`);
    if (this.queue.length >= MAX_WAITING)
      throw new ValidationBusyError(`${MAX_WAITING} inputs are waiting to be validated: submit again in a moment`);
    const req: ValidateRequest = {
      id: this.nextId++,
      moduleUrl: info.moduleUrl,
      className: info.cls.name,
      input,
      source,
    };
    return new Promise((resolve, reject) => {
      this.queue.push({ req, task: info.name, resolve, reject });
      this.next();
    });
  }

  /** Stops the thread; inputs waiting are refused. */
  async close(): Promise<void> {
    for (const p of this.queue.splice(0)) p.reject(new ValidationBusyError('the dashboard is stopping'));
    if (this.current) {
      clearTimeout(this.current.timer);
      this.current.p.reject(new ValidationBusyError('the dashboard is stopping'));
      this.current = undefined;
    }
    await this.worker?.terminate();
    this.worker = undefined;
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    if (!existsSync(ENTRY)) throw new InternalError(`fj is not built: ${ENTRY} is missing (run npm run build)`);
    const w = new Worker(ENTRY);
    w.unref();
    w.on('message', (a: ValidateAnswer) => this.answered(a));
    w.on('error', (err) => this.lost(w, err));
    w.on('exit', () => this.lost(w, new InternalError('the validation thread exited')));
    this.worker = w;
    return w;
  }

  private next(): void {
    if (this.current) return;
    const p = this.queue.shift();
    if (!p) return;
    let w: Worker;
    try {
      w = this.thread();
    } catch (err) {
      p.reject(err as Error);
      return this.next();
    }
    this.current = { p, timer: this.limit(w, p, LOAD_TIMEOUT_MS, 'to load its task and compile the schema') };
    w.postMessage(p.req);
  }

  /** Gives up on `p` after `ms`: the thread is terminated, the input refused, the next one goes on. */
  private limit(w: Worker, p: Pending, ms: number, what: string): NodeJS.Timeout {
    return setTimeout(() => {
      this.current = undefined;
      this.worker = undefined;
      void w.terminate();
      p.reject(
        what === 'to validate'
          ? new InputError(
              `input took longer than ${ms} ms to validate against the schema of task ${p.task}, and was refused: ` +
                "a `pattern` of the schema backtracks on it (bound the task's strings with maxLength, or simplify the pattern)",
            )
          : new UsageError(`task ${p.task} took longer than ${ms} ms ${what}`),
      );
      this.next();
    }, ms);
  }

  private answered(a: ValidateAnswer): void {
    const cur = this.current;
    if (!cur || cur.p.req.id !== a.id) return; // the answer of a request given up on
    clearTimeout(cur.timer);
    if ('ready' in a) {
      // The task is loaded and its schema compiled: the input's own time limit starts now.
      if (this.worker) cur.timer = this.limit(this.worker, cur.p, this.timeoutMs, 'to validate');
      return;
    }
    this.current = undefined;
    if (a.ok) cur.p.resolve(a.input);
    else if (a.error.input) cur.p.reject(new InputError(a.error.message, a.error.problems));
    else if (a.error.code === 'FJ_INTERNAL') cur.p.reject(new InternalError(a.error.message));
    else cur.p.reject(new UsageError(a.error.message));
    this.next();
  }

  private lost(w: Worker, err: Error): void {
    if (this.worker !== w) return; // terminated on purpose
    this.worker = undefined;
    const cur = this.current;
    if (cur) {
      clearTimeout(cur.timer);
      this.current = undefined;
      cur.p.reject(err);
    }
    this.next();
  }
}
