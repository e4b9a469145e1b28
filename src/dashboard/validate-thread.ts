/**
 * Entry of the dashboard's validation thread (see validation.ts): loads a
 * task by its module and class name, once, validates inputs against its
 * schema and posts back the input with its defaults applied, or the problems.
 * A validation that runs too long is stopped by terminating this thread.
 */
import { parentPort } from 'node:worker_threads';
import { FjError, InputError } from '../core/errors.js';
import { loadModule, type TaskInfo } from '../task/registry.js';

/** A request to the thread. */
export interface ValidateRequest {
  id: number;
  moduleUrl: string;
  className: string;
  input: unknown;
  source: string | undefined;
}

/** The thread's answer: the validated input, or the error (InputError's problems kept). */
export type ValidateAnswer =
  | { id: number; ready: true }
  | { id: number; ok: true; input: unknown }
  | { id: number; ok: false; error: { input: boolean; message: string; problems: string[]; code: string } };

const loaded = new Map<string, Promise<TaskInfo>>();

parentPort?.on('message', (req: ValidateRequest) => void answer(req));

async function answer(req: ValidateRequest): Promise<void> {
  const key = `${req.className} ${req.moduleUrl}`;
  let info = loaded.get(key);
  if (!info) {
    // Loading the module and compiling its schema (ajv, the ReDoS check) are not the input's doing: done
    // before the time limit starts. Validating null compiles the validator, and no pattern runs on null.
    info = loadModule(req.moduleUrl, req.className).then(async (i) => {
      await i.validate(null).catch(() => {});
      return i;
    });
    loaded.set(key, info);
    info.catch(() => loaded.delete(key));
  }
  let reply: ValidateAnswer;
  try {
    const ready = await info;
    parentPort?.postMessage({ id: req.id, ready: true } satisfies ValidateAnswer);
    await ready.validate(req.input, req.source);
    reply = { id: req.id, ok: true, input: req.input };
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    const input = err instanceof InputError;
    reply = {
      id: req.id,
      ok: false,
      error: {
        input,
        // InputError's message carries its problems after the first line: the main side adds them again.
        message: input ? e.message.split('\n')[0] : e.message,
        problems: input ? err.problems : [],
        code: err instanceof FjError ? err.code : 'FJ_INTERNAL',
      },
    };
  }
  parentPort?.postMessage(reply);
}
