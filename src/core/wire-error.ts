/**
 * Errors cross thread and process boundaries as plain data and are rebuilt on
 * the other side with their class, their `where`, and the original stack.
 */
import {
  CodecError,
  errorClasses,
  FailuresError,
  FjError,
  InputError,
  isInstance,
  PipelineError,
  TaskError,
  thrownParts,
  TransportError,
  type ItemFailure,
  type Where,
} from './errors.js';

/** An error as plain data. */
export interface WireError {
  code: string;
  message: string;
  where?: Where;
  path?: string;
  what?: string;
  cause?: { name: string; message: string; stack?: string };
  /** InputError's problems. */
  problems?: string[];
  /** FailuresError's failed items. */
  failures?: ItemFailure[];
  /** TransportError only: see TransportErrorOptions.resumable. */
  resumable?: boolean;
  /** PipelineError only: the pipeline's name, the stage, the exit code, the stage's own error and the on-error stage's. */
  pipeline?: string;
  stage?: { number: number; name: string; task: string };
  exitCode?: number;
  stageError?: WireError;
  onErrorFailure?: WireError;
}

/**
 * Flattens an error for postMessage or a broker message. Never throws,
 * whatever was thrown (getters and Proxy traps that throw included: see
 * thrownParts), so a hook's odd error stays an item failure.
 */
export function toWire(err: unknown): WireError {
  if (isInstance(err, CodecError))
    return { code: err.code, message: err.message, where: err.where, path: err.path, what: err.what };
  if (isInstance(err, TaskError))
    return {
      code: err.code,
      message: err.message,
      where: { task: err.task, hook: err.hook, index: err.index },
      cause: thrownParts(err.cause),
    };
  if (isInstance(err, InputError))
    return { code: err.code, message: err.message.split('\n')[0], problems: [...err.problems] };
  if (isInstance(err, FailuresError)) return { code: err.code, message: err.message, failures: [...err.failures] };
  if (isInstance(err, TransportError)) return { code: err.code, message: err.message, resumable: err.resumable };
  if (isInstance(err, PipelineError))
    return {
      code: err.code,
      message: err.message,
      pipeline: err.pipeline,
      stage: { ...err.stage },
      exitCode: err.exitCode,
      ...(err.cause === undefined ? {} : { stageError: toWire(err.cause) }),
      ...(err.onErrorFailure === undefined ? {} : { onErrorFailure: toWire(err.onErrorFailure) }),
    };
  if (isInstance(err, FjError)) return { code: err.code, message: err.message };
  const parts = thrownParts(err);
  return { code: 'FJ_INTERNAL', message: parts.message, cause: parts };
}

/** Rebuilds an error flattened by {@link toWire}: every documented code comes back as its class. */
export function fromWire(w: WireError, depth = 0): Error {
  if (w.code === 'FJ_CODEC' && w.where) return new CodecError(w.where, w.path ?? '', w.what ?? 'unserializable value');
  if (w.code === 'FJ_PIPELINE' && typeof w.pipeline === 'string' && isStage(w.stage)) {
    // A stage's error is never a pipeline's: nesting stops after one level whatever the data says.
    const inner = (x: WireError | undefined) => (x && depth < 1 ? fromWire(x, depth + 1) : undefined);
    const cause = inner(w.stageError);
    return new PipelineError(
      w.message,
      Number.isInteger(w.exitCode) ? w.exitCode! : 1,
      { pipeline: w.pipeline, stage: w.stage, onErrorFailure: inner(w.onErrorFailure) },
      cause ? { cause } : undefined,
    );
  }
  if (w.code === 'FJ_TASK' && w.where) return new TaskError(w.where, rebuildCause(w));
  if (w.code === 'FJ_INPUT') return new InputError(w.message, Array.isArray(w.problems) ? w.problems : []);
  if (w.code === 'FJ_FAILURES') return new FailuresError(w.message, Array.isArray(w.failures) ? w.failures : []);
  const options = {
    ...(w.cause ? { cause: rebuildCause(w) } : {}),
    ...(w.resumable === false ? { resumable: false } : {}),
  };
  const cls = Object.hasOwn(errorClasses, w.code) ? errorClasses[w.code as keyof typeof errorClasses] : undefined;
  if (cls) return new cls(w.message, options);
  return rebuildCause(w);
}

function isStage(s: unknown): s is NonNullable<WireError['stage']> {
  const o = s as Record<string, unknown> | null;
  return (
    typeof o === 'object' &&
    o !== null &&
    Number.isInteger(o.number) &&
    typeof o.name === 'string' &&
    typeof o.task === 'string'
  );
}

function rebuildCause(w: WireError): Error {
  const c = w.cause ?? { name: 'Error', message: w.message };
  const e = new Error(c.message);
  e.name = c.name;
  if (c.stack) e.stack = c.stack;
  return e;
}
